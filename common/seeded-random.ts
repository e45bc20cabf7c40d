/**
 * mulberry32: a tiny seeded PRNG with uniform output in [0, 1). Workflow code needs its own seed
 * (not the workflow's) so that the same spec plans the same trials in every run; training needs one
 * so that row order depends only on (seed, epoch).
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

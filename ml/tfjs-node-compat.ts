import util from 'node:util';

/**
 * The `node:util` helpers that @tensorflow/tfjs-node 4.22 (and tfjs-node-gpu, the same code) calls
 * and Node 23 removed: `isNullOrUndefined` in nodejs_kernel_backend.js and kernels/TopK.js, `isArray`
 * in nodejs_kernel_backend.js (still in Node 24, deprecated). Fixed upstream (tensorflow/tfjs#8609),
 * never released: without them Node 24 fails on the first op, `util.isNullOrUndefined is not a function`.
 */
const REMOVED_HELPERS: Record<string, (value: unknown) => boolean> = {
  isNullOrUndefined: (value) => value === null || value === undefined,
  isArray: (value) => Array.isArray(value),
};

/**
 * Puts back, on this process's `node:util`, the helpers tfjs-node 4.22 calls that this Node no
 * longer has; where Node still has one (Node 20 and 22) it is left as it is. Call it before
 * requiring tfjs-node: its modules keep a reference to `util` and look the helpers up on each call.
 * Returns the names it restored.
 */
export function restoreUtilForTfjsNode(): string[] {
  const target = util as unknown as Record<string, unknown>;
  const restored: string[] = [];
  for (const [name, helper] of Object.entries(REMOVED_HELPERS)) {
    if (typeof target[name] === 'function') continue;
    target[name] = helper;
    restored.push(name);
  }
  return restored;
}

import os from 'node:os';

/** The machine a figure was measured on: CPU model, cores, memory and load, printed with every bench. */
export function machine(): string {
  const cpus = os.cpus();
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join('/');
  return `${cpus[0]?.model.trim() ?? 'cpu'} x${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${load}`;
}

/** Median of repeated measurements: on a shared machine the mean says more about the neighbours. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}

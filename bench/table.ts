import os from 'node:os';

/** One figure of one bench: what `npm run bench` prints a line of. */
export interface BenchRow {
  bench: string;
  /** The TensorFlow.js backend the figure was measured on, or `-` where none is involved. */
  backend: string;
  figure: string;
  value: string;
}

/** Where and with what the figures were measured: printed above the table. */
export function environmentLine(): string {
  const cpus = os.cpus();
  return (
    `${new Date().toISOString()}, node ${process.version}, ${cpus.length} cores ` +
    `(${cpus[0]?.model.trim() ?? 'cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.arch()}`
  );
}

/** A GitHub-flavoured markdown table of `rows`, columns padded so it also reads as plain text. */
export function markdownTable(rows: BenchRow[]): string {
  const header = ['bench', 'backend', 'figure', 'value'];
  const cells = rows.map((r) => [r.bench, r.backend, r.figure, r.value].map((c) => c.replaceAll('|', '\\|')));
  const widths = header.map((h, col) => Math.max(h.length, ...cells.map((row) => row[col]!.length)));
  const line = (row: string[]) => `| ${row.map((c, col) => c.padEnd(widths[col]!)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

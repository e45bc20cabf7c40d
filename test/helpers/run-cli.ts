import { vi } from 'vitest';
import { main } from '../../clients/cli';
import type { CommandOutput } from '../../clients/output';

/** Runs the `retrain` command line in-process: exit code, what went to stdout, and stderr. */
export async function runCli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  const stderr: string[] = [];
  const out: CommandOutput = {
    log: (line) => stderr.push(`${line}\n`),
    progress: () => {},
    endProgress: () => {},
    result: (json, value, text) => (stdout += json ? JSON.stringify(value) : text),
  };
  // main() prints its one-line errors straight to process.stderr.
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr.push(String(chunk));
    return true;
  });
  try {
    return { code: await main(argv, out), stdout, stderr: stderr.join('') };
  } finally {
    write.mockRestore();
  }
}

import { describe, expect, it } from 'vitest';
import { terminalOutput, type OutputStream } from '../../clients/output';

/** A stream that keeps what was written, a terminal of `columns` columns or a pipe. */
function fakeStream(tty: { columns: number } | false): OutputStream & { chunks: string[] } {
  const chunks: string[] = [];
  return {
    chunks,
    write: (text: string) => chunks.push(text),
    isTTY: tty !== false,
    columns: tty === false ? undefined : tty.columns,
  };
}

describe('terminalOutput progress', () => {
  it('on a terminal redraws one line in place, cut to the terminal width, and ends it with a newline', () => {
    const stdout = fakeStream(false);
    const stderr = fakeStream({ columns: 20 });
    const out = terminalOutput(stdout, stderr);
    out.progress('short');
    out.progress('a line longer than twenty columns');
    out.progress('a line longer than twenty columns');
    out.endProgress();
    expect(stderr.chunks).toEqual([
      '\r\x1b[2Kshort',
      '\r\x1b[2Ka line longer than ',
      '\r\x1b[2Ka line longer than ',
      '\n',
    ]);
    expect(stdout.chunks).toEqual([]);
  });

  it('piped prints a line only when it differs from the last one printed', () => {
    const stderr = fakeStream(false);
    const out = terminalOutput(fakeStream(false), stderr);
    for (const line of ['export 10%', 'export 10%', 'train 40%', 'train 40%', 'export 10%'])
      out.progress(line);
    out.endProgress();
    out.progress('export 10%');
    expect(stderr.chunks).toEqual(['export 10%\n', 'train 40%\n', 'export 10%\n', 'export 10%\n']);
  });

  it('puts results on stdout (one JSON document with --json) and logs on stderr', () => {
    const stdout = fakeStream(false);
    const stderr = fakeStream(false);
    const out = terminalOutput(stdout, stderr);
    out.log('started');
    out.result(true, { ok: true }, 'ok');
    out.result(false, null, 'done');
    expect(stderr.chunks).toEqual(['started\n']);
    expect(stdout.chunks).toEqual(['{\n  "ok": true\n}\n', 'done\n']);
  });
});

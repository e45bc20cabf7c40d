import { stripVTControlCharacters } from 'node:util';
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
    const stderr = fakeStream({ columns: 80 });
    const out = terminalOutput(stdout, stderr);
    out.log('started', { workflowId: 'retrain-x-20260101T000000Z' });
    out.result(true, { ok: true }, 'ok');
    out.result(false, null, 'done');
    expect(stderr.chunks).toEqual(['started\n']);
    expect(stdout.chunks).toEqual(['{\n  "ok": true\n}\n', 'done\n']);
  });
});

describe('terminalOutput log format', () => {
  const logLines = (stream: { chunks: string[] }) =>
    stream.chunks.map((line) => JSON.parse(line) as Record<string, unknown>);

  it('writes JSON log lines, ids as fields, when stderr is not a terminal', () => {
    const stderr = fakeStream(false);
    const out = terminalOutput(fakeStream(false), stderr);
    out.log('started', { workflowId: 'retrain-x-20260101T000000Z', apiKey: 'never-in-a-log-0123' });
    expect(logLines(stderr)).toEqual([
      expect.objectContaining({
        level: 'info',
        name: 'retrain',
        msg: 'started',
        workflowId: 'retrain-x-20260101T000000Z',
        apiKey: '[redacted]',
        time: expect.any(String),
      }),
    ]);
  });

  it('writes JSON on a terminal too when --log-format json is given, and pino-pretty lines for pretty', () => {
    const stderr = fakeStream({ columns: 80 });
    const out = terminalOutput(fakeStream(false), stderr);
    out.useLogFormat?.('json');
    out.log('started', { workflowId: 'w-1' });
    expect(logLines(stderr)).toEqual([expect.objectContaining({ msg: 'started', workflowId: 'w-1' })]);
    stderr.chunks.length = 0;
    out.useLogFormat?.('pretty');
    out.log('started', { workflowId: 'w-1' });
    // Coloured: the stream is a terminal.
    const text = stripVTControlCharacters(stderr.chunks.join(''));
    expect(text).toMatch(/INFO \(retrain\): started/);
    expect(text).toContain('workflowId: "w-1"');
    expect(() => JSON.parse(text)).toThrow();
  });
});

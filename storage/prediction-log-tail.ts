import fs from 'node:fs/promises';

const NEWLINE = 0x0a;
const CHUNK = 64 * 1024;

/**
 * Cuts a journal's torn last line (a write the disk filled up in, or a process killed mid-write) so
 * the whole lines before it can be read; returns the bytes cut. A last line without its newline that
 * is still a whole JSON record is kept.
 */
export async function trimTornTail(file: string): Promise<number> {
  const handle = await fs.open(file, 'r+');
  try {
    const { size } = await handle.stat();
    let cut = 0;
    const chunk = Buffer.alloc(CHUNK);
    for (let pos = size; pos > 0;) {
      const start = Math.max(0, pos - CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, pos - start, start);
      const i = chunk.subarray(0, bytesRead).lastIndexOf(NEWLINE);
      if (i >= 0) {
        cut = start + i + 1;
        break;
      }
      pos = start;
    }
    if (cut === size) return 0;
    const tail = Buffer.alloc(size - cut);
    await handle.read(tail, 0, tail.length, cut);
    if (isWholeRecord(tail.toString('utf8'))) return 0;
    await handle.truncate(cut);
    return size - cut;
  } finally {
    await handle.close();
  }
}

function isWholeRecord(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null;
  } catch {
    return false;
  }
}

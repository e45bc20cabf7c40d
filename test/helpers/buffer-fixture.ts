import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import { DataBuffer } from '../../storage/buffer';
import { BufferWriter, type BufferWriterOptions } from '../../storage/buffer-writer';
import { withDuckDb } from '../../storage/duckdb';
import { FileBlobStore } from '../../storage/file-store';
import { Ingestor } from '../../storage/ingest';
import { ModelRegistry } from '../../storage/registry';

/** A temp dir with a file store holding one model's spec, its buffer, a writer and an ingestor. */
export interface BufferFixture {
  dir: string;
  storeDir: string;
  bufferDir: string;
  registry: ModelRegistry;
  buffer: DataBuffer;
  spec: ModelSpec;
  writer: BufferWriter;
  ingestor: Ingestor;
  /** Writes a file into the fixture's temp dir and returns its path. */
  file(name: string, content: string): Promise<string>;
  cleanup(): Promise<void>;
}

/** A buffer row as read back: time as ISO text. */
export interface Row {
  ts: string;
  host: string;
  cpu: number;
  mem: number;
}

export async function createBufferFixture(
  writerOptions: Partial<BufferWriterOptions> = {},
): Promise<BufferFixture> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-buffer-'));
  const storeDir = path.join(dir, 'store');
  const bufferDir = path.join(dir, 'buffer');
  const registry = new ModelRegistry(new FileBlobStore(storeDir));
  const spec = ModelSpecSchema.parse({
    name: `m-${randomUUID().slice(0, 8)}`,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['cpu', 'mem'],
    target: 'cpu',
    windowDays: 2,
    minRecords: 3,
  });
  await registry.saveSpec(spec);
  const buffer = new DataBuffer(bufferDir);
  const writer = await BufferWriter.open(buffer, { retentionDays: 60, ...writerOptions });
  return {
    dir,
    storeDir,
    bufferDir,
    registry,
    buffer,
    spec,
    writer,
    ingestor: new Ingestor(registry, writer),
    async file(name, content) {
      const file = path.join(dir, name);
      await fs.writeFile(file, content);
      return file;
    },
    async cleanup() {
      await writer.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

/** `buffer.parquetSource(model)` of a model that has data. */
export async function bufferSource(buffer: DataBuffer, model: string): Promise<string> {
  const source = await buffer.parquetSource(model);
  if (!source) throw new Error(`the buffer of ${model} is empty`);
  return source;
}

/** Every row in a model's buffer, ordered by time then host. */
export async function readBuffer(buffer: DataBuffer, model: string): Promise<Row[]> {
  const source = await buffer.parquetSource(model);
  if (!source) return [];
  return withDuckDb(async (conn) => {
    await conn.run(`SET TimeZone = 'UTC'`);
    const reader = await conn.runAndReadAll(
      `SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, host, cpu, mem
       FROM ${source} ORDER BY ts, host`,
    );
    return reader.getRowObjectsJson() as unknown as Row[];
  });
}

/** Relative path -> sha256 (or `dir`) of everything under `root`: equal maps mean byte-for-byte equal trees. */
export async function hashTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const entries = await fs.readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(root, full);
    out[rel] = entry.isDirectory()
      ? 'dir'
      : createHash('sha256')
          .update(await fs.readFile(full))
          .digest('hex');
  }
  return out;
}

/** CSV text with a header, one line per row. */
export function csv(header: string, lines: string[]): string {
  return `${header}\n${lines.join('\n')}\n`;
}

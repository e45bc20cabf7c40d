import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadManifest } from '../datasets/dataset-io';
import { createExportDataset } from '../activities/export-dataset';
import { loadFlightsIntoBuffer } from '../storage/demo-data';
import { ModelSpecSchema } from '../common/model-spec';
import { DataBuffer } from '../storage/buffer';
import { sqlIdent, sqlString, withDuckDb } from '../storage/duckdb';
import { FileBlobStore } from '../storage/file-store';
import { ModelRegistry } from '../storage/registry';
import { machine, median, round } from './figures';

const ROOT = path.join(__dirname, '..');

interface Timing {
  wall: number;
  cpu: number;
}

/** What `exportBench` measured; printed as one JSON document by `npm run bench:export`. */
export interface ExportBenchResult {
  bench: 'export';
  machine: string;
  duckdb: string;
  repeat: number;
  bufferRows: number;
  rowsStored: number;
  samples: number;
  /** Medians, wall seconds: exportDataset, and the yardstick COPY of the same window. */
  exportSeconds: number;
  copySeconds: number;
  /** exportSeconds / copySeconds; the goal is at most 2. */
  ratio: number;
  exportCpuSeconds: number;
  copyCpuSeconds: number;
  cpuRatio: number;
  samplesPerSec: number;
  exportRuns: number[];
  copyRuns: number[];
}

/**
 * exportDataset on the whole demo buffer (3M flights, Jan-Jun 2001, ~424k hourly airport rows)
 * against its yardstick: a DuckDB COPY of the same window, sorted by (time, entity), to Parquet,
 * on a fresh instance as the export uses. Runs alternate, so load from elsewhere on the machine
 * hits both alike; medians over `repeat` runs, CPU seconds (all threads of this process) beside
 * wall seconds, because wall time on a shared machine says as much about the neighbours.
 */
export async function exportBench(options: { repeat?: number } = {}): Promise<ExportBenchResult> {
  const repeat = options.repeat ?? 5;
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'retrain-bench-export-'));
  try {
    const store = new FileBlobStore(path.join(dir, 'store'));
    const registry = new ModelRegistry(store);
    const buffer = new DataBuffer(path.join(dir, 'buffer'));
    const example = JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', 'flight-delay.json'), 'utf8'));
    // Jan-Jun 2001 lies within 365 days of the newest record: the export covers the whole buffer.
    const spec = ModelSpecSchema.parse({ ...example, name: 'bench-export', windowDays: 365 });
    await registry.saveSpec(spec);
    const bufferRows = await loadFlightsIntoBuffer(buffer, [spec.name]);
    const source = await buffer.parquetSource(spec.name);
    if (!source) throw new Error('the demo data did not load');
    const exportDataset = createExportDataset({ store, registry, buffer, backend: 'cpu', servingUrls: [] });

    const runs: { export: Timing; copy: Timing }[] = [];
    let samples = 0;
    let rowsStored = 0;
    let copyWindow = '';
    for (let i = 0; i < repeat + 1; i++) {
      const workflowId = `bench-${i}`;
      const exportRun = async () =>
        time(async () => {
          const result = await exportDataset({ model: spec.name, workflowId });
          if (result.status !== 'ready') throw new Error(`export was not ready: ${result.reason}`);
          samples = result.trainRows + result.holdoutRows;
          if (!copyWindow) {
            const { window } = await loadManifest(store, result.datasetKey);
            const t = sqlIdent(spec.timeColumn);
            copyWindow = `${t} >= TIMESTAMP ${sqlString(window.from)} AND ${t} < TIMESTAMP ${sqlString(window.to)} + INTERVAL 1 SECOND`;
          }
        });
      const copyRun = () =>
        time(async () => {
          rowsStored = await copyYardstick(source, copyWindow, spec, path.join(dir, `copy-${i}.parquet`));
        });
      // The first pair warms the page cache and DuckDB's allocator; it is not counted.
      const first = i % 2 ? await copyRun() : undefined;
      const exported = await exportRun();
      const copied = first ?? (await copyRun());
      if (i > 0) runs.push({ export: exported, copy: copied });
    }
    const med = (pick: (r: (typeof runs)[number]) => number) => median(runs.map(pick));
    const exportSeconds = med((r) => r.export.wall);
    const copySeconds = med((r) => r.copy.wall);
    return {
      bench: 'export',
      machine: machine(),
      duckdb: await withDuckDb(async (conn) =>
        String((await conn.runAndReadAll('SELECT version() AS v')).getRowObjectsJson()[0]?.v),
      ),
      repeat,
      bufferRows,
      rowsStored,
      samples,
      exportSeconds: round(exportSeconds),
      copySeconds: round(copySeconds),
      ratio: round(exportSeconds / copySeconds),
      exportCpuSeconds: round(med((r) => r.export.cpu)),
      copyCpuSeconds: round(med((r) => r.copy.cpu)),
      cpuRatio: round(med((r) => r.export.cpu) / med((r) => r.copy.cpu)),
      samplesPerSec: Math.round(samples / exportSeconds),
      exportRuns: runs.map((r) => round(r.export.wall)),
      copyRuns: runs.map((r) => round(r.copy.wall)),
    };
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** The yardstick: the window's rows, sorted by (time, entity), copied to one Parquet file; returns the rows. */
async function copyYardstick(
  source: string,
  window: string,
  spec: { timeColumn: string; entityColumn?: string | undefined },
  file: string,
): Promise<number> {
  const order = [spec.timeColumn, ...(spec.entityColumn === undefined ? [] : [spec.entityColumn])];
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(
      `COPY (SELECT * FROM ${source} WHERE ${window}
             ORDER BY ${order.map(sqlIdent).join(', ')})
       TO ${sqlString(file)} (FORMAT parquet)`,
    );
    return Number(reader.getRowsJson()[0]?.[0] ?? 0);
  });
}

async function time(fn: () => Promise<void>): Promise<Timing> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await fn();
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

if (require.main === module) {
  const { values } = parseArgs({ options: { repeat: { type: 'string', default: '5' } } });
  exportBench({ repeat: Number(values.repeat) })
    .then((result) => console.log(JSON.stringify(result)))
    .catch((err) => {
      console.error(err);
      process.exit(1);
    });
}

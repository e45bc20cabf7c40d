import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { datasetColumns } from '../activities/dataset-io';
import { createExportDataset, datasetKey } from '../activities/export-dataset';
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

/**
 * exportDataset on the whole demo buffer (3M flights, Jan-Jun 2001, ~424k hourly airport rows)
 * against its yardstick: a plain DuckDB scan (count and a sum of every column) of the buffer
 * Parquet files the export reads. Also scans the two files it wrote, for scale. Medians over
 * `--repeat` runs; CPU seconds (all threads of this process) beside wall seconds, because wall
 * time on a shared machine says as much about the neighbours as about the code.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { repeat: { type: 'string', default: '5' } } });
  const repeat = Number(values.repeat);
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
    const exportDataset = createExportDataset({ store, registry, buffer, backend: 'cpu', servingUrls: [] });

    const inputColumns = [
      `sum(epoch(${sqlIdent(spec.timeColumn)}))`,
      `sum(length(${sqlIdent(spec.entityColumn)}))`,
      ...[...new Set([...spec.features, spec.target])].map((c) => `sum(${sqlIdent(c)})`),
    ];
    const outputColumns = datasetColumns(spec).map((c) =>
      c === 'time' ? 'sum(epoch(time))' : c === 'entity' ? 'sum(length(entity))' : `sum(${sqlIdent(c)})`,
    );
    const runs: { export: Timing; scan: Timing; outputScan: Timing }[] = [];
    let exported = 0;
    for (let i = 0; i < repeat; i++) {
      const workflowId = `bench-${i}`;
      const exportTime = await time(async () => {
        const result = await exportDataset({ model: spec.name, workflowId });
        if (result.status !== 'ready') throw new Error(`export was not ready: ${result.reason}`);
        exported = result.trainRows + result.holdoutRows;
      });
      const scan = await time(() => scanSql(buffer.glob(spec.name), inputColumns));
      const written = path.join(store.root, datasetKey(spec.name, workflowId), '*.parquet');
      const outputScan = await time(() => scanSql(written, outputColumns));
      runs.push({ export: exportTime, scan, outputScan });
    }
    const med = (pick: (r: (typeof runs)[number]) => number) => median(runs.map(pick));
    const exportSeconds = med((r) => r.export.wall);
    const scanSeconds = med((r) => r.scan.wall);
    console.log(
      JSON.stringify({
        bench: 'export',
        machine: machine(),
        duckdb: await withDuckDb(async (conn) =>
          String((await conn.runAndReadAll('SELECT version() AS v')).getRowObjectsJson()[0]?.v),
        ),
        repeat,
        bufferRows,
        rowsExported: exported,
        columnsExported: outputColumns.length,
        exportSeconds: round(exportSeconds),
        rowsPerSec: Math.round(exported / exportSeconds),
        scanSeconds: round(scanSeconds),
        ratio: round(exportSeconds / scanSeconds),
        exportCpuSeconds: round(med((r) => r.export.cpu)),
        scanCpuSeconds: round(med((r) => r.scan.cpu)),
        cpuRatio: round(med((r) => r.export.cpu) / med((r) => r.scan.cpu)),
        outputScanSeconds: round(med((r) => r.outputScan.wall)),
        exportRuns: runs.map((r) => round(r.export.wall)),
        scanRuns: runs.map((r) => round(r.scan.wall)),
      }),
    );
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** count(*) plus the given sums over `glob`, on a fresh DuckDB instance as the export uses. */
async function scanSql(glob: string, sums: string[]): Promise<void> {
  await withDuckDb((conn) =>
    conn.runAndReadAll(
      `SELECT count(*), ${sums.join(', ')} FROM read_parquet(${sqlString(glob)}, hive_partitioning = false)`,
    ),
  );
}

async function time(fn: () => Promise<void>): Promise<Timing> {
  const cpu = process.cpuUsage();
  const started = performance.now();
  await fn();
  const used = process.cpuUsage(cpu);
  return { wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6 };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

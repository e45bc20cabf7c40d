/**
 * A writer of the store-mode buffer in its own process (a second host): appends the rows
 * `i = from .. to-1` (`ts` 2001-03-01 + i minutes, `host` h<i % 3>, `cpu` i) to model `argv[3]` in
 * `batches` interleaved appends, through the store `RETRAIN_STORE` (with the S3 settings of the
 * environment) with `argv[2]` as its cache, and prints `{"inserted":n,"duplicates":n}`.
 */
import { loadConfig } from '../../config/config';
import { DataBuffer } from '../../storage/buffer';
import { withDuckDb } from '../../storage/duckdb';
import { openBlobStore } from '../../storage/open-store';

const KEY = { timeColumn: 'ts', entityColumn: 'host' };

async function run(): Promise<void> {
  const [cacheDir, model, from, to, batches] = process.argv.slice(2);
  if (!cacheDir || !model || !from || !to || !batches)
    throw new Error('usage: buffer-store-child <cache dir> <model> <from> <to> <batches>');
  const config = loadConfig();
  const buffer = new DataBuffer(cacheDir, openBlobStore(config.store, config.s3));
  const totals = { inserted: 0, duplicates: 0 };
  for (let b = 0; b < Number(batches); b++) {
    const query = `SELECT TIMESTAMP '2001-03-01 00:00:00' + to_minutes(i) AS ts, 'h' || (i % 3) AS host, i::DOUBLE AS cpu
                   FROM range(${Number(from)}, ${Number(to)}) t(i) WHERE i % ${Number(batches)} = ${b}`;
    const result = await withDuckDb((conn) => buffer.appendQuery(conn, model, query, KEY));
    totals.inserted += result.inserted;
    totals.duplicates += result.duplicates;
  }
  process.stdout.write(`${JSON.stringify(totals)}\n`);
}

run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

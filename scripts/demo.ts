import fs from 'node:fs';
import path from 'node:path';
import { loadFlightsIntoBuffer } from '../storage/demo-data';
import { main as cli } from '../clients/cli';
import { ModelSpecSchema } from '../common/model-spec';
import { DataBuffer } from '../storage/buffer';
import { withDuckDb } from '../storage/duckdb';
import { openBlobStore } from '../storage/open-store';
import { ModelRegistry } from '../storage/registry';
import { loadConfig } from '../config/config';
import { ROOT } from './lib/processes';
import { up } from './stack';

const DEMO_MODEL = 'flight-delay';

/** Stack up, demo models and data in place, one retrain with live progress, one prediction. */
async function demo(): Promise<void> {
  await up();
  const config = loadConfig();
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const buffer = DataBuffer.of(config, registry.store);
  const specs = ['flight-delay.json', 'late-share.json'].map((f) =>
    ModelSpecSchema.parse(JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', f), 'utf8'))),
  );
  for (const spec of specs) await registry.saveSpec(spec);
  const missing = [];
  for (const spec of specs) if (!(await buffer.hasData(spec.name))) missing.push(spec.name);
  if (missing.length) {
    const started = Date.now();
    const rows = await loadFlightsIntoBuffer(buffer, missing);
    console.error(
      `[demo] loaded ${rows} hourly airport metrics (3M flights, Jan-Jun 2001) into ${missing.join(', ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const code = await cli(['start', '--model', DEMO_MODEL, '--wait']);
  if (code !== 0) process.exit(code);
  await predictOnce(buffer);
  console.error(
    [
      '[demo] next:',
      `  Web UI                 ${config.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows`,
      '  dashboard              http://127.0.0.1:8000/ui (asks for RETRAIN_API_KEY; the stack keeps it in .data/api-key)',
      '  retrain by itself      npm run demo:continuous',
      '  retrain weekly         npx retrain schedule create --model flight-delay',
      '  the classifier         npx retrain start --model late-share --wait',
      '  versions and aliases   npx retrain models show flight-delay',
      '  stop the stack         npm run stack:down',
    ].join('\n'),
  );
}

async function predictOnce(buffer: DataBuffer): Promise<void> {
  const source = await buffer.parquetSource(DEMO_MODEL);
  if (!source) throw new Error(`the buffer of ${DEMO_MODEL} is empty`);
  const rows = await withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(
      `SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, origin, flights, mean_delay, late_share
       FROM ${source}
       WHERE origin IN ('ORD', 'ATL', 'DFW') QUALIFY row_number() OVER (PARTITION BY origin ORDER BY ts DESC) <= 6`,
    );
    return reader.getRowObjectsJson();
  });
  const res = await fetch('http://127.0.0.1:8000/predict', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: DEMO_MODEL, rows }),
  });
  console.log(`POST /predict -> ${res.status}\n${JSON.stringify(await res.json(), null, 2)}`);
}

demo().catch((err: unknown) => {
  console.error(`[demo] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

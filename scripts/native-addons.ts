// Loads each N-API addon retrain runs on and makes it compute once, under the Node running this:
// scripts/node-matrix.sh runs it first on each Node it tests, so a runtime that cannot load one
// fails in a second, naming it, before the test tiers start.
import * as tf from '@tensorflow/tfjs';
import { Runtime } from '@temporalio/worker';
import { activateBackend } from '../ml/backend';
import { withDuckDb } from '../storage/duckdb';

async function tensorflow(): Promise<void> {
  await activateBackend('tensorflow');
  const product = tf.matMul(
    [
      [1, 2],
      [3, 4],
    ],
    [[1], [1]],
  );
  const got = JSON.stringify(product.arraySync());
  product.dispose();
  if (tf.getBackend() !== 'tensorflow' || got !== '[[3],[7]]')
    throw new Error(`on backend ${tf.getBackend()} [[1,2],[3,4]] x [[1],[1]] gave ${got}, not [[3],[7]]`);
}

async function duckdb(): Promise<void> {
  const rows = await withDuckDb(async (conn) =>
    (await conn.runAndReadAll('SELECT 6 * 7 AS answer')).getRowObjectsJson(),
  );
  if (rows[0]?.['answer'] !== 42) throw new Error(`SELECT 6 * 7 gave ${JSON.stringify(rows)}`);
}

async function temporalCore(): Promise<void> {
  await Runtime.instance().shutdown();
}

const ADDONS: [string, () => Promise<void>][] = [
  ['@tensorflow/tfjs-node', tensorflow],
  ['@duckdb/node-api', duckdb],
  ['@temporalio/core-bridge', temporalCore],
];

async function main(): Promise<void> {
  for (const [name, check] of ADDONS) {
    try {
      await check();
    } catch (err) {
      throw new Error(`${name} does not work: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  console.error(
    `[native-addons] node ${process.version} (N-API ${process.versions.napi}): ${ADDONS.map(([n]) => n).join(', ')} load and compute`,
  );
}

main().catch((err: unknown) => {
  console.error(
    `[native-addons] node ${process.version}: ${err instanceof Error ? err.message : String(err)}`,
  );
  process.exit(1);
});

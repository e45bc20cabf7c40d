import { PredictionLog } from '../../storage/prediction-log';

// `tsx prediction-log-child.ts <dir>`: records predictions in batches of 10 as fast as it can and
// prints `acked <n>` after each batch is written, until it is killed.
async function main(): Promise<void> {
  const log = await PredictionLog.open(process.argv[2] as string, { flushMs: 50 });
  for (let n = 0; ;) {
    const batch = Array.from({ length: 10 }, (_, k) => ({
      model: 'killed',
      version: 'v1',
      entity: `e${(n + k) % 7}`,
      time: 1_700_000_000_000 + (n + k) * 1000,
      for: null,
      value: n + k,
      label: null,
      predictedAt: Date.now(),
    }));
    await log.record(batch);
    n += batch.length;
    process.stdout.write(`acked ${n}\n`);
  }
}

void main();

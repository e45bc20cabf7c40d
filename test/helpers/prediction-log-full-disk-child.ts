import { PredictionLog } from '../../storage/prediction-log';

// `tsx prediction-log-full-disk-child.ts <dir> <batches>`, run under a small `ulimit -f`: records
// <batches> batches of 10 answers, each after the last settled, then closes the log and prints one
// JSON line: how many answers were acknowledged, how many batches failed, and the log's faults.
async function main(): Promise<void> {
  const log = await PredictionLog.open(process.argv[2] as string, { flushMs: 60_000, logger: { warn() {} } });
  const batches = Number(process.argv[3]);
  let acked = 0;
  let failed = 0;
  for (let b = 0; b < batches; b++) {
    const batch = Array.from({ length: 10 }, (_, k) => ({
      model: 'full',
      version: 'v1',
      entity: `e${b * 10 + k}`,
      time: 1_700_000_000_000,
      for: null,
      value: b * 10 + k,
      label: null,
      predictedAt: Date.now(),
    }));
    try {
      await log.record(batch);
      acked += batch.length;
    } catch {
      failed += 1;
    }
  }
  await log.close();
  const faults = { write: log.faults.count('write'), turn: log.faults.count('turn') };
  process.stdout.write(`${JSON.stringify({ acked, failed, faults })}\n`);
}

void main();

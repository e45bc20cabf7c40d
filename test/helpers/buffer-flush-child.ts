/**
 * A buffer writer in its own process, for tests that kill it mid-flush: appends one
 * {@link buildHourlyBatch} of `days` x `hosts` to model `argv[3]` of the buffer in `argv[2]` through
 * the real group-commit writer, prints `flushed <rows>` and exits.
 */
import { DataBuffer } from '../../storage/buffer';
import { BufferWriter } from '../../storage/buffer-writer';
import { buildHourlyBatch, HOURLY_KEY } from './flush-batch';

async function run(): Promise<void> {
  const [dir, model, days, hosts] = process.argv.slice(2);
  if (!dir || !model || !days || !hosts)
    throw new Error('usage: buffer-flush-child <dir> <model> <days> <hosts>');
  const writer = await BufferWriter.open(new DataBuffer(dir), { retentionDays: 100_000 });
  try {
    const outcome = await writer.submit(model, HOURLY_KEY, buildHourlyBatch(Number(days), Number(hosts)));
    process.stdout.write(`flushed ${outcome.inserted}\n`);
  } finally {
    await writer.close();
  }
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

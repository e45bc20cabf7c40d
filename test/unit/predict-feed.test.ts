import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { PredictFeed, type PredictFeedOptions } from '../../serving/predict-feed';
import { eventually } from '../helpers/eventually';
import { createBufferFixture, readBuffer, type BufferFixture } from '../helpers/buffer-fixture';
import { samplesOf, parsePrometheus } from '../helpers/prometheus';

let fx: BufferFixture;
let metrics: Registry;

beforeEach(async () => {
  fx = await createBufferFixture();
  await fx.registry.saveSpec({ ...fx.spec, predictFeedsBuffer: true });
  metrics = new Registry();
});
afterEach(async () => {
  await fx.cleanup();
});

function feed(options: Partial<PredictFeedOptions> = {}): PredictFeed {
  return new PredictFeed({
    ingestor: fx.ingestor,
    registry: fx.registry,
    metrics,
    log: pino({ level: 'silent' }),
    flushEveryMs: 60_000,
    ...options,
  });
}

const row = (minute: number, host = 'a', cpu = 50) => ({
  ts: new Date(Date.UTC(2024, 0, 1, 0, minute)).toISOString(),
  host,
  cpu,
  mem: 10,
});

async function counted(result: string): Promise<number> {
  const samples = samplesOf(parsePrometheus(await metrics.metrics()), 'retrain_predict_feed_rows_total', {
    model: fx.spec.name,
    result,
  });
  return samples.reduce((sum, s) => sum + s.value, 0);
}

describe('the /predict feed into the buffer', () => {
  it('keeps at most maxQueuedRows waiting: the rows of a request past it are dropped and counted, the rest appended at close', async () => {
    const f = feed({ maxQueuedRows: 5 });
    f.offer(fx.spec.name, [row(0), row(1), row(2)]);
    f.offer(fx.spec.name, [row(3), row(4), row(5)]);
    f.offer(fx.spec.name, [row(6), row(7)]);
    await f.close();
    expect(await counted('dropped')).toBe(3);
    expect(await counted('inserted')).toBe(5);
    expect((await readBuffer(fx.buffer, fx.spec.name)).map((r) => r.ts)).toEqual(
      [0, 1, 2, 6, 7].map((m) => row(m).ts.replace('.000Z', 'Z')),
    );
  });

  it('appends as soon as flushRows wait, without waiting for the timer', async () => {
    const f = feed({ flushRows: 2 });
    f.offer(fx.spec.name, [row(0), row(1)]);
    await eventually('the rows appended', async () => (await counted('inserted')) === 2);
    await f.close();
  });

  it("a request's bad rows fail alone: the other requests of the flush are appended", async () => {
    const f = feed();
    f.offer(fx.spec.name, [row(0)]);
    f.offer(fx.spec.name, [{ ts: row(1).ts, host: 'a', cpu: 'high', mem: 1 }]);
    f.offer(fx.spec.name, [row(2)]);
    await f.close();
    expect(await counted('inserted')).toBe(2);
    expect(await counted('failed')).toBe(1);
  });

  it('feeds nothing for a model whose spec says false, whatever the server default', async () => {
    await fx.registry.saveSpec({ ...fx.spec, predictFeedsBuffer: false });
    const f = feed({ serverDefault: true });
    f.offer(fx.spec.name, [row(0)]);
    await f.close();
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
    expect(await counted('inserted')).toBe(0);
  });

  it('counts rows offered after close as dropped', async () => {
    const f = feed();
    await f.close();
    f.offer(fx.spec.name, [row(0), row(1)]);
    expect(await counted('dropped')).toBe(2);
    expect(await fx.buffer.hasData(fx.spec.name)).toBe(false);
  });
});

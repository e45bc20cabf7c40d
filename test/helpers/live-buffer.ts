import { type ModelSpec, ModelSpecSchema } from '../../common/model-spec';
import type { DataBuffer } from '../../storage/buffer';
import { withDuckDb } from '../../storage/duckdb';

/** Writes host `a`'s hourly actuals `y = 10 + h` at the given hours of 2024-01-01 (on) into `model`'s buffer. */
export async function seedHourlyActuals(buffer: DataBuffer, model: string, hours: number[]): Promise<void> {
  const values = hours.map((h) => `(TIMESTAMP '2024-01-01' + INTERVAL ${h} HOUR, 'a', ${10 + h}::DOUBLE)`);
  await withDuckDb((conn) =>
    buffer.appendQuery(conn, model, `SELECT * FROM (VALUES ${values.join(', ')}) v(ts, host, y)`, {
      timeColumn: 'ts',
      entityColumn: 'host',
    }),
  );
}

/** An hourly forecast of host `a`'s `y` from its last value: the model the live-figure tests follow. */
export function hourlySpec(name: string): ModelSpec {
  return ModelSpecSchema.parse({
    name,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['y'],
    target: 'y',
    lookback: 1,
    frequency: '1h',
  });
}

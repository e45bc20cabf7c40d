import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { LiveReport } from '../monitoring/live-metrics';
import { main as cli } from '../clients/cli';
import type { RetrainResult } from '../common/retrain';
import type { TriggerEvaluation } from '../common/triggers';
import { DataBuffer } from '../storage/buffer';
import { flightMetricsSql, loadFlightsIntoBuffer } from '../storage/demo-data';
import { withDuckDb } from '../storage/duckdb';
import { openBlobStore } from '../storage/open-store';
import { ModelRegistry } from '../storage/registry';
import { loadConfig } from '../config/config';
import { connectClient } from '../config/connect';
import { ROOT } from './lib/processes';
import { localApiKey, up } from './stack';

const MODEL = 'flight-delay-live';
const AIRPORTS = 25;
/** Trained on January to March 2001; April replayed day by day. */
const FIRST_REPLAYED_DAY = '2001-04-01';
const REPLAY_DAYS = Number(process.env.DEMO_REPLAY_DAYS ?? 21);
const SERVING = 'http://127.0.0.1:8000';

interface Row {
  ts: string;
  origin: string;
  flights: number;
  mean_delay: number;
  late_share: number;
}

/** One replayed day as the demo reports it. */
interface DayLine {
  day: string;
  version: string;
  predictions: number;
  liveMae: number | null;
  lastValueMae: number | null;
  holdoutMae: number | null;
  decision: string;
}

/**
 * The continuous-learning loop on the real flights data: a forecaster trained on January to March,
 * then April replayed a day at a time. Each hour's forecasts go through POST /predict (the prediction
 * log keeps them), the day's actuals through POST /ingest, and then the live error of the day is read
 * from GET /admin/monitor and the model's triggers are checked by the same workflow its
 * retrain-monitor schedule runs. A run a trigger starts is waited for; the days after it are served,
 * and measured, by whatever version it left in production.
 */
async function demo(): Promise<void> {
  await up();
  const config = loadConfig();
  const apiKey = localApiKey();
  const registry = new ModelRegistry(openBlobStore(config.store, config.s3));
  const buffer = DataBuffer.of(config, registry.store);
  await startOver(registry, config.bufferDir, config.predictionLog.dir);
  if ((await cli(['models', 'create', path.join(ROOT, 'examples', `${MODEL}.json`), '--replace'])) !== 0)
    process.exit(1);
  const rows = await loadFlightsIntoBuffer(buffer, [MODEL], {
    topAirports: AIRPORTS,
    beforeDay: FIRST_REPLAYED_DAY,
  });
  log(
    `loaded ${rows} hourly metrics of the ${AIRPORTS} busiest airports, Jan 1 to Mar 31 2001, into ${MODEL}`,
  );
  if ((await cli(['start', '--model', MODEL, '--wait'])) !== 0) process.exit(1);

  const truth = await replayRows();
  const byAirport = new Map<string, Row[]>();
  for (const row of truth) {
    const series = byAirport.get(row.origin);
    if (series) series.push(row);
    else byAirport.set(row.origin, [row]);
  }
  const { client, close } = await connectClient(config);
  const lines: DayLine[] = [];
  let sent = 0;
  try {
    for (let d = 0; d < REPLAY_DAYS; d++) {
      const day = new Date(Date.parse(FIRST_REPLAYED_DAY) + d * 86_400_000).toISOString().slice(0, 10);
      const { versions, count } = await predictDay(byAirport, day);
      sent += count;
      await post('/ingest', { model: MODEL, rows: truth.filter((r) => r.ts.startsWith(day)) }, apiKey);
      const report = await monitorAfter(sent, apiKey);
      const version = [...versions].join('+');
      const live = report.versions.find((v) => v.version === [...versions].at(-1));
      const today = live?.days.find((x) => x.day === day);
      const check = await client.workflow.execute<(a: { model: string }) => Promise<TriggerEvaluation>>(
        'triggerCheckWorkflow',
        {
          taskQueue: config.taskQueue,
          workflowId: `retrain-monitor-${MODEL}-demo-${day}-${Date.now()}`,
          args: [{ model: MODEL }],
          staticSummary: `Check the triggers of ${MODEL} after replaying ${day} (npm run demo:continuous)`,
        },
      );
      lines.push({
        day,
        version,
        predictions: today?.predictions ?? 0,
        liveMae: today?.metrics.mae ?? null,
        lastValueMae: today?.baselines.lastValue?.mae ?? null,
        holdoutMae: live?.holdout ?? null,
        decision: check.decision,
      });
      const line = lines[lines.length - 1] as DayLine;
      log(
        `${day} served by ${version}: live MAE ${fmt(line.liveMae)} over ${line.predictions} (last value ${fmt(line.lastValueMae)}, holdout ${fmt(line.holdoutMae)}); ${check.reason}`,
      );
      if (check.decision === 'started' && check.workflowId) {
        log(`waiting for ${check.workflowId}, started by the trigger`);
        const result = (await client.workflow.getHandle(check.workflowId).result()) as RetrainResult;
        log(
          `${check.workflowId}: ${result.status}${result.version ? `, ${result.version} is production` : ''}${result.reason ? ` (${result.reason})` : ''}`,
        );
      }
    }
  } finally {
    await close();
  }
  const final = await monitorAfter(sent, apiKey);
  console.log(renderDays(lines));
  console.log('');
  for (const v of final.versions)
    console.log(
      `${v.version}: holdout MAE ${fmt(v.holdout)}; live MAE ${fmt(v.all.metrics.mae ?? null)} over ${v.all.predictions} predictions on ${v.days.length} days (last value ${fmt(v.all.baselines.lastValue?.mae ?? null)})`,
    );
  log(
    [
      'next:',
      `  the evaluations        npx retrain triggers show --model ${MODEL}`,
      `  live error by version  npx retrain monitor --model ${MODEL}`,
      `  the checks and runs    ${config.temporalUiUrl}/namespaces/${config.temporal.namespace}/workflows`,
      '  stop the stack         npm run stack:down',
    ].join('\n'),
  );
}

/** The demo's model from scratch: no versions, no buffer, no logged predictions, no evaluations. */
async function startOver(registry: ModelRegistry, bufferDir: string, predictionDir: string): Promise<void> {
  for (const prefix of [
    `models/${MODEL}/`,
    `evaluations/${MODEL}/`,
    `datasets/${MODEL}/`,
    `checkpoints/${MODEL}/`,
    `predictions/model=${MODEL}/`,
    `buffer/${MODEL}/`,
  ])
    for (const key of await registry.store.list(prefix)) await registry.store.delete(key);
  await fs.rm(path.join(bufferDir, MODEL), { recursive: true, force: true });
  await fs.rm(path.join(predictionDir, `model=${MODEL}`), { recursive: true, force: true });
}

/** The replayed days' rows, and the six hours before them that the first forecasts look back on. */
async function replayRows(): Promise<Row[]> {
  const last = new Date(Date.parse(FIRST_REPLAYED_DAY) + REPLAY_DAYS * 86_400_000).toISOString().slice(0, 10);
  return withDuckDb(async (conn) => {
    await conn.run(`SET TimeZone = 'UTC'`);
    const reader = await conn.runAndReadAll(
      `SELECT strftime(ts, '%Y-%m-%dT%H:%M:%SZ') AS ts, origin, flights, mean_delay, late_share
       FROM (${flightMetricsSql({ topAirports: AIRPORTS, fromDay: '2001-03-30', beforeDay: last })})
       ORDER BY ts, origin`,
    );
    return reader.getRowObjectsJson() as unknown as Row[];
  });
}

/**
 * Every hour of `day`: for each airport with a record that hour, its last six records before it go
 * to POST /predict, as a client forecasting the coming hour would send them.
 */
async function predictDay(
  byAirport: Map<string, Row[]>,
  day: string,
): Promise<{ versions: Set<string>; count: number }> {
  const versions = new Set<string>();
  let count = 0;
  for (let hour = 0; hour < 24; hour++) {
    const at = `${day}T${String(hour).padStart(2, '0')}:00:00Z`;
    const rows = [...byAirport.values()].flatMap((series) => {
      const next = series.findIndex((r) => r.ts >= at);
      return next > 0 && series[next]?.ts === at ? series.slice(Math.max(0, next - 6), next) : [];
    });
    if (rows.length === 0) continue;
    const answer = (await post('/predict', { model: MODEL, rows })) as {
      version: string;
      predictions: unknown[];
    };
    versions.add(answer.version);
    count += answer.predictions.length;
  }
  return { versions, count };
}

/** The monitor once the prediction log has every answer sent so far in Parquet (it flushes every 5 s). */
async function monitorAfter(sent: number, apiKey: string): Promise<LiveReport> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${SERVING}/admin/monitor?model=${MODEL}&days=2`, {
      headers: { 'x-api-key': apiKey },
    });
    if (!res.ok) throw new Error(`GET /admin/monitor -> ${res.status}: ${await res.text()}`);
    const report = (await res.json()) as LiveReport;
    const scored = report.versions.reduce((n, v) => n + v.all.predictions, 0);
    if (scored >= sent || Date.now() > deadline) return report;
    await sleep(500);
  }
}

async function post(route: string, body: unknown, apiKey?: string): Promise<unknown> {
  const res = await fetch(`${SERVING}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(apiKey ? { 'x-api-key': apiKey } : {}) },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`POST ${route} -> ${res.status}: ${await res.text()}`);
  return res.json();
}

function renderDays(lines: DayLine[]): string {
  const header =
    '| day | served by | predictions | live MAE | last value MAE | holdout MAE | trigger check |';
  const rows = lines.map(
    (l) =>
      `| ${l.day} | ${l.version} | ${l.predictions} | ${fmt(l.liveMae)} | ${fmt(l.lastValueMae)} | ${fmt(l.holdoutMae)} | ${l.decision} |`,
  );
  return [header, '|---|---|---:|---:|---:|---:|---|', ...rows].join('\n');
}

function fmt(n: number | null): string {
  return n === null ? '-' : n.toFixed(2);
}

function log(line: string): void {
  console.error(`[demo] ${line}`);
}

demo().catch((err: unknown) => {
  console.error(`[demo] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { epochProgressSignal } from '../../common/messages';
import { RetrainInputSchema } from '../../common/retrain';
import { startRun } from '../../runs';
import { ROOT } from '../../scripts/lib/processes';
import { createServer, type InferenceServer } from '../../serving/server';
import { DataBuffer } from '../../storage/buffer';
import { withDuckDb } from '../../storage/duckdb';
import { PredictionLog } from '../../storage/prediction-log';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from '../helpers/eventually';
import { publishVersion } from '../helpers/models';
import { stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, '.data', 'test-artifacts', 'dashboard');
const KEY = 'dashboard-test-key-0123456789';
/** What the page says until it has a key: reads need one (RETRAIN_DASHBOARD_PUBLIC is unset). */
const NEED_KEY = 'enter the API key to see models and runs (it stays in this tab only)';

describe('the dashboard at /ui, in Chromium, on a real server and Temporal', () => {
  let env: StubWorkers;
  let dir: string;
  let registry: ModelRegistry;
  let server: InferenceServer;
  let url: string;
  let browser: Browser;
  let page: Page;
  let steady: string;
  let slow: string;
  /** Versions of mixed scales (candidate MASE about 1 beside naive baselines of 160 and 2,500,000), v3 rolled back. */
  let mixed: string;
  /** Trains 3 of its epochs, then fails. */
  let failing: string;
  /** Registers what it trained, as registerModel does: its version's metadata has the run's final figures. */
  let finishing: string;
  let predictionLog: PredictionLog;
  let slowEpochsAllowed = 1;

  beforeAll(async () => {
    env = await stubWorkers();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-dashboard-'));
    registry = new ModelRegistry(new FileBlobStore(dir));
    // `steady` trains at once; `slow` reports epochs up to `slowEpochsAllowed` (the test raises it,
    // so the page is seen on each epoch whatever the machine's load) and trains until cancelled.
    steady = env.model();
    slow = env.model({
      trainModel: async ({ workflowId, epochs }) => {
        const ctx = Context.current();
        for (let epoch = 1; ;) {
          if (epoch <= Math.min(epochs, slowEpochsAllowed)) {
            await env.client.workflow.getHandle(workflowId).signal(epochProgressSignal, {
              epoch,
              totalEpochs: epochs,
              loss: 1 / epoch,
              valLoss: 1.2 / epoch,
              samplesPerSec: 900,
            });
            epoch++;
          }
          ctx.heartbeat();
          await ctx.sleep(200);
        }
      },
    });
    failing = env.model({
      trainModel: async ({ workflowId, epochs }) => {
        for (let epoch = 1; epoch <= 3; epoch++)
          await env.client.workflow.getHandle(workflowId).signal(epochProgressSignal, {
            epoch,
            totalEpochs: epochs,
            loss: 1 / epoch,
            valLoss: 1.2 / epoch,
            samplesPerSec: 900,
          });
        throw ApplicationFailure.nonRetryable('loss is NaN at epoch 4', 'TrainingDiverged');
      },
    });
    finishing = env.model({
      registerModel: async ({ model, workflowId, runId, hyperparams, training, trials }) => {
        await publishVersion(registry, stubSpec(model), 'v1', {
          metadata: {
            workflowId,
            runId,
            hyperparams,
            epochs: training.epochs,
            training: { ...training, warmStart: 'none' },
            ...(trials ? { trials } : {}),
          },
        });
        await registry.setAlias(model, 'v1', null);
        return { version: 'v1', previous: null };
      },
    });
    mixed = `mixed-${steady}`;
    for (const name of [steady, slow, failing, finishing, mixed]) await registry.saveSpec(stubSpec(name));
    for (const [version, mase] of [
      ['v1', 1.4],
      ['v2', 0.9],
      ['v3', 0.7],
    ] as const)
      await publishVersion(registry, stubSpec(mixed), version, {
        metadata: {
          metrics: { mase },
          baselines: { lastValue: { mase: 160 }, fleetMean: { mase: 2_500_000 } },
          gate: { passed: true, reason: 'beats lastValue', metric: 'mase' },
          production: version === 'v1' ? undefined : { version: 'v1', metrics: { mase: 1.4 } },
        },
      });
    await registry.setAlias(mixed, 'v3', null);
    await registry.moveAlias(mixed, 'v2', { expected: 'v3', workflowId: null });
    const spec = stubSpec(steady);
    for (const [version, mae] of [
      ['v1', 2.4],
      ['v2', 1.9],
    ] as const)
      await publishVersion(registry, spec, version, {
        metadata: {
          metrics: { mae },
          baselines: { lastValue: { mae: 2.6 }, sameHourDayBefore: { mae: 3.1 } },
          gate: { passed: true, reason: 'beats lastValue', metric: 'mae' },
        },
      });
    await registry.setAlias(steady, 'v1', null);
    await registry.moveAlias(steady, 'v2', { expected: 'v1', workflowId: null });
    // Live figures: v2 forecast hours 1 and 2 of airport `a` (actuals 11 and 12) as 11.5 and 12.
    const buffer = new DataBuffer(path.join(dir, 'buffer'));
    const rows = [10, 11, 12].map(
      (y, h) => `(TIMESTAMP '2024-01-01' + INTERVAL ${h} HOUR, 'a', ${y}::DOUBLE)`,
    );
    await withDuckDb((conn) =>
      buffer.appendQuery(conn, steady, `SELECT * FROM (VALUES ${rows.join(', ')}) v(ts, origin, flights)`, {
        timeColumn: 'ts',
        entityColumn: 'origin',
      }),
    );
    predictionLog = await PredictionLog.open(path.join(dir, 'predictions'));
    await predictionLog.record(
      [11.5, 12].map((value, h) => ({
        model: steady,
        version: 'v2',
        entity: 'a',
        time: Date.UTC(2024, 0, 1, h),
        for: null,
        value,
        label: null,
        predictedAt: Date.now(),
      })),
    );
    await predictionLog.flush();
    server = createServer({
      registry,
      apiKey: KEY,
      temporal: { client: env.client, taskQueue: env.taskQueue, buffer },
      buffer,
      predictionLog,
      dashboard: { temporalUiUrl: 'http://127.0.0.1:8233', namespace: 'default', servingUrls: [] },
    });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    await fs.mkdir(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    // This page has the key from the start; the first test enters one by hand on a page of its own.
    await page.addInitScript(`sessionStorage.setItem('retrain.apiKey', ${JSON.stringify(KEY)})`);
    page.on('dialog', (d) => void d.accept());
    // Probes poll: a locator that does not match yet answers at once rather than waiting 30 s.
    page.setDefaultTimeout(3000);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.app.close();
    await predictionLog?.close();
    await env?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const shot = (name: string) =>
    page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const text = (testId: string) => page.getByTestId(testId).innerText();
  /** The run id in the page's "started …" message, once it names a run of `model`. */
  const startedRunOf = async (model: string) =>
    (await text('message')).match(new RegExp(`^started (retrain-${model}-\\S+)$`))?.[1];

  it('shows nothing until it has the key; refuses a wrong one; keeps it in session storage, never in the URL', async () => {
    const fresh = await browser.newPage();
    try {
      await fresh.goto(`${url}/ui`);
      const said = () => fresh.getByTestId('message').innerText();
      await eventually('the request for the key', async () => (await said()) === NEED_KEY);
      expect(await fresh.locator('[data-testid^="model-"]').count()).toBe(0);
      expect((await fetch(`${url}/ui/api/models`)).status).toBe(401);

      await fresh.getByTestId('api-key').fill('wrong-key-0123456789');
      await fresh.getByTestId('save-key').click();
      await eventually('the refusal', async () =>
        (await said()).endsWith('401 missing or wrong X-API-Key header'),
      );
      expect(await fresh.locator('[data-testid^="model-"]').count()).toBe(0);

      await fresh.getByTestId('api-key').fill(KEY);
      await fresh.getByTestId('save-key').click();
      await fresh.getByTestId(`model-${steady}`).waitFor();
      expect(await fresh.getByTestId('key-state').innerText()).toBe('key set for this tab');
      expect(await fresh.evaluate<string | null>(`sessionStorage.getItem('retrain.apiKey')`)).toBe(KEY);
      expect(fresh.url()).not.toContain(KEY);
      expect(await fresh.getByTestId('api-key').inputValue()).toBe('');
    } finally {
      await fresh.close();
    }
  });

  it('shows every model with its production version and its versions’ gate metric beside the baselines', async () => {
    await page.goto(`${url}/ui`);
    await page.getByTestId(`model-${steady}`).waitFor();
    expect(await text(`production-${steady}`)).toBe('production v2');
    expect(await text(`production-${slow}`)).toBe('no production version');
    // The chart is drawn by Chart.js from the versions' figures: two versions, three series.
    const chart = await page.evaluate<{
      width: number;
      labels: string[];
      series: [string, number[]][];
    }>(`(() => {
      const canvas = document.querySelector('[data-testid="metric-chart-${steady}"]');
      const c = Chart.getChart(canvas);
      return { width: canvas.width, labels: c.data.labels, series: c.data.datasets.map((d) => [d.label, d.data]) };
    })()`);
    expect(chart.width).toBeGreaterThan(100);
    expect(chart.labels).toEqual(['v1', 'v2']);
    expect(chart.series).toEqual([
      ['candidate mae', [2.4, 1.9]],
      ['lastValue', [2.6, 2.6]],
      ['sameHourDayBefore', [3.1, 3.1]],
    ]);
    // Live: MAE (0.5 + 0) / 2 beside the last value's (1 + 1) / 2, over 2 predictions.
    expect((await text(`live-${steady}`)).split('\n').map((l) => l.split('\t'))).toEqual([
      ['version', 'holdout', 'live mae', 'last value', 'predictions'],
      ['v2', '1.9000', '0.2500', '1.0000', '2'],
    ]);
    expect(await page.getByTestId('temporal-link').getAttribute('href')).toBe(
      'http://127.0.0.1:8233/namespaces/default/workflows',
    );
    await shot('models');
  });

  it('filters the models by name and says which of how many it shows', async () => {
    await page.goto(`${url}/ui`);
    await page.getByTestId(`model-${steady}`).waitFor();
    const totalOf = async () => Number((await text('models-page')).split(' of ')[1]);
    const total = await totalOf();
    expect(total).toBeGreaterThan(1);
    await page.getByTestId('models-filter').fill(steady);
    const shown = await eventually('fewer models shown', async () => {
      const now = await totalOf();
      return now < total && now;
    });
    const names = await page
      .locator('[data-testid^="production-"]')
      .evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-testid')?.slice('production-'.length)));
    expect(names).toHaveLength(shown);
    expect(names).toContain(steady);
    for (const name of names) expect(name).toContain(steady);
    expect(await text('models-page')).toBe(`1-${shown} of ${shown}`);
  });

  it('draws a mixed-scale model on a log axis: the candidate’s line stands clear of the axis', async () => {
    await page.goto(`${url}/ui`);
    await page.getByTestId(`model-${mixed}`).waitFor();
    const chart = await page.evaluate<{
      type: string;
      title: string;
      lifts: number[];
      series: number[][];
    }>(`(() => {
      const c = Chart.getChart(document.querySelector('[data-testid="metric-chart-${mixed}"]'));
      const { top, bottom } = c.chartArea;
      return {
        type: c.scales.y.type,
        title: c.options.scales.y.title.text,
        // Each candidate point's height above the x axis, as a share of the plot's height.
        lifts: c.getDatasetMeta(0).data.map((p) => (bottom - p.y) / (bottom - top)),
        series: c.data.datasets.map((d) => d.data),
      };
    })()`);
    expect(chart.series).toEqual([
      [1.4, 0.9, 0.7],
      [160, 160, 160],
      [2_500_000, 2_500_000, 2_500_000],
    ]);
    expect(chart.type).toBe('logarithmic');
    expect(chart.title).toBe('mase (log scale)');
    // On a linear axis up to 2,500,000 every candidate point lies within a millionth of it.
    for (const lift of chart.lifts) expect(lift).toBeGreaterThan(0.01);
    await page.getByTestId(`model-${mixed}`).screenshot({ path: path.join(ARTIFACTS, 'mixed-scale.png') });
  });

  it('marks a version that was rolled back, on the chart and beside it', async () => {
    await page.getByTestId(`model-${mixed}`).waitFor();
    expect(await text(`production-${mixed}`)).toBe('production v2');
    expect(await text(`rolled-back-${mixed}`)).toBe("rolled back: v3 (not production's successors)");
    const chart = await page.evaluate<{ labels: string[]; styles: string[] }>(`(() => {
      const c = Chart.getChart(document.querySelector('[data-testid="metric-chart-${mixed}"]'));
      return { labels: c.data.labels, styles: c.data.datasets[0].pointStyle };
    })()`);
    expect(chart.labels).toEqual(['v1', 'v2', 'v3 (rolled back)']);
    expect(chart.styles).toEqual(['circle', 'circle', 'crossRot']);
    // A model never rolled back has no such line.
    expect(await page.getByTestId(`rolled-back-${steady}`).count()).toBe(0);
  });

  /** Waits until the runs table shows `run` with `status`. */
  const untilStatus = (run: string | undefined, status: string) =>
    eventually(
      `run ${run} ${status} in the table`,
      async () =>
        (await page
          .getByTestId(`status-${run}`)
          .innerText()
          .catch(() => '')) === status,
      30_000,
    );

  it('shows where a failed run stopped: its stage, its epoch and its progress, not a whole bar', async () => {
    await page.getByTestId(`epochs-${failing}`).fill('10');
    await page.getByTestId(`start-${failing}`).click();
    const started = await eventually('the start', async () => startedRunOf(failing));
    await untilStatus(started, 'failed');
    expect(await text(`stage-${started}`)).toBe('stopped in trainModel');
    expect(await text(`epoch-${started}`)).toBe('3/10');
    // As the run recorded it: exportDataset (10 % of the run) and 3 of 10 epochs of training (65 %).
    expect((await text(`progress-${started}`)).trim()).toBe('30%');
    expect(await page.getByTestId(`progress-${started}`).locator('.bar.stopped').count()).toBe(1);
    await shot('failed');
  });

  it('starts a run that updates live (progress bar, epoch, loss curve), and cancels it', async () => {
    await page.getByTestId(`epochs-${slow}`).fill('4');
    await page.getByTestId(`start-${slow}`).click();
    const started = await eventually('the start', async () => startedRunOf(slow));
    const row = page.getByTestId(`run-${started}`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.locator('a').getAttribute('href')).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:8233/namespaces/default/workflows/${started}/[0-9a-f-]+$`),
    );
    // The row follows the run: its epoch goes up while the page polls.
    const epochOf = async () => Number((await row.innerText()).match(/\b(\d)\/4\b/)?.[1] ?? 0);
    await eventually('epoch 1 in the row', async () => (await epochOf()) === 1, 20_000);
    slowEpochsAllowed = 2;
    await eventually('epoch 2 in the row', async () => (await epochOf()) === 2, 20_000);
    expect(await text(`status-${started}`)).toBe('running');
    await row.click();
    const curve = await eventually('a loss curve of 2 or more epochs', async () => {
      const points = await page.evaluate<{ labels: number[]; loss?: number[] } | undefined>(`(() => {
        const c = Chart.getChart(document.getElementById('loss-chart'));
        return c ? { labels: c.data.labels, loss: c.data.datasets[0] && c.data.datasets[0].data } : undefined;
      })()`);
      return points && points.labels.length >= 2 && points;
    });
    expect(curve.loss?.slice(0, 2)).toEqual([1, 0.5]);
    await shot('running');
    await page.getByTestId(`cancel-${started}`).click();
    await eventually('cancelled', async () => (await text(`status-${started}`)) === 'cancelled', 30_000);
    expect((await env.client.workflow.getHandle(started!).describe()).status.name).toBe('CANCELLED');
    // Where it stopped, not a whole bar: in training, at epoch 2 of 4.
    await eventually(
      'the stop in the row',
      async () => (await text(`stage-${started}`)) === 'stopped in trainModel',
    );
    expect(await text(`epoch-${started}`)).toBe('2/4');
    // 10 % for exportDataset and 2 of 4 epochs of training's 65 % (42.5, rounded).
    expect((await text(`progress-${started}`)).trim()).toBe('43%');
  });

  it('shows a finished multi-trial run’s final figures in the runs table and its trial log with the best trial', async () => {
    await page.getByTestId(`trials-${finishing}`).fill('3');
    await page.getByTestId(`start-${finishing}`).click();
    const started = await eventually('the start', async () => startedRunOf(finishing));
    await untilStatus(started, 'completed');
    // From the version it registered: the stub trainer's 2 epochs, the best trial's loss (0.5 - 3/100) and val loss.
    expect(await text(`epoch-${started}`)).toBe('2/2');
    expect(await text(`loss-${started}`)).toBe('0.4700');
    expect(await text(`best-${started}`)).toBe('#3 0.5700');
    expect((await text(`progress-${started}`)).trim()).toBe('100%');
    await page.getByTestId(`run-${started}`).click();
    await page.getByTestId('trial-3').waitFor({ timeout: 10_000 });
    const log = await text('trials');
    // The stub trainer's loss falls with the trial number: the third is best.
    expect(log).toMatch(/#3 \(best\)\s+completed/);
    expect(log).toMatch(/#1\s+completed/);
    await shot('trials');
  });

  it('answers an ended run read again from what it kept: no second query (a replay) of the run', async () => {
    const model = env.model();
    await registry.saveSpec(stubSpec(model));
    const { workflowId } = await startRun(env.client, RetrainInputSchema.parse({ model }), {
      taskQueue: env.taskQueue,
      origin: 'started by the dashboard test',
    });
    await env.client.workflow.getHandle(workflowId).result();
    let queries = 0;
    const getHandle = env.client.workflow.getHandle.bind(env.client.workflow);
    const spy = vi.spyOn(env.client.workflow, 'getHandle').mockImplementation((...args) => {
      const handle = getHandle(...args);
      if (args[0] !== workflowId) return handle;
      const query = handle.query.bind(handle);
      return Object.assign(handle, {
        query: ((...q: Parameters<typeof query>) => {
          queries += 1;
          return query(...q);
        }) as typeof query,
      });
    });
    try {
      const read = async () => {
        const res = await fetch(`${url}/ui/api/runs/${workflowId}`, { headers: { 'X-API-Key': KEY } });
        expect(res.status).toBe(200);
        return (await res.json()) as { status: string; lossCurve: unknown[]; figures: { stage: string } };
      };
      const first = await read();
      expect(queries).toBe(1);
      const second = await read();
      expect(queries).toBe(1);
      expect(second).toEqual(first);
      expect(first).toMatchObject({ status: 'completed', figures: { stage: 'done' } });
    } finally {
      spy.mockRestore();
    }
  });

  it('rolls production back from the button', async () => {
    await page.getByTestId(`rollback-${steady}`).click();
    await eventually(
      'the rollback',
      async () => (await text('message')) === `${steady}: production v2 -> v1`,
    );
    expect((await registry.getAlias(steady))?.value.version).toBe('v1');
    await eventually(
      'the badge',
      async () => (await text(`production-${steady}`)) === 'production v1',
      15_000,
    );
    // The version rolled back from is marked, not left to read as production's successor.
    expect(await text(`rolled-back-${steady}`)).toBe("rolled back: v2 (not production's successors)");
    await page.getByTestId(`rollback-${slow}`).click();
    await eventually('the refusal', async () =>
      (await text('message')).includes(`${slow} has no production alias`),
    );
    await shot('rolled-back');
  });
});

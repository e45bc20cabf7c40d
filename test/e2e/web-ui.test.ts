import fs from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { epochProgressSignal } from '../../common/messages';
import { startRun } from '../../runs';
import { ROOT } from '../../scripts/lib/processes';
import { startDevServer, type DevServer } from '../../scripts/lib/temporal-server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { loadConfig } from '../../config/config';
import { eventually } from '../helpers/eventually';
import { cliWith } from '../helpers/run-cli';
import { stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

/** Debian's chromium, installed by the setup when missing. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(ROOT, '.data', 'test-artifacts', 'web-ui');
const EPOCHS = 10;

/** Reports epochs 1..`upTo` through the workflow's progress signal, then heartbeats until cancelled. */
function trainingThatStaysAt(upTo: number) {
  return async ({ workflowId }: { workflowId: string }): Promise<never> => {
    const ctx = Context.current();
    const run = ctx.client.workflow.getHandle(workflowId);
    for (let epoch = 1; epoch <= upTo; epoch++)
      await run.signal(epochProgressSignal, {
        epoch,
        totalEpochs: EPOCHS,
        loss: 1 / epoch,
        valLoss: 1.1 / epoch,
        samplesPerSec: 5000,
      });
    for (;;) {
      ctx.heartbeat();
      await ctx.sleep(100);
    }
  };
}

/** Whether `locator` shows up within a few seconds (the Web UI fills its pages after they load). */
async function visible(locator: Locator): Promise<boolean> {
  return locator
    .first()
    .waitFor({ timeout: 5_000 })
    .then(
      () => true,
      () => false,
    );
}

/** Waits a few seconds for `text` in the page or one of its frames (the Web UI renders markdown details in iframes). */
async function inFrames(page: Page, text: string): Promise<true> {
  return eventually(
    `"${text}" in the page or its frames`,
    async () => {
      for (const frame of page.frames()) if ((await frame.getByText(text).count()) > 0) return true;
      return false;
    },
    5_000,
    250,
  );
}

/** The date (YYYY-MM-DD) of the next Sunday 02:00 UTC from now. */
function nextSundayAt2(now = new Date()): string {
  const next = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 2));
  while (next.getUTCDay() !== 0 || next <= now) next.setUTCDate(next.getUTCDate() + 1);
  return next.toISOString().slice(0, 10);
}

describe('the Temporal Web UI shows what retrain runs do, in a real browser', () => {
  let temporal: DevServer | undefined;
  let ui: string;
  let address: string;
  let env: StubWorkers;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    temporal = await startDevServer({ ui: true, log: path.join(ROOT, '.data', 'test', 'temporal-ui.log') });
    address = temporal.address;
    ui = temporal.ui ?? '';
    env = await stubWorkers(address);
    await fs.mkdir(ARTIFACTS, { recursive: true });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  });
  afterAll(async () => {
    await browser?.close();
    await env?.close();
    await temporal?.stop();
  });

  const shot = (name: string) =>
    page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
  const start = (model: string) =>
    startRun(
      env.client,
      { model, incremental: true, trials: 1, epochs: EPOCHS },
      { taskQueue: env.taskQueue, origin: 'started by hand' },
    );
  /** The run's page, with the User Metadata tab (summary, details, current details) open. */
  const openRun = async (workflowId: string) => {
    await page.goto(`${ui}/workflows/${workflowId}`);
    await page.getByText('User Metadata', { exact: true }).first().click({ timeout: 10_000 });
  };

  it('finds a run by ModelName, and shows its summary and its current details while it trains, then Canceled', async () => {
    const model = env.model({ trainModel: trainingThatStaysAt(3) });
    const { workflowId } = await start(model);

    await eventually(
      'the run in the list filtered by ModelName',
      async () => {
        await page.goto(`${ui}/workflows?query=${encodeURIComponent(`ModelName = '${model}'`)}`);
        return visible(page.getByRole('link', { name: workflowId }));
      },
      20_000,
      500,
    );
    await shot('list-by-model');

    await eventually(
      'epoch 3 in the progress',
      async () => {
        await openRun(workflowId);
        return inFrames(page, `epoch 3 of ${EPOCHS}`);
      },
      30_000,
      500,
    );
    await inFrames(page, `Retrain ${model} (started by hand)`);
    await inFrames(page, `${model} · stage trainModel`);
    await shot('training-progress');

    await env.client.workflow.getHandle(workflowId).cancel();
    await eventually(
      'the run to show Canceled',
      async () => {
        await page.goto(`${ui}/workflows/${workflowId}`);
        return visible(page.getByText('Canceled', { exact: true }));
      },
      30_000,
      500,
    );
    await shot('cancelled');
  });

  it('shows a completed run and its result', async () => {
    const model = env.model();
    const { workflowId } = await start(model);
    await env.client.workflow.getHandle(workflowId).result();
    await page.goto(`${ui}/workflows/${workflowId}`);
    await page.getByText('Completed', { exact: true }).first().waitFor({ timeout: 15_000 });
    await page.getByText('"status": "completed"').first().waitFor({ timeout: 5_000 });
    await page.getByText('"version": "v1"').first().waitFor({ timeout: 5_000 });
    await shot('completed');
  });

  it('shows a failed run with its root cause, not the SDK\'s "Activity task failed"', async () => {
    const cause =
      'Inference servers refused it: http://127.0.0.1:8000 refused: 503; production rolled back to v1';
    const model = env.model({
      reloadServers: async () => {
        throw ApplicationFailure.nonRetryable(cause, 'ReloadFailed');
      },
    });
    const { workflowId } = await start(model);
    await env.client.workflow
      .getHandle(workflowId)
      .result()
      .catch(() => undefined);
    await page.goto(`${ui}/workflows/${workflowId}`);
    await page.getByText('Failed', { exact: true }).first().waitFor({ timeout: 15_000 });
    await page.getByText(`reloadServers failed: ${cause}`).first().waitFor({ timeout: 5_000 });
    await shot('failed');
  });

  it('shows the weekly schedule retrain-weekly-<model> with its Sunday 02:00 UTC slot', async () => {
    const model = env.model();
    const dir = await fs.mkdtemp(path.join(ROOT, '.data', 'test', 'ui-store-'));
    const retrain = cliWith(
      loadConfig(
        { TEMPORAL_ADDRESS: address, RETRAIN_TASK_QUEUE: env.taskQueue, RETRAIN_STORE: `file://${dir}` },
        dir,
      ),
    );
    try {
      await new ModelRegistry(new FileBlobStore(dir)).saveSpec(stubSpec(model));
      const created = await retrain('schedule', 'create', '--model', model);
      expect(created.code, created.stderr).toBe(0);
      await page.goto(`${ui}/schedules/retrain-weekly-${model}`);
      await page.getByText(`retrain-weekly-${model}`).first().waitFor({ timeout: 15_000 });
      // Its upcoming runs: Sundays at 02:00 UTC.
      await page.getByText(`${nextSundayAt2()} UTC 02:00:00.00`).first().waitFor({ timeout: 5_000 });
      await shot('schedule');
    } finally {
      await env.client.schedule
        .getHandle(`retrain-weekly-${model}`)
        .delete()
        .catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

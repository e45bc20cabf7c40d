import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ModelSpecSchema } from '../../common/model-spec';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { loadConfig } from '../../config/config';
import { eventually } from '../helpers/eventually';
import { cliWith, type CliResult } from '../helpers/run-cli';

describe('retrain schedule', () => {
  const model = `sched-${randomUUID().slice(0, 8)}`;
  let dir: string;
  let client: Client;
  let connection: Connection;
  let retrain: (...argv: string[]) => Promise<CliResult>;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-schedule-'));
    retrain = cliWith(
      loadConfig({ TEMPORAL_ADDRESS: inject('temporalAddress'), RETRAIN_STORE: `file://${dir}` }, dir),
    );
    const spec = JSON.parse(await fs.readFile('examples/flight-delay.json', 'utf8')) as object;
    await new ModelRegistry(new FileBlobStore(dir)).saveSpec(ModelSpecSchema.parse({ ...spec, name: model }));
    connection = await Connection.connect({ address: inject('temporalAddress') });
    client = new Client({ connection });
  });
  afterAll(async () => {
    await client.schedule
      .getHandle(`retrain-weekly-${model}`)
      .delete()
      .catch(() => {});
    await connection?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('creates a weekly schedule (Sunday 02:00 UTC by default) that starts retrainWorkflow with the flags as input', async () => {
    const created = await retrain('schedule', 'create', '--model', model, '--epochs', '3', '--json');
    expect(created.code).toBe(0);
    const summary = JSON.parse(created.stdout) as {
      scheduleId: string;
      nextRuns: string[];
      input: { model: string; epochs: number };
      overlap: string;
    };
    expect(summary.scheduleId).toBe(`retrain-weekly-${model}`);
    expect(summary.input).toMatchObject({ model, epochs: 3, incremental: true });
    expect(summary.overlap).toBe('SKIP');
    const next = new Date(summary.nextRuns[0] ?? '');
    expect([next.getUTCDay(), next.getUTCHours(), next.getUTCMinutes()]).toEqual([0, 2, 0]);
    expect(next.getTime()).toBeGreaterThan(Date.now());

    const listed = await retrain('schedule', 'list', '--json');
    expect((JSON.parse(listed.stdout) as { scheduleId: string }[]).map((s) => s.scheduleId)).toContain(
      `retrain-weekly-${model}`,
    );
  });

  it('refuses a second schedule for the same model and says how to replace it', async () => {
    const again = await retrain('schedule', 'create', '--model', model);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`schedule retrain-weekly-${model} exists`);
    expect(again.stderr).toContain(`retrain schedule delete --model ${model}`);
  });

  it('refuses a schedule for a model without a spec, creating nothing', async () => {
    const ghost = `ghost-${randomUUID().slice(0, 8)}`;
    const result = await retrain('schedule', 'create', '--model', ghost);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`Model ${ghost} has no spec`);
    const described = await retrain('schedule', 'describe', '--model', ghost);
    expect(described.code).toBe(1);
    expect(described.stderr).toContain(`no schedule retrain-weekly-${ghost}`);
  });

  it('pauses and unpauses', async () => {
    expect((await retrain('schedule', 'pause', '--model', model, '--note', 'holiday freeze')).code).toBe(0);
    const paused = JSON.parse((await retrain('schedule', 'describe', '--model', model, '--json')).stdout) as {
      paused: boolean;
      note: string;
    };
    expect(paused).toMatchObject({ paused: true, note: 'holiday freeze' });
    expect((await retrain('schedule', 'unpause', '--model', model)).code).toBe(0);
    const active = JSON.parse((await retrain('schedule', 'describe', '--model', model, '--json')).stdout) as {
      paused: boolean;
    };
    expect(active.paused).toBe(false);
  });

  it('trigger starts a run named retrain-<model>-<time> with the schedule input', async () => {
    expect((await retrain('schedule', 'trigger', '--model', model)).code).toBe(0);
    const workflowId = await eventually(`a run started by retrain-weekly-${model}`, async () => {
      const described = JSON.parse(
        (await retrain('schedule', 'describe', '--model', model, '--json')).stdout,
      ) as { recentRuns: { workflowId: string }[] };
      return described.recentRuns[0]?.workflowId;
    });
    expect(workflowId).toMatch(new RegExp(`^retrain-${model}-\\d{4}-\\d{2}-\\d{2}T`));
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    expect(description.type).toBe('retrainWorkflow');
    expect(description.taskQueue).toBe('retrain');
    const [started] = (await handle.fetchHistory()).events ?? [];
    const [payload] = started?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    expect(payload && defaultPayloadConverter.fromPayload(payload)).toMatchObject({
      model,
      epochs: 3,
      incremental: true,
    });
    // The e2e test's worker polls the same queue and may already have finished it.
    await handle.terminate('test over').catch(() => {});
  });

  it('deletes the schedule', async () => {
    expect((await retrain('schedule', 'delete', '--model', model)).code).toBe(0);
    const described = await retrain('schedule', 'describe', '--model', model);
    expect(described.code).toBe(1);
  });

  it('rejects an unknown overlap policy and a bad backfill range with usage errors', async () => {
    expect((await retrain('schedule', 'create', '--model', model, '--overlap', 'sometimes')).code).toBe(2);
    expect((await retrain('schedule', 'backfill', '--model', model, '--from', 'yesterday')).code).toBe(2);
  });
});

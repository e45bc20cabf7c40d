import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TriggersSchema } from '../../common/triggers';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { TriggerHistory } from '../../storage/trigger-history';
import { loadConfig } from '../../config/config';
import { cliWith, type CliResult } from '../helpers/run-cli';
import { stubSpec, stubWorkers, type StubWorkers } from '../helpers/stub-workers';

describe('retrain triggers, and the monitor schedule that follows the spec', () => {
  let env: StubWorkers;
  let dir: string;
  let registry: ModelRegistry;
  let retrain: (...argv: string[]) => Promise<CliResult>;
  const made: string[] = [];

  beforeAll(async () => {
    env = await stubWorkers();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-triggers-cli-'));
    registry = new ModelRegistry(new FileBlobStore(dir));
    retrain = cliWith(
      loadConfig(
        {
          TEMPORAL_ADDRESS: inject('temporalAddress'),
          RETRAIN_STORE: `file://${dir}`,
          RETRAIN_TASK_QUEUE: env.taskQueue,
        },
        dir,
      ),
    );
  });
  afterAll(async () => {
    for (const model of made)
      await env.client.schedule
        .getHandle(`retrain-monitor-${model}`)
        .delete()
        .catch(() => {});
    await env?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  async function specFile(model: string, extra: object = {}): Promise<string> {
    const file = path.join(dir, `${model}.json`);
    await fs.writeFile(file, JSON.stringify({ ...stubSpec(model), ...extra }));
    made.push(model);
    return file;
  }

  const schedule = (model: string) => env.client.schedule.getHandle(`retrain-monitor-${model}`).describe();

  it('a spec without triggers creates no monitor schedule, and show says how to add some', async () => {
    const model = env.model();
    const created = await retrain('models', 'create', await specFile(model), '--json');
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).not.toHaveProperty('schedule');
    await expect(schedule(model)).rejects.toThrow(/not found/i);
    const shown = await retrain('triggers', 'show', '--model', model);
    expect(shown.stdout).toBe(
      `${model} declares no triggers; add some with: retrain triggers set --model ${model} --new-records 5000`,
    );
  });

  it('a spec with triggers gets a schedule checking every checkEvery; set, pause and resume change it', async () => {
    const model = env.model();
    const file = await specFile(model, { triggers: { newRecords: 500, checkEvery: '30m' } });
    const created = await retrain('models', 'create', file);
    expect(created.stdout).toContain(`; schedule retrain-monitor-${model} created`);
    const first = await schedule(model);
    expect(first.spec.intervals?.map((i) => i.every)).toEqual([30 * 60_000]);
    expect(first.action).toMatchObject({ workflowType: 'triggerCheckWorkflow', args: [{ model }] });

    const set = await retrain(
      'triggers',
      'set',
      '--model',
      model,
      '--live-error-increase-pct',
      '20',
      '--check-every',
      '1h',
      '--unset',
      'newRecords',
    );
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe(
      `${model}: triggers saved; schedule retrain-monitor-${model} updated (checks every 1h)`,
    );
    expect((await registry.loadSpec(model)).triggers).toEqual(
      TriggersSchema.parse({ liveErrorIncreasePct: 20, checkEvery: '1h' }),
    );
    expect((await schedule(model)).spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);

    expect((await retrain('triggers', 'pause', '--model', model)).code).toBe(0);
    expect((await schedule(model)).state.paused).toBe(true);
    const shown = JSON.parse((await retrain('triggers', 'show', '--model', model, '--json')).stdout) as {
      schedule: { paused: boolean };
      triggers: object;
    };
    expect(shown.schedule.paused).toBe(true);
    expect(shown.triggers).toMatchObject({ liveErrorIncreasePct: 20 });
    // An update keeps the schedule paused.
    await retrain('triggers', 'set', '--model', model, '--cool-down', '1d');
    expect((await schedule(model)).state.paused).toBe(true);
    expect((await retrain('triggers', 'resume', '--model', model)).code).toBe(0);
    expect((await schedule(model)).state.paused).toBe(false);

    const none = await retrain('triggers', 'set', '--model', model, '--none');
    expect(none.stdout).toBe(`${model}: triggers removed; schedule retrain-monitor-${model} deleted`);
    expect((await registry.loadSpec(model)).triggers).toBeUndefined();
    await expect(schedule(model)).rejects.toThrow(/not found/i);
    const paused = await retrain('triggers', 'pause', '--model', model);
    expect(paused.code).toBe(1);
    expect(paused.stderr).toContain(`${model} has no monitor schedule retrain-monitor-${model}`);
  });

  it('refuses bad triggers naming the field, and keeps the stored spec', async () => {
    const model = env.model();
    await retrain('models', 'create', await specFile(model, { triggers: { driftPsi: 0.2 } }));
    const before = await registry.getSpec(model);
    for (const [flags, message] of [
      [['--check-every', '10s'], 'triggers.checkEvery: checkEvery must be at least 1m'],
      [['--drift-psi', 'lots'], 'triggers.driftPsi'],
      [['--unset', 'driftPsi'], 'triggers need at least one of newRecords, liveErrorIncreasePct, driftPsi'],
      [['--unset', 'sometimes'], '--unset names no trigger field: sometimes'],
    ] as const) {
      const bad = await retrain('triggers', 'set', '--model', model, ...flags);
      expect(bad.code, `${flags.join(' ')}: ${bad.stderr}`).toBe(2);
      expect(bad.stderr).toContain(message);
    }
    expect(await registry.getSpec(model)).toEqual(before);
  });

  it('check runs one evaluation now and records it; show lists it', async () => {
    const model = env.model({
      measureTriggers: async () => ({
        triggers: TriggersSchema.parse({ newRecords: 100 }),
        figures: { production: 'v2', newRecords: 40, drift: {} },
        scanned: { predictions: 0, records: 40 },
      }),
      recordEvaluation: (e) => new TriggerHistory(registry.store).record(e),
    });
    await retrain('models', 'create', await specFile(model, { triggers: { newRecords: 100 } }));
    const checked = await retrain('triggers', 'check', '--model', model);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.stdout).toBe(
      "not triggered: 40 new records since v2's training window (< 100)\n  held  newRecords: 40 new records since v2's training window (< 100)",
    );
    const shown = await retrain('triggers', 'show', '--model', model);
    expect(shown.stdout).toMatch(/^AT +DECISION +RUN +REASON$/m);
    expect(shown.stdout).toMatch(
      /notTriggered +- +not triggered: 40 new records since v2's training window \(< 100\)$/m,
    );
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { admissionUpdate } from '../../common/messages';
import type { RetrainRequest } from '../../common/retrain';
import { TriggersSchema, type LastRun, type TriggerEvaluation } from '../../common/triggers';
import type { MeasuredTriggers } from '../../activities/measure-triggers';
import { retrainWorkflow, triggerCheckWorkflow } from '../../workflows';
import { WEBHOOK_SECRET } from '../helpers/check-worker-child';
import { eventually } from '../helpers/eventually';
import { historyEvents } from '../helpers/history';
import { stubWorkers, type StubWorkers } from '../helpers/stub-workers';
import { webhookProblem } from '../helpers/webhook-receiver';
import { testWorkflowBundle } from '../helpers/workflow-bundle';

const ROOT = path.resolve(__dirname, '..', '..');

/** Figures over the thresholds of both triggers: new records and drift fire at once. */
function firing(lastRun?: LastRun): MeasuredTriggers {
  return {
    triggers: TriggersSchema.parse({ newRecords: 10, driftPsi: 0.2, coolDown: '6h' }),
    figures: { production: 'v1', newRecords: 25, drift: { flights: 0.4 } },
    ...(lastRun ? { lastRun } : {}),
    scanned: { predictions: 0, records: 25 },
  };
}

/** A model whose trigger history lives in memory, as TriggerHistory keeps it in the store. */
function recordingModel(env: StubWorkers, overrides: Parameters<StubWorkers['model']>[0] = {}) {
  const recorded: TriggerEvaluation[] = [];
  const model = env.model({
    measureTriggers: async () => {
      const last = recorded.filter((e) => e.decision === 'started').at(-1);
      return firing(last ? { workflowId: last.workflowId!, at: last.at, what: 'triggered' } : undefined);
    },
    recordEvaluation: async (e) => {
      recorded.push(e);
    },
    ...overrides,
  });
  return { model, recorded };
}

async function runsOf(client: Client, model: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const run of client.workflow.list({
    query: `WorkflowType = 'retrainWorkflow' AND ModelName = '${model}'`,
  }))
    ids.push(run.workflowId);
  return ids;
}

describe('trigger checks', () => {
  let env: StubWorkers;
  beforeAll(async () => {
    env = await stubWorkers();
  });
  afterAll(async () => env?.close());

  const check = (model: string) =>
    env.client.workflow.execute(triggerCheckWorkflow, {
      taskQueue: env.taskQueue,
      workflowId: `retrain-monitor-${model}-${randomUUID()}`,
      args: [{ model }],
    });

  it('two triggers firing at once start one run, with the trigger and its figures in its input and summary', async () => {
    const { model, recorded } = recordingModel(env);
    const evaluation = await check(model);
    expect(evaluation.decision).toBe('started');
    expect(evaluation.reason).toBe(
      "triggered: 25 new records since v1's training window (>= 10); PSI of flights 0.4000 > 0.2",
    );
    expect(recorded).toEqual([evaluation]);
    const run = env.client.workflow.getHandle(evaluation.workflowId!);
    expect(await run.result()).toMatchObject({ status: 'completed', version: 'v1' });
    const description = await run.describe();
    expect(await description.staticSummary()).toBe(`Retrain ${model} (trigger: newRecords, drift)`);
    const input = (await description.memo)?.input as RetrainRequest;
    expect(input.trigger).toEqual({
      kinds: ['newRecords', 'drift'],
      reason: evaluation.reason,
      checkWorkflowId: evaluation.checkWorkflowId,
      figures: evaluation.figures,
    });
    expect(evaluation.figures).toEqual(firing().figures);
    expect(
      await eventually(
        'the run in the list',
        async () => (await runsOf(env.client, model)).length === 1 && runsOf(env.client, model),
      ),
    ).toEqual([evaluation.workflowId]);
  });

  it('the next check within the cool-down records why it started nothing', async () => {
    const { model, recorded } = recordingModel(env);
    const first = await check(model);
    await env.client.workflow.getHandle(first.workflowId!).result();
    const second = await check(model);
    expect(second.decision).toBe('coolingDown');
    expect(second.reason).toMatch(
      new RegExp(
        `^not started: .*; but ${first.workflowId} \\(triggered\\) was \\d+ min ago, within the cool-down of 6h$`,
      ),
    );
    expect(second.workflowId).toBeUndefined();
    expect(recorded.map((e) => e.decision)).toEqual(['started', 'coolingDown']);
  });

  it('a check while a run holds the model starts nothing and names the run', async () => {
    const { model, recorded } = recordingModel(env, {
      trainModel: async () => {
        const ctx = Context.current();
        for (;;) {
          ctx.heartbeat();
          await ctx.sleep(50);
        }
      },
    });
    const holder = `retrain-${model}-by-hand`;
    const handle = await env.client.workflow.start(retrainWorkflow, {
      taskQueue: env.taskQueue,
      workflowId: holder,
      args: [{ model }],
    });
    try {
      expect(await handle.executeUpdate(admissionUpdate)).toEqual({ admitted: true });
      const evaluation = await check(model);
      expect(evaluation.decision).toBe('busy');
      expect(evaluation.reason).toMatch(
        new RegExp(`; but ${holder} is retraining ${model} \\(one run per model\\)$`),
      );
      expect(recorded).toHaveLength(1);
    } finally {
      await handle.cancel();
    }
  });

  it('a model whose spec declares no triggers is checked without starting anything', async () => {
    const model = env.model();
    const evaluation = await check(model);
    expect(evaluation).toMatchObject({
      decision: 'noTriggers',
      reason: 'not triggered: the spec declares no triggers',
    });
    expect(await runsOf(env.client, model)).toEqual([]);
  });
});

describe('a worker killed during a check', () => {
  let codePath: string;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    codePath = await testWorkflowBundle();
  }, 120_000);
  afterAll(() => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  async function startChild(
    taskQueue: string,
    mode: 'hang' | 'deliver-hang' | 'pass',
    waitFor: string,
    webhook?: string,
  ) {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join('test', 'helpers', 'check-worker-child.ts'),
        inject('temporalAddress'),
        taskQueue,
        codePath,
        mode,
        ...(webhook ? [webhook] : []),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(child);
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.stderr.on('data', (c: Buffer) => (text += c.toString()));
    await eventually(
      `the ${mode} worker to say ${waitFor}`,
      () => {
        if (child.exitCode !== null) throw new Error(`worker exited: ${text}`);
        return text.includes(waitFor);
      },
      60_000,
    );
    return { child, output: () => text };
  }

  it('leaves exactly one run: the check replays on the next worker and finds its start in its history', async () => {
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    const client = new Client({ connection });
    try {
      const taskQueue = `check-kill-${randomUUID()}`;
      const model = `m-${randomUUID().slice(0, 8)}`;
      const first = await startChild(taskQueue, 'hang', 'polling');
      const handle = await client.workflow.start(triggerCheckWorkflow, {
        taskQueue,
        workflowId: `retrain-monitor-${model}-${randomUUID()}`,
        args: [{ model }],
      });
      // The run is started and the check is recording its evaluation: kill the worker there.
      await eventually('the check to record', () => first.output().includes('recording'), 60_000);
      first.child.kill('SIGKILL');
      await once(first.child, 'exit');
      await startChild(taskQueue, 'pass', 'polling');
      const evaluation = await handle.result();
      expect(evaluation.decision).toBe('started');
      const events = await historyEvents(handle);
      const starts = events.filter(
        (e) =>
          e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name === 'retrainWorkflow',
      );
      expect(starts.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId)).toEqual([
        evaluation.workflowId,
      ]);
      // The killed worker's attempt at recording timed out and a second one finished the check.
      const recordings = events.filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'recordEvaluation',
      );
      expect(recordings).toHaveLength(1);
      const recorded = events.find(
        (e) =>
          e.activityTaskStartedEventAttributes &&
          Number(e.activityTaskStartedEventAttributes.scheduledEventId) === Number(recordings[0]!.eventId),
      );
      expect(recorded?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThan(1);
      expect(await client.workflow.getHandle(evaluation.workflowId!).result()).toMatchObject({
        status: 'completed',
      });
      expect(
        await eventually('the run in the list', async () => {
          const ids = await runsOf(client, model);
          return ids.length > 0 && ids;
        }),
      ).toEqual([evaluation.workflowId]);
    } finally {
      await connection.close();
    }
  }, 120_000);

  it('an event its worker was delivering when it died is delivered by the next worker, with its id', async () => {
    const received: { id: string; body: string; problem: string | undefined }[] = [];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push({
          id: String(req.headers['webhook-id']),
          body,
          problem: webhookProblem(WEBHOOK_SECRET, req.headers, body),
        });
        res.writeHead(204).end();
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    const webhook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
    const connection = await Connection.connect({ address: inject('temporalAddress') });
    const client = new Client({ connection });
    try {
      const taskQueue = `deliver-kill-${randomUUID()}`;
      const model = `m-${randomUUID().slice(0, 8)}`;
      const first = await startChild(taskQueue, 'deliver-hang', 'polling', webhook);
      const handle = await client.workflow.start(triggerCheckWorkflow, {
        taskQueue,
        workflowId: `retrain-monitor-${model}-${randomUUID()}`,
        args: [{ model }],
      });
      await eventually('a delivery under way', () => first.output().includes('delivering'), 60_000);
      first.child.kill('SIGKILL');
      await once(first.child, 'exit');
      expect(received).toEqual([]);
      await startChild(taskQueue, 'pass', 'polling', webhook);
      const evaluation = await handle.result();
      const relayed = await eventually(
        'the evaluation event at the webhook',
        () => {
          const mine = received.filter((r) => r.id.startsWith(`${handle.workflowId}/`));
          return mine.length > 0 && mine;
        },
        90_000,
      );
      expect(relayed.map((r) => r.id)).toEqual([`${handle.workflowId}/${handle.firstExecutionRunId}/1`]);
      expect(relayed[0]!.problem).toBeUndefined();
      expect(JSON.parse(relayed[0]!.body)).toMatchObject({
        type: 'retrain.trigger.evaluated',
        data: { decision: evaluation.decision, workflowId: evaluation.workflowId },
      });
    } finally {
      receiver.close();
      await connection.close();
    }
  }, 150_000);
});

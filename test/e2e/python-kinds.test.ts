import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainHeartbeatSchema, type TrainHeartbeat } from '../../common/heartbeat';
import type { ModelSpec, ModelSpecInput } from '../../common/model-spec';
import type { TrainResult } from '../../common/stages';
import { pythonTaskQueueFor } from '../../common/task-queues';
import type { InferenceServer } from '../../serving/server';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import { pendingActivity } from '../helpers/pending-activity';
import {
  createPipeline,
  flightSpec,
  PERMISSIVE_GATE,
  TEST_FLIGHTS,
  type Pipeline,
} from '../helpers/pipeline';
import { holdoutCases, sameAnswer } from '../helpers/python-holdout';
import { predict, servePipeline, startPipelinePythonWorker } from '../helpers/python-pipeline';
import { pythonForTests, type PythonWorker } from '../helpers/python-worker';

const API_KEY = 'python-kinds-key-0123456789';

/**
 * One built-in kind and a task it does, on the test flights (12 airports, three weeks, hourly),
 * sized so that training lasts seconds on a loaded 2-core machine: long enough to be killed
 * mid-way, short enough for seven kinds in one file.
 */
interface KindCase {
  kind: string;
  /** Checkpoints during training (boosting rounds, forest steps, epochs), or once after a single fit. */
  checkpoints: 'mid-training' | 'single-shot';
  spec: Partial<ModelSpecInput>;
}

const forecast = (kind: string, epochs: number, params: Record<string, unknown>): KindCase => ({
  kind,
  checkpoints: 'mid-training',
  spec: { epochs, hyperparams: { architecture: kind, params, seed: 7 } },
});

const CASES: KindCase[] = [
  forecast('xgboost', 1000, { max_depth: 6, learning_rate: 0.02, checkpoint_every: 25 }),
  forecast('lightgbm', 1000, { num_leaves: 63, learning_rate: 0.02, checkpoint_every: 25 }),
  forecast('random-forest', 1, { n_estimators: 160, max_depth: 12, trees_per_step: 10 }),
  forecast('mlp', 40, { hidden: [64, 64], batch_size: 32, learning_rate: 0.001 }),
  forecast('lstm', 15, { hidden_size: 32, batch_size: 32, learning_rate: 0.002 }),
  {
    // Binary: an hour whose mean delay is above 15 minutes, next hour. saga without a tolerance runs every pass.
    kind: 'logistic',
    checkpoints: 'single-shot',
    spec: {
      task: 'classify',
      threshold: 15,
      hyperparams: { architecture: 'logistic', params: { solver: 'saga', max_iter: 4000, tol: 0 }, seed: 7 },
    },
  },
  {
    // Segments of airport-hours (tabular: the row itself); many seeded restarts make the fit last seconds.
    kind: 'kmeans',
    checkpoints: 'single-shot',
    spec: {
      task: 'cluster',
      target: undefined,
      horizon: 0,
      lookback: 1,
      hyperparams: { architecture: 'kmeans', params: { n_clusters: 5, n_init: 400 }, seed: 7 },
    },
  },
];

interface Attempt {
  attempt: number;
  heartbeat: TrainHeartbeat | undefined;
}

/** The pending trainModel as the server sees it: attempt and last heartbeat (undefined before the first). */
async function training(handle: WorkflowHandle): Promise<Attempt | undefined> {
  const pending = await pendingActivity(handle, 'trainModel');
  if (!pending?.started) return undefined;
  const parsed = TrainHeartbeatSchema.safeParse(pending.heartbeat);
  return { attempt: pending.attempt, heartbeat: parsed.success ? parsed.data : undefined };
}

/** The JSON log lines of a worker whose `msg` is `msg`. */
function logged(worker: PythonWorker, msg: string): Record<string, unknown>[] {
  return worker.lines.flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      return parsed.msg === msg ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

/*
 * Every built-in kind of the python trainer through the real pipeline: retrainWorkflow exports the
 * flights, the Temporal Python worker (a child process) trains the kind and is SIGKILLed mid-training
 * (once the server holds a heartbeat naming a checkpoint, or for single-fit kinds while the fit runs),
 * a new worker takes the retry after the 30 s heartbeat timeout, resumes from that checkpoint,
 * and the run registers an ONNX version whose /predict answers are the trainer's own holdout answers.
 */
describe(
  'every python kind: killed mid-training, resumed, registered and served',
  { timeout: 900_000 },
  () => {
    let python: string;
    let pipeline: Pipeline;
    let server: InferenceServer;
    let serverUrl: string;
    const specs = new Map<string, ModelSpec>();
    const workers: PythonWorker[] = [];

    beforeAll(async () => {
      python = pythonForTests();
      pipeline = await createPipeline({ gate: PERMISSIVE_GATE });
      for (const c of CASES) {
        const spec = flightSpec({ ...c.spec, trainer: 'python', gate: PERMISSIVE_GATE });
        await pipeline.deps.registry.saveSpec(spec);
        specs.set(c.kind, spec);
      }
      await loadFlightsIntoBuffer(
        pipeline.deps.buffer,
        [...specs.values()].map((s) => s.name),
        TEST_FLIGHTS,
      );
      ({ server, url: serverUrl } = await servePipeline(pipeline, API_KEY));
    });

    afterAll(async () => {
      for (const worker of workers.splice(0)) await worker.stop();
      await server?.app.close();
      await pipeline?.cleanup();
    });

    const startWorker = async () => {
      const worker = await startPipelinePythonWorker(pipeline, {
        python,
        // Two shared cores: OpenMP's threads per library only fight each other here.
        env: { OMP_NUM_THREADS: '1' },
      });
      workers.push(worker);
      return worker;
    };

    it.each(CASES)(
      '$kind ($checkpoints): SIGKILL mid-training, a new worker resumes, an ONNX version answers as the trainer',
      async ({ kind, checkpoints }) => {
        const spec = specs.get(kind) as ModelSpec;
        const { client, deps, taskQueue } = pipeline;
        const workflowId = `retrain-${spec.name}-${kind}-sigkill`;
        const prefix = `checkpoints/${spec.name}/${workflowId}`;
        const started = Date.now();
        const run = await pipeline.withWorkers(
          async () => {
            const first = await startWorker();
            const handle = await client.workflow.start(retrainWorkflow, {
              taskQueue,
              workflowId,
              args: [{ model: spec.name, incremental: false, reloadTargets: [serverUrl] }],
            });
            // Checkpointing kinds: the server holds a heartbeat that names a checkpoint. Single fits:
            // the training has heartbeaten (it started) and has no checkpoint yet (the fit runs).
            const seen = await eventually(
              checkpoints === 'mid-training'
                ? `a ${kind} heartbeat naming a checkpoint`
                : `a ${kind} heartbeat of the first attempt, mid-fit`,
              async () => {
                const now = await training(handle);
                if (now?.attempt !== 1 || !now.heartbeat) return undefined;
                return checkpoints === 'single-shot' || now.heartbeat.checkpoint ? now.heartbeat : undefined;
              },
              240_000,
              50,
            );
            first.child.kill('SIGKILL');
            await first.stop();
            const killedAt = Date.now();
            const atKill = {
              signal: first.child.signalCode,
              candidate: (await deps.store.get(`${prefix}/final/candidate.json`)) !== undefined,
              checkpoint: (await deps.store.get(`${prefix}/epoch-1/state.json`)) !== undefined,
            };
            const second = await startWorker();
            try {
              const result = await handle.result();
              return { handle, seen, atKill, killedAt, first, second, result };
            } finally {
              await second.stop();
            }
          },
          { gpu: false },
        );

        expect(run.atKill.signal).toBe('SIGKILL');
        expect(run.result.status, run.result.reason).toBe('completed');
        expect(run.result.version).toBe('v1');
        // The killed attempt never finished: no candidate, and the retry (attempt 2) is what completed.
        expect(run.atKill.candidate).toBe(false);
        const events = await historyEvents(run.handle);
        const [train, ...more] = scheduled(events, 'trainModel');
        expect(more).toEqual([]);
        expect(train?.taskQueue).toBe(pythonTaskQueueFor(taskQueue, 'cpu'));
        const [outcome] = outcomes<TrainResult>(events, train?.eventId ?? -1);
        expect(outcome?.kind).toBe('completed');
        expect(outcome?.attempt).toBe(2);
        expect(logged(run.first, 'training started').map((l) => l.attempt)).toEqual([1]);
        expect(logged(run.first, 'training finished')).toEqual([]);
        expect(logged(run.second, 'training started').map((l) => l.attempt)).toEqual([2]);

        const resumedFrom = outcome?.result?.resumedFrom;
        if (checkpoints === 'mid-training') {
          // Resumed from the checkpoint the server had seen, or a later one it heard of before the kill.
          const seenKey = run.seen.checkpoint?.key ?? '';
          expect(seenKey).toMatch(new RegExp(`^${prefix}/epoch-\\d+$`));
          expect(resumedFrom).toMatch(new RegExp(`^${prefix}/epoch-\\d+$`));
          const epochOf = (key: string) => Number(/epoch-(\d+)$/.exec(key)?.[1]);
          expect(epochOf(resumedFrom ?? '')).toBeGreaterThanOrEqual(epochOf(seenKey));
          expect(epochOf(resumedFrom ?? '')).toBeLessThan(run.seen.totalEpochs);
          expect(logged(run.second, 'resuming from checkpoint').map((l) => l.checkpoint)).toEqual([
            resumedFrom,
          ]);
          expect(run.result.stages.find((s) => s.name === 'trainModel')?.summary).toContain(
            `resumed from ${resumedFrom}`,
          );
        } else {
          // Killed inside the fit, before its one checkpoint: the retry fits again from the start.
          expect(run.atKill.checkpoint).toBe(false);
          expect(resumedFrom).toBeUndefined();
          expect(logged(run.second, 'resuming from checkpoint')).toEqual([]);
        }

        const meta = await deps.registry.getMetadata(spec.name, 'v1');
        expect(meta?.format).toBe('onnx');
        const cases = await holdoutCases({
          store: deps.store,
          registry: deps.registry,
          spec,
          workflowId,
          version: 'v1',
          dir: pipeline.dir,
          ks: [0, 1, 17, -2, -1],
        });
        const worst = { diff: 0 };
        for (const sample of cases) {
          const { status, text, body } = await predict<{
            version: string;
            predictions: Record<string, unknown>[];
          }>(serverUrl, spec.name, sample.rows);
          expect(status, text).toBe(200);
          expect(body.version).toBe('v1');
          const answer = body.predictions.at(-1) as { value: number; entity?: string; label?: unknown };
          expect(answer.entity).toBe(sample.entity);
          expect(
            sameAnswer(answer.value, sample.expected),
            `holdout row ${sample.k}: /predict ${answer.value}, trainer ${sample.expected}`,
          ).toBe(true);
          if (spec.task === 'classify') expect(answer.label).toBe(answer.value >= 0.5 ? 1 : 0);
          if (spec.task === 'cluster') expect(Number.isInteger(answer.value)).toBe(true);
          worst.diff = Math.max(worst.diff, Math.abs(answer.value - sample.expected));
        }
        console.info(
          `[python-kinds] ${kind}: killed ${((run.killedAt - started) / 1000).toFixed(1)} s after the start ` +
            `(heartbeat epoch ${run.seen.epoch}/${run.seen.totalEpochs}, checkpoint ${run.seen.checkpoint?.key ?? 'none'}); ` +
            `resumed from ${resumedFrom ?? 'the start'}; run ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
            `${cases.length} /predict answers, largest difference ${worst.diff.toExponential(2)}`,
        );
      },
    );
  },
);

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelSpecSchema } from '../../common/model-spec';
import type { InferenceServer } from '../../serving/server';
import { ROOT } from '../../scripts/lib/processes';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import { holdoutCases, sameAnswer } from '../helpers/python-holdout';
import { predict, retrainOnCpu, servePipeline, startPipelinePythonWorker } from '../helpers/python-pipeline';
import type { PythonWorker } from '../helpers/python-worker';

const API_KEY = 'python-user-trainer-key-0123456789';
/** The worked example of trainers/python/README.md: registers the kind `ridge`. */
const EXAMPLE = path.join(ROOT, 'trainers', 'python', 'examples', 'ridge_trainer.py');

/*
 * A user-defined trainer end to end: the Python worker started with RETRAIN_PY_TRAINERS naming the
 * README's example module, a spec whose architecture is that trainer's name (`ridge`, which the
 * TypeScript side has no table for), trained through retrainWorkflow, registered as an ONNX version
 * and served by /predict with the trainer's own holdout answers.
 */
describe('a user-defined python trainer end to end', { timeout: 600_000 }, () => {
  let pipeline: Pipeline;
  let worker: PythonWorker;
  let server: InferenceServer;
  let serverUrl: string;

  beforeAll(async () => {
    pipeline = await createPipeline({
      trainer: 'python',
      hyperparams: { architecture: 'ridge', params: { alpha: 0.5 }, seed: 2 },
      gate: PERMISSIVE_GATE,
    });
    ({ server, url: serverUrl } = await servePipeline(pipeline, API_KEY));
    worker = await startPipelinePythonWorker(pipeline, {
      env: { RETRAIN_PY_TRAINERS: EXAMPLE, OMP_NUM_THREADS: '1' },
    });
  });

  afterAll(async () => {
    await server?.app.close();
    await worker?.stop();
    await pipeline?.cleanup();
  });

  it('a spec naming the example trainer `ridge` parses with its params unchecked by TypeScript', () => {
    const { spec } = pipeline;
    expect(spec.trainer).toBe('python');
    expect(spec.hyperparams).toMatchObject({ architecture: 'ridge', params: { alpha: 0.5 } });
    // The worker says which user trainers it loaded.
    const polling = worker.lines.find((line) => line.includes('python trainer worker polling')) ?? '';
    expect((JSON.parse(polling) as { userTrainers: unknown }).userTrainers).toEqual(['ridge']);
    // Its params are the worker's to check: any object passes the spec schema.
    expect(
      ModelSpecSchema.safeParse({ ...spec, hyperparams: { ...spec.hyperparams, params: { alpha: 'x' } } })
        .success,
    ).toBe(true);
  });

  it('trains through retrainWorkflow, registers an ONNX version and /predict answers as the trainer', async () => {
    const { spec, deps } = pipeline;
    const workflowId = `retrain-${spec.name}-ridge`;
    const result = await retrainOnCpu(pipeline, spec.name, workflowId, serverUrl);
    expect(result.status, result.reason).toBe('completed');
    expect(result.version).toBe('v1');
    expect(result.backend).toBe('user:ridge cpu');
    const meta = await deps.registry.getMetadata(spec.name, 'v1');
    expect(meta?.format).toBe('onnx');
    const candidate = await deps.store.get(`checkpoints/${spec.name}/${workflowId}/final/candidate.json`);
    expect(JSON.parse(Buffer.from(candidate?.body ?? []).toString('utf8'))).toMatchObject({
      format: 'onnx',
      kind: 'ridge',
      params: { alpha: 0.5 },
    });

    const info = await fetch(`${serverUrl}/admin/model-info?model=${spec.name}`, {
      headers: { 'x-api-key': API_KEY },
    });
    expect(await info.json()).toMatchObject({ version: 'v1', format: 'onnx' });
    const cases = await holdoutCases({
      store: deps.store,
      registry: deps.registry,
      spec,
      workflowId,
      version: 'v1',
      dir: pipeline.dir,
      ks: [0, 3, 50, -1],
    });
    for (const sample of cases) {
      const { status, body } = await predict<{
        version: string;
        predictions: { entity: string; value: number }[];
      }>(serverUrl, spec.name, sample.rows);
      expect(status).toBe(200);
      expect(body.version).toBe('v1');
      expect(body.predictions[0]?.entity).toBe(sample.entity);
      const served = body.predictions[0]?.value as number;
      expect(sameAnswer(served, sample.expected), `/predict ${served}, trainer ${sample.expected}`).toBe(
        true,
      );
    }
  });
});

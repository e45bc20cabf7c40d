import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CPU_TASK_QUEUE, GPU_TASK_QUEUE } from '../../common/task-queues';
import { STAGES } from '../../common/retrain';
import { ModelNameAttribute } from '../../common/messages';
import { createServer, type InferenceServer } from '../../serving/server';
import { retrainWorkflow } from '../../workflows';
import { createPipeline, PERMISSIVE_GATE, predictOrd, type Pipeline } from '../helpers/pipeline';

const API_KEY = 'e2e-test-key-0123456789';

describe('retrainWorkflow end to end on the real dev server', () => {
  let pipeline: Pipeline;
  let server: InferenceServer;
  let serverUrl: string;

  beforeAll(async () => {
    // The production queue names: this file is the only one that polls them.
    pipeline = await createPipeline({ gate: PERMISSIVE_GATE }, CPU_TASK_QUEUE);
    pipeline.deps.apiKey = API_KEY;
    // The production path: native TensorFlow (the binding tfjs-node-gpu shares), built by setup.
    pipeline.deps.backend = 'tensorflow';
    server = createServer({ registry: pipeline.deps.registry, apiKey: API_KEY });
    await server.loadProductionModels();
    serverUrl = await server.app.listen({ host: '127.0.0.1', port: 0 });
    // A member of the fleet (its static list), so the runs' reloadTargets may name it.
    pipeline.deps.servingUrls = [serverUrl];
  });

  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
  });

  it('runs the five stages in order, trains on retrain-gpu with native TensorFlow, and the server answers with the registered version', async () => {
    const { client, spec } = pipeline;
    const workflowId = `retrain-${spec.name}-e2e-${Date.now()}`;
    const result = await pipeline.withWorkers(async () => {
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue: CPU_TASK_QUEUE,
        workflowId,
        args: [{ model: spec.name, reloadTargets: [serverUrl] }],
        typedSearchAttributes: [{ key: ModelNameAttribute, value: spec.name }],
      });
      return handle.result();
    });

    expect(result.status, result.reason).toBe('completed');
    expect(result.stages.map((s) => s.name)).toEqual([...STAGES]);
    expect(result.stages.every((s) => s.status === 'completed')).toBe(true);
    expect(result.version).toBe('v1');

    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes)
      .filter((a) => a !== null && a !== undefined)
      .map((a) => ({ type: a.activityType?.name, queue: a.taskQueue?.name }))
      .filter((a) => a.type !== 'loadRunSettings');
    expect(scheduled).toEqual([
      { type: 'exportDataset', queue: CPU_TASK_QUEUE },
      { type: 'trainModel', queue: GPU_TASK_QUEUE },
      { type: 'validateModel', queue: CPU_TASK_QUEUE },
      { type: 'registerModel', queue: CPU_TASK_QUEUE },
      { type: 'reloadServers', queue: CPU_TASK_QUEUE },
    ]);

    const alias = await pipeline.deps.registry.getAlias(spec.name);
    expect(alias?.value.version).toBe(result.version);
    const metadata = await pipeline.deps.registry.getMetadata(spec.name, 'v1');
    expect(metadata?.backend).toBe('tensorflow');
    expect(metadata?.workflowId).toBe(workflowId);

    const predicted = await predictOrd(serverUrl, spec.name);
    expect(predicted.status).toBe(200);
    const body = (await predicted.json()) as {
      version: string;
      predictions: { entity: string; value: number }[];
    };
    expect(body.version).toBe(result.version);
    expect(body.predictions).toHaveLength(1);
    expect(body.predictions[0]?.entity).toBe('ORD');
    expect(Number.isFinite(body.predictions[0]?.value)).toBe(true);
  });
});

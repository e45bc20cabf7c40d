import { randomUUID } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { ModelNameAttribute } from '../../common/messages';
import { STAGES } from '../../common/retrain';
import { createServer, type InferenceServer } from '../../serving/server';
import { openBlobStore } from '../../storage/open-store';
import { retrainWorkflow } from '../../workflows';
import { loadConfig } from '../../config/config';
import { ensureBucket, removeBucket } from '../helpers/minio';
import { createPipeline, PERMISSIVE_GATE, predictOrd, type Pipeline } from '../helpers/pipeline';

const API_KEY = 'minio-e2e-key-0123456789';

describe('retrainWorkflow end to end with the registry on S3 (MinIO)', () => {
  const minio = inject('minio');
  const bucket = `test-pipeline-${randomUUID().slice(0, 8)}`;
  let pipeline: Pipeline;
  let server: InferenceServer;
  let serverUrl: string;

  beforeAll(async () => {
    await ensureBucket(minio, bucket);
    // The store comes from the environment the way workers build it: RETRAIN_STORE=s3://... plus S3 settings.
    const config = loadConfig(
      {
        RETRAIN_STORE: `s3://${bucket}/registry`,
        S3_ENDPOINT: minio.endpoint,
        AWS_REGION: minio.region,
        AWS_ACCESS_KEY_ID: minio.accessKeyId,
        AWS_SECRET_ACCESS_KEY: minio.secretAccessKey,
        RETRAIN_API_KEY: API_KEY,
      },
      '/nonexistent',
    );
    pipeline = await createPipeline(
      { gate: PERMISSIVE_GATE },
      undefined,
      openBlobStore(config.store, config.s3),
    );
    pipeline.deps.apiKey = config.apiKey;
    server = createServer({ registry: pipeline.deps.registry, apiKey: config.apiKey });
    await server.loadProductionModels();
    serverUrl = await server.app.listen({ host: '127.0.0.1', port: 0 });
    // A member of the fleet (its static list), so the runs' reloadTargets may name it.
    pipeline.deps.servingUrls = [serverUrl];
  });

  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
    await removeBucket(minio, bucket);
  });

  it('exports, trains, validates, registers on S3 and reloads a server that reads the same bucket', async () => {
    const { client, spec, taskQueue, deps } = pipeline;
    expect(deps.store.uri).toBe(`s3://${bucket}/registry`);
    const workflowId = `retrain-${spec.name}-minio-${Date.now()}`;
    const result = await pipeline.withWorkers(() =>
      client.workflow.execute(retrainWorkflow, {
        taskQueue,
        workflowId,
        args: [{ model: spec.name, reloadTargets: [serverUrl] }],
        typedSearchAttributes: [{ key: ModelNameAttribute, value: spec.name }],
      }),
    );

    expect(result.status, result.reason).toBe('completed');
    expect(result.stages.map((s) => [s.name, s.status])).toEqual(STAGES.map((s) => [s, 'completed']));
    expect(result.version).toBe('v1');

    const keys = await deps.store.list(`models/${spec.name}/`);
    expect(keys).toEqual(
      expect.arrayContaining([
        `models/${spec.name}/spec.json`,
        `models/${spec.name}/aliases/production.json`,
        ...['claim.json', 'metadata.json', 'model.json', 'weights.bin'].map(
          (f) => `models/${spec.name}/versions/v1/${f}`,
        ),
      ]),
    );
    expect(await deps.store.list(`datasets/${spec.name}/${workflowId}/`)).toEqual([
      `datasets/${spec.name}/${workflowId}/manifest.json`,
      expect.stringMatching(new RegExp(`^datasets/${spec.name}/${workflowId}/rows-[0-9a-f-]{36}\\.parquet$`)),
    ]);
    expect((await deps.registry.getAlias(spec.name))?.value).toMatchObject({
      version: 'v1',
      previous: null,
      workflowId,
    });
    const metadata = await deps.registry.getMetadata(spec.name, 'v1');
    expect(metadata).toMatchObject({ workflowId, backend: 'cpu', gate: { passed: true, metric: 'mase' } });
    expect(Object.keys(metadata!.baselines).sort()).toEqual(['constant', 'lastValue', 'sameHourDayBefore']);
    expect(metadata!.baselines.sameHourDayBefore!.coverage).toBeGreaterThan(0);

    const info = await fetch(`${serverUrl}/admin/model-info?model=${spec.name}`, {
      headers: { 'x-api-key': API_KEY },
    });
    expect(((await info.json()) as { version: string }).version).toBe('v1');
    const predicted = await predictOrd(serverUrl, spec.name);
    expect(predicted.status).toBe(200);
    expect(((await predicted.json()) as { version: string }).version).toBe('v1');
  });

  it('a second run compares with production v1, moves the alias by If-Match to v2 and reloads the server', async () => {
    const { client, spec, taskQueue, deps } = pipeline;
    const workflowId = `retrain-${spec.name}-minio-2-${Date.now()}`;
    const result = await pipeline.withWorkers(() =>
      client.workflow.execute(retrainWorkflow, {
        taskQueue,
        workflowId,
        args: [{ model: spec.name, reloadTargets: [serverUrl] }],
      }),
    );
    expect(result.status, result.reason).toBe('completed');
    expect(result.version).toBe('v2');
    expect(await deps.registry.listVersions(spec.name)).toEqual(['v1', 'v2']);
    expect((await deps.registry.getAlias(spec.name))?.value).toMatchObject({
      version: 'v2',
      previous: 'v1',
      workflowId,
    });
    const metadata = await deps.registry.getMetadata(spec.name, 'v2');
    expect(metadata?.production?.version).toBe('v1');
    expect(metadata?.parentVersion).toBe('v1');
    expect(server.pool.get(spec.name)?.version).toBe('v2');
  });
});

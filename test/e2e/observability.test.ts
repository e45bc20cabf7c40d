import path from 'node:path';
import { Writable } from 'node:stream';
import type { Logger as TemporalLogger } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerMetric } from '../../common/metric-names';
import { STAGES } from '../../common/retrain';
import { freePort } from '../../scripts/lib/processes';
import { createServer, type InferenceServer } from '../../serving/server';
import { BufferWriter } from '../../storage/buffer-writer';
import { Ingestor } from '../../storage/ingest';
import { loadConfig } from '../../config/config';
import { createLogger, REDACTED } from '../../config/logger';
import { workerRuntimeOptions } from '../../workers/runtime';
import { retrainWorkflow } from '../../workflows';
import { eventually } from '../helpers/eventually';
import { createPipeline, PERMISSIVE_GATE, predictOrd, type Pipeline } from '../helpers/pipeline';
import { samplesOf, scrape, type Sample } from '../helpers/prometheus';

const API_KEY = 'observe-test-key-0123456789';
const AWS_ACCESS_KEY_ID = 'AKIAOBSERVETEST00001';
const AWS_SECRET_ACCESS_KEY = 'observe/secret/access/key/0123456789abcdef';

/** Every line the process's Temporal Runtime and the server wrote, as text. */
const lines: string[] = [];
const capture = new Writable({
  write(chunk: Buffer, _encoding, done) {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    done();
  },
});
const logged = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

describe('logs and metrics of a real retrain', () => {
  let pipeline: Pipeline;
  let server: InferenceServer;
  let writer: BufferWriter;
  let serverUrl: string;
  let runtimeLogger: TemporalLogger;
  let run: { workflowId: string; runId: string; status: string; workerSamples: Sample[] };

  beforeAll(async () => {
    const port = await freePort();
    const workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
    // The Runtime is process-global and installed once: every worker of this file logs and exports
    // through it (each test file is its own process, so no other file sees it).
    const options = workerRuntimeOptions({
      logger: createLogger({ name: 'test-worker', level: 'debug', destination: capture }),
      metricsAddress: `127.0.0.1:${port}`,
    });
    runtimeLogger = options.logger as TemporalLogger;
    Runtime.install(options);
    pipeline = await createPipeline({ gate: PERMISSIVE_GATE });
    pipeline.deps.apiKey = API_KEY;
    writer = await BufferWriter.open(pipeline.deps.buffer, { retentionDays: 36500 });
    server = createServer({
      registry: pipeline.deps.registry,
      apiKey: API_KEY,
      ingestor: new Ingestor(pipeline.deps.registry, writer),
      logger: { destination: capture },
    });
    await server.loadProductionModels();
    serverUrl = await server.app.listen({ host: '127.0.0.1', port: 0 });
    // A member of the fleet (its static list), so the runs' reloadTargets may name it.
    pipeline.deps.servingUrls = [serverUrl];

    const { client, spec, taskQueue } = pipeline;
    const workflowId = `retrain-${spec.name}-observe-${Date.now()}`;
    run = await pipeline.withWorkers(async () => {
      const handle = await client.workflow.start(retrainWorkflow, {
        taskQueue,
        workflowId,
        args: [{ model: spec.name, reloadTargets: [serverUrl] }],
      });
      const result = await handle.result();
      // While the workers run: the Runtime, and its endpoint, close with the last of them.
      // Workflow metrics reach the exporter once the activation that recorded them completes.
      const workerSamples = await eventually('the run counted as ended on the workers', async () => {
        const now = await scrape(workerMetricsUrl);
        return samplesOf(now, WorkerMetric.runsEnded, { model: spec.name }).length > 0 && now;
      });
      return { workflowId, runId: handle.firstExecutionRunId, status: result.status, workerSamples };
    });
  });

  afterAll(async () => {
    await server?.app.close();
    await writer?.close();
    await pipeline?.cleanup();
  });

  it('the run completes (so every stage ran)', () => {
    expect(run.status).toBe('completed');
  });

  it('logs JSON lines; activity lines carry workflowId, runId, activityType, attempt, taskQueue and namespace', () => {
    const entries = logged();
    const { workflowId, runId } = run;
    const activity = entries.filter((e) => e.workflowId === workflowId && e.activityType !== undefined);
    for (const type of ['exportDataset', 'trainModel', 'validateModel', 'registerModel', 'reloadServers']) {
      const ofType = activity.filter((e) => e.activityType === type);
      expect(
        ofType.map((e) => e.msg),
        type,
      ).toEqual(expect.arrayContaining(['Activity started', 'Activity completed']));
      for (const entry of ofType)
        expect(entry, type).toMatchObject({ workflowId, runId, attempt: 1, namespace: 'default' });
    }
    expect(activity.find((e) => e.activityType === 'trainModel')?.taskQueue).toBe(
      `${pipeline.taskQueue}-gpu`,
    );
    expect(activity.find((e) => e.activityType === 'exportDataset')?.taskQueue).toBe(pipeline.taskQueue);
    expect(lines.join('\n')).not.toMatch(/taskToken/);
  });

  it("logs each stage's start and end from the workflow, with stage and model as fields", () => {
    const { workflowId, runId } = run;
    const model = pipeline.spec.name;
    const workflowLines = logged().filter(
      (e) => e.sdkComponent === 'workflow' && e.workflowId === workflowId,
    );
    for (const line of workflowLines) {
      expect(line).toMatchObject({ runId, workflowType: 'retrainWorkflow', taskQueue: pipeline.taskQueue });
      // Ids are fields, never part of the message.
      expect(String(line.msg)).not.toContain(workflowId);
      expect(String(line.msg)).not.toContain(model);
    }
    const stageLines = (msg: string) =>
      workflowLines.filter((e) => e.msg === msg).map((e) => ({ stage: e.stage, model: e.model }));
    const expected = STAGES.map((stage) => ({ stage, model }));
    expect(stageLines('stage started')).toEqual(expected);
    expect(stageLines('stage ended')).toEqual(expected);
    const ended = workflowLines.filter((e) => e.msg === 'stage ended');
    for (const line of ended)
      expect(line).toMatchObject({ status: 'completed', durationMs: expect.any(Number) });
    expect(workflowLines.find((e) => e.msg === 'run ended')).toMatchObject({
      model,
      outcome: 'completed',
      version: 'v1',
    });
  });

  it("exports retrain's series beside Temporal's on the workers' Prometheus endpoint, unprefixed", () => {
    const model = pipeline.spec.name;
    const queue = pipeline.taskQueue;
    const samples = run.workerSamples;
    const one = (name: string, labels: Record<string, string>): Sample => {
      const found = samplesOf(samples, name, labels);
      expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
      return found[0] as Sample;
    };
    // The SDK tags lang-side series in camelCase (taskQueue), Core's own in snake_case (task_queue).
    const workflowLabels = { model, namespace: 'default', taskQueue: queue, workflowType: 'retrainWorkflow' };
    const loggedDurationMs = (stage: string) =>
      logged().find(
        (e) =>
          e.sdkComponent === 'workflow' &&
          e.workflowId === run.workflowId &&
          e.msg === 'stage ended' &&
          e.stage === stage,
      )?.durationMs;
    expect(one(WorkerMetric.runsStarted, workflowLabels).value).toBe(1);
    expect(one(WorkerMetric.runsEnded, { ...workflowLabels, outcome: 'completed' }).value).toBe(1);
    for (const stage of STAGES) {
      const labels = { ...workflowLabels, stage, status: 'completed' };
      expect(one(`${WorkerMetric.stageDuration}_count`, labels).value, stage).toBe(1);
      expect(one(`${WorkerMetric.stageDuration}_bucket`, { ...labels, le: '+Inf' }).value).toBe(1);
      // The one observation is the stage's duration, as its "stage ended" line logs it.
      const durationMs = loggedDurationMs(stage);
      expect(durationMs, stage).toEqual(expect.any(Number));
      expect(one(`${WorkerMetric.stageDuration}_sum`, labels).value).toBeCloseTo(
        Number(durationMs) / 1000,
        3,
      );
    }
    expect(
      samplesOf(samples, `${WorkerMetric.stageDuration}_bucket`, { stage: 'trainModel', model }),
    ).toHaveLength(15);
    expect(one(WorkerMetric.gateDecisions, { ...workflowLabels, decision: 'passed' }).value).toBe(1);
    expect(one(WorkerMetric.rollouts, { ...workflowLabels, outcome: 'success' }).value).toBe(1);
    const trainingLabels = {
      model,
      namespace: 'default',
      taskQueue: `${queue}-gpu`,
      activityType: 'trainModel',
    };
    expect(one(WorkerMetric.trainingEpoch, trainingLabels).value).toBe(3);
    expect(one(WorkerMetric.trainingSamplesPerSecond, trainingLabels).value).toBeGreaterThan(0);
    // Temporal's own series keep their `temporal_` prefix; retrain's carry none.
    expect(
      samplesOf(samples, 'temporal_workflow_completed', {
        task_queue: queue,
        workflow_type: 'retrainWorkflow',
      }),
    ).toHaveLength(1);
    expect(samples.some((s) => s.name.startsWith('temporal_retrain_'))).toBe(false);
  });

  it("serves process metrics, /predict latency by model and version, reloads and ingest rows on the server's /metrics", async () => {
    const model = pipeline.spec.name;
    expect((await predictOrd(serverUrl, model)).status).toBe(200);
    const ingested = await fetch(`${serverUrl}/ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
      body: JSON.stringify({
        model,
        rows: [0, 1].map((h) => ({
          ts: `2001-07-01T0${h}:00:00Z`,
          origin: 'ORD',
          flights: 40,
          mean_delay: 12,
          late_share: 0.25,
        })),
      }),
    });
    expect(ingested.status).toBe(200);
    const res = await fetch(`${serverUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = await scrape(`${serverUrl}/metrics`);
    const value = (name: string, labels: Record<string, string>) =>
      samplesOf(samples, name, labels)[0]?.value;
    expect(value('process_cpu_user_seconds_total', {})).toBeGreaterThan(0);
    expect(value('nodejs_heap_size_used_bytes', {})).toBeGreaterThan(0);
    expect(value('retrain_predict_requests_total', { model, status: '200' })).toBe(1);
    expect(value('retrain_predict_duration_seconds_count', { model, version: 'v1' })).toBe(1);
    expect(value('retrain_predict_duration_seconds_bucket', { model, version: 'v1', le: '+Inf' })).toBe(1);
    expect(value('retrain_reloads_total', { model, result: 'success' })).toBe(1);
    expect(value('retrain_model_version_info', { model, version: 'v1' })).toBe(1);
    expect(value('retrain_ingest_rows_total', { model })).toBe(2);
  });

  it('never logs the API key, AWS credentials or task tokens, through pino or through the Runtime logger', () => {
    const config = loadConfig(
      { RETRAIN_API_KEY: API_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, RETRAIN_STORE: 's3://b/p' },
      path.join(pipeline.dir, 'nowhere'),
    );
    const before = lines.length;
    const secrets = {
      config,
      apiKey: API_KEY,
      headers: { 'x-api-key': API_KEY, authorization: `Bearer ${API_KEY}` },
      credentials: [{ accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY }],
      env: { AWS_SECRET_ACCESS_KEY, AWS_ACCESS_KEY_ID },
      taskToken: 'dGFzay10b2tlbg==',
    };
    createLogger({ destination: capture }).info(secrets, 'a careless line');
    runtimeLogger.warn('a careless SDK line', secrets);
    server.app.log.info(secrets, 'a careless server line');
    const written = lines.slice(before);
    expect(written).toHaveLength(3);
    const text = written.join('\n');
    for (const secret of [API_KEY, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, 'dGFzay10b2tlbg=='])
      expect(text).not.toContain(secret);
    for (const line of written) {
      const entry = JSON.parse(line) as typeof secrets & { msg: string };
      expect(entry.config).toMatchObject({
        apiKey: REDACTED,
        s3: { accessKeyId: REDACTED, secretAccessKey: REDACTED },
      });
      expect(entry.apiKey).toBe(REDACTED);
      expect(entry.credentials).toEqual([{ accessKeyId: REDACTED, secretAccessKey: REDACTED }]);
    }
  });
});

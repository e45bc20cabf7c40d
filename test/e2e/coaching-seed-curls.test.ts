import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CoachingJob } from '../../control/coaching/coaching-job';
import { createServer, type InferenceServer } from '../../serving/server';
import { eventually } from '../helpers/eventually';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';
import { seedBlock, seedFile, withEdits } from '../helpers/seed-blocks';
import { runCurl, shellCommands, type CurlAnswer } from '../helpers/seed-curls';

const SEED = seedFile('002_acb5576138d37de1.txt');
const SEED_ADDRESS = 'http://localhost:8000';
const API_KEY = 'coaching-seed-test-key-0123';
const STATUSES = ['queued', 'in_progress', 'completed', 'failed'];

describe("FinCoach's documented curls, verbatim, against retrain's /coaching/continuous-learning", () => {
  let pipeline: Pipeline;
  let server: InferenceServer;
  let url: string;

  beforeAll(async () => {
    // FinCoach's `recommendation` model type is this model's alias; its triggers make it one auto-trigger checks.
    pipeline = await createPipeline({
      gate: PERMISSIVE_GATE,
      hyperparams: { hiddenUnits: 16, batchSize: 64, seed: 7 },
      aliases: ['recommendation'],
      triggers: { newRecords: 1 },
    });
    server = createServer({
      registry: pipeline.deps.registry,
      apiKey: API_KEY,
      temporal: { client: pipeline.client, taskQueue: pipeline.taskQueue, buffer: pipeline.deps.buffer },
      // The suite's other files run models in the same namespace: FinCoach's overviews speak for this one.
      coachingModels: [pipeline.spec.name],
    });
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await server?.app.close();
    await pipeline?.cleanup();
  });

  /** A block's commands with the seed's address edited to this server's, as its reader would. */
  const commandsUnder = (heading: string) =>
    shellCommands(withEdits(seedBlock(SEED, heading, 'bash'), { [SEED_ADDRESS]: url }));
  const curl = (command: string) => runCurl(command, { 'X-API-Key': API_KEY });
  const job = async (id: string) =>
    (
      await server.app.inject({
        url: `/coaching/continuous-learning/training-job/${id}`,
        headers: { 'x-api-key': API_KEY },
      })
    ).json<{
      job_status: CoachingJob;
    }>().job_status;
  const ended = (id: string) =>
    eventually(
      `job ${id} to end`,
      async () => {
        const found = await job(id);
        return (found.status === 'completed' || found.status === 'failed') && found;
      },
      240_000,
      500,
    );
  const expectJobShape = (found: unknown) =>
    expect(found).toMatchObject({
      id: expect.any(String),
      dataset_id: pipeline.spec.name,
      model_type: expect.any(String),
      priority: expect.any(Number),
      status: expect.toBeOneOf(STATUSES),
      created_at: expect.any(String),
    });
  const expectTrigger = (answer: CurlAnswer) => {
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(answer.body).toMatchObject({
      message: 'Training job queued for recommendation',
      job_id: expect.stringMatching(new RegExp(`^retrain-${pipeline.spec.name}-\\d{8}T\\d{6}Z$`)),
      status: expect.toBeOneOf(STATUSES),
      priority: 1,
      dataset_id: pipeline.spec.name,
      queue_position: expect.any(Number),
    });
    return answer.body.job_id as string;
  };
  const expectStatus = (answer: CurlAnswer, jobId: string) => {
    expect(answer.status).toBe(200);
    const overview = answer.body as {
      training_status: Record<'active' | 'queued' | 'completed', CoachingJob[]>;
      queue_length: number;
      active_job_count: number;
      completed_job_count: number;
      last_updated: string;
    };
    expect(overview.queue_length).toBe(overview.training_status.queued.length);
    expect(overview.active_job_count).toBe(overview.training_status.active.length);
    expect(overview.completed_job_count).toBe(overview.training_status.completed.length);
    expect(Date.parse(overview.last_updated)).not.toBeNaN();
    const all = Object.values(overview.training_status).flat();
    for (const listed of all) expect(STATUSES).toContain(listed.status);
    expectJobShape(all.find((listed) => listed.id === jobId));
  };
  const expectHistory = (answer: CurlAnswer, jobId: string, version: string) => {
    expect(answer.status).toBe(200);
    const body = answer.body as { training_history: Record<string, unknown>[]; total_events: number };
    expect(body.total_events).toBe(body.training_history.length);
    expect(body).toHaveProperty('filter_applied', null);
    expect(body.training_history.find((event) => event.id === jobId)).toMatchObject({
      model_type: 'recommendation',
      status: 'completed',
      start_time: expect.any(String),
      end_time: expect.any(String),
      validation_score: expect.any(Number),
      training_data_size: expect.any(Number),
      model_path: `models/${pipeline.spec.name}/versions/${version}`,
      performance_metrics: { mae: expect.any(Number) },
    });
  };
  /**
   * The history curl's answer once it lists `jobId`: the history reads Temporal visibility, which
   * lists an ended run a moment later.
   */
  const historyListing = (command: string, jobId: string) =>
    eventually(
      'the run in the training history',
      async () => {
        const answer = await curl(command);
        const events = (answer.body as { training_history?: { id: unknown }[] }).training_history ?? [];
        return events.some((event) => event.id === jobId) && answer;
      },
      60_000,
    );
  /** The model's versions are listed, `version` among them, and the one `production` names is the one active. */
  const expectVersions = async (answer: CurlAnswer, version: string) => {
    expect(answer.status).toBe(200);
    const body = answer.body as { model_versions: Record<string, unknown>[]; total_versions: number };
    expect(body.total_versions).toBe(body.model_versions.length);
    const ours = body.model_versions.filter((v) => v.model_type === pipeline.spec.name);
    expect(ours.find((v) => v.version === version)).toMatchObject({
      id: `${pipeline.spec.name}/${version}`,
      performance_baseline: expect.any(Number),
      performance_current: expect.any(Number),
      model_path: `models/${pipeline.spec.name}/versions/${version}`,
      created_at: expect.any(String),
      metadata: { metric: expect.any(String), baselines: expect.any(Object) },
    });
    const production = (await pipeline.deps.registry.getAlias(pipeline.spec.name))?.value;
    expect(ours.filter((v) => v.is_active)).toEqual([
      expect.objectContaining({ version: production?.version, deployment_date: production?.updatedAt }),
    ]);
  };

  it('the "API Endpoint Testing" curls: trigger, status, auto-trigger, then history, versions and validation results', async () => {
    // The section's two blocks, under its sub-headings.
    const [trigger, status, auto, ...more] = commandsUnder('Training Trigger Endpoints');
    const [history, versions, validation, ...rest] = commandsUnder('Training History Endpoints');
    expect([...more, ...rest]).toEqual([]);
    await pipeline.withWorkers(async () => {
      const jobId = expectTrigger(await curl(trigger!));
      expectStatus(await curl(status!), jobId);

      const autoAnswer = await curl(auto!);
      expect(autoAnswer.status).toBe(200);
      const autoBody = autoAnswer.body as {
        message: string;
        triggered_jobs: unknown[];
        triggered_at: string;
        checked: { model_type: string; decision: string }[];
      };
      expect(autoBody.message).toBe(`Auto-triggered ${autoBody.triggered_jobs.length} training jobs`);
      // This model's run is going (or just registered, in its cool-down): its check holds the trigger back.
      expect(autoBody.checked).toContainEqual(
        expect.objectContaining({
          model_type: pipeline.spec.name,
          decision: expect.not.stringMatching(/^started$/),
        }),
      );
      expect(Date.parse(autoBody.triggered_at)).not.toBeNaN();

      const done = await ended(jobId);
      expect(done).toMatchObject({
        status: 'completed',
        training_event_id: jobId,
        version: expect.any(String),
      });
      const version = done.version!;
      expectHistory(await historyListing(history!, jobId), jobId, version);
      await expectVersions(await curl(versions!), version);

      // The documentation's placeholder, as curl sends it ({event_id} is a one-word glob): no such event.
      const placeholder = await curl(validation!);
      expect(placeholder.status).toBe(404);
      expect(placeholder.body).toMatchObject({ detail: 'no retrain run with id event_id' });

      const results = await curl(validation!.replace('{event_id}', jobId));
      expect(results.status).toBe(200);
      expect(results.body).toMatchObject({
        training_event_id: jobId,
        model_type: 'recommendation',
        status: 'completed',
        validation_score: expect.any(Number),
        performance_metrics: { mae: expect.any(Number) },
        training_duration: expect.stringMatching(/^\d+:\d\d:\d\d(\.\d{6})?$/),
        model_version: {
          version,
          is_active: true,
          model_path: `models/${pipeline.spec.name}/versions/${version}`,
        },
        validation: {
          passed: true,
          metric: expect.any(String),
          candidate: { mae: expect.any(Number) },
          baselines: expect.any(Object),
        },
      });
    });
  });

  it('the "Validation Commands" curls (the stack is this test\'s server, not docker-compose): status, trigger, history, versions', async () => {
    const commands = commandsUnder('Validation Commands');
    expect(commands.filter((c) => !c.startsWith('curl '))).toEqual(['docker-compose up backend --build -d']);
    const [status, trigger, history, versions, ...rest] = commands.filter((c) => c.startsWith('curl '));
    expect(rest).toEqual([]);
    await pipeline.withWorkers(async () => {
      const before = await curl(status!);
      expect(before.status).toBe(200);
      const jobId = expectTrigger(await curl(trigger!));
      const done = await ended(jobId);
      expect(done).toMatchObject({ status: 'completed', error_message: null, training_event_id: jobId });
      expectHistory(await historyListing(history!, jobId), jobId, done.version!);
      await expectVersions(await curl(versions!), done.version!);
    });
  });
});

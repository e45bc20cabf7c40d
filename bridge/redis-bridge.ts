import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { Counter, Registry } from 'prom-client';
import type { Logger } from 'pino';
import { ModelBusyError, startRun } from '../runs';
import { resolveModelName } from '../storage/model-aliases';
import { ModelNotFoundError, type ModelRegistry } from '../storage/registry';
import { redisJobWorkflowId } from '../common/workflow-ids';
import { fieldsOf, jobLabels, jobToInput } from './redis-job';

/** How a job ended: a run started; its run existed already (redelivered); its model was busy; not a job; not handled yet. */
export type JobOutcome = 'started' | 'duplicate' | 'refused' | 'invalid' | 'error';

export interface BridgeOptions {
  /** Where jobs come in. @default quantum:stream:model.retrain */
  stream: string;
  group: string;
  /**
   * Where a group this bridge creates starts reading: `$` (new jobs only) or `0` (the stream's
   * backlog too). A group that exists keeps its place. @default $
   */
  groupStart?: string;
  /** This process's name in the group. */
  consumer: string;
  /** Where bad jobs go, with their reason. */
  failedStream: string;
  /** Pending jobs idle this long (their consumer died, or their start failed) are claimed. */
  claimIdleMs: number;
  /** How long one read waits for new jobs. */
  blockMs: number;
  taskQueue: string;
}

/**
 * Retrain jobs from a Redis stream into Temporal, through a consumer group: each job is validated,
 * its model found by name or alias, and started as `retrainWorkflow` (queued behind a run that holds
 * the model, the producer's fields as its labels) under an id derived from its message id (never
 * reused, so a redelivered message finds its run instead of starting another) and ACKed once
 * Temporal accepted the start. A bad job is ACKed and published to the failed stream with its
 * reason. A job whose start failed stays pending and is claimed again (XAUTOCLAIM) after
 * `claimIdleMs`, as are the pending jobs of a consumer that died.
 */
export class RedisBridge {
  readonly metrics = new Registry();
  private readonly jobs = new Counter({
    name: 'retrain_bridge_jobs_total',
    help: 'Retrain jobs read from the stream, by outcome (started, duplicate, refused, invalid, error).',
    labelNames: ['outcome'],
    registers: [this.metrics],
  });
  private readonly claimed = new Counter({
    name: 'retrain_bridge_claimed_total',
    help: 'Pending jobs claimed from idle consumers (XAUTOCLAIM).',
    registers: [this.metrics],
  });
  private stopping = false;

  constructor(
    private readonly redis: Redis,
    private readonly client: Client,
    private readonly registry: ModelRegistry,
    private readonly options: BridgeOptions,
    private readonly log: Logger,
  ) {}

  /**
   * Creates the consumer group at {@link BridgeOptions.groupStart} unless it exists; says whether it
   * created it (an existing group reads on from where it was).
   */
  async ensureGroup(): Promise<boolean> {
    const { stream, group, groupStart = '$' } = this.options;
    try {
      await this.redis.xgroup('CREATE', stream, group, groupStart, 'MKSTREAM');
      this.log.info({ stream, group, from: groupStart }, 'consumer group created');
      return true;
    } catch (err) {
      if (!String((err as Error).message).startsWith('BUSYGROUP')) throw err;
      if (groupStart !== '$')
        this.log.info(
          { stream, group },
          `consumer group exists; it reads on from its place, not from ${groupStart}`,
        );
      return false;
    }
  }

  /** Reads, claims and handles jobs until {@link stop}. */
  async run(): Promise<void> {
    await this.ensureGroup();
    const { stream, group, consumer } = this.options;
    while (!this.stopping) {
      try {
        await this.claimIdle();
        const read = (await this.redis.xreadgroup(
          'GROUP',
          group,
          consumer,
          'COUNT',
          10,
          'BLOCK',
          this.options.blockMs,
          'STREAMS',
          stream,
          '>',
        )) as [string, [string, string[]][]][] | null;
        for (const [, messages] of read ?? []) for (const [id, flat] of messages) await this.handle(id, flat);
      } catch (err) {
        if (this.stopping) break;
        this.log.warn({ err: (err as Error).message }, 'bridge read failed; retrying in 1 s');
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  stop(): void {
    this.stopping = true;
  }

  /** Claims jobs pending longer than claimIdleMs (of any consumer, this one too) and handles them. */
  async claimIdle(): Promise<void> {
    const { stream, group, consumer, claimIdleMs } = this.options;
    let cursor = '0-0';
    do {
      const [next, messages] = (await this.redis.xautoclaim(
        stream,
        group,
        consumer,
        claimIdleMs,
        cursor,
        'COUNT',
        10,
      )) as [string, [string, string[] | null][]];
      for (const [id, flat] of messages) {
        this.claimed.inc();
        // A message trimmed from the stream while pending comes back without fields: nothing to run.
        if (flat) await this.handle(id, flat);
        else await this.redis.xack(stream, group, id);
      }
      cursor = next;
    } while (cursor !== '0-0' && !this.stopping);
  }

  /** One job: validated, started (or found started), ACKed; a bad one published to the failed stream. */
  async handle(id: string, flat: string[]): Promise<JobOutcome> {
    const fields = fieldsOf(flat);
    const outcome = await this.outcomeOf(id, fields);
    this.jobs.inc({ outcome: outcome.kind });
    const fieldsLog = { messageId: id, model: fields.model, outcome: outcome.kind };
    if (outcome.kind === 'error') {
      this.log.warn(
        { ...fieldsLog, reason: outcome.reason },
        'job not started; it stays pending and is retried',
      );
      return outcome.kind;
    }
    if (outcome.kind === 'invalid') {
      const entry = {
        job_id: id,
        message_id: id,
        model: fields.model ?? '',
        status: 'invalid',
        reason: outcome.reason ?? '',
        job: JSON.stringify(fields),
        timestamp: new Date().toISOString(),
        // The producer's own job_id and timestamp come back as it sent them, as in a run's events.
        ...jobLabels(fields),
      };
      await this.redis.xadd(this.options.failedStream, '*', ...Object.entries(entry).flat());
    }
    await this.redis.xack(this.options.stream, this.options.group, id);
    this.log.info({ ...fieldsLog, workflowId: outcome.workflowId, reason: outcome.reason }, 'job handled');
    return outcome.kind;
  }

  private async outcomeOf(
    id: string,
    fields: Record<string, string>,
  ): Promise<{ kind: JobOutcome; workflowId?: string; reason?: string }> {
    const job = jobToInput(fields);
    if ('invalid' in job) return { kind: 'invalid', reason: job.invalid };
    let model: string;
    try {
      model = (await resolveModelName(this.registry, job.input.model)).name;
    } catch (err) {
      if (err instanceof ModelNotFoundError)
        return {
          kind: 'invalid',
          reason: `invalid job: unknown model ${job.input.model} (no model has that name or alias)`,
        };
      return { kind: 'error', reason: (err as Error).message };
    }
    const input = {
      ...job.input,
      model,
      labels: {
        job_id: id,
        ...job.input.labels,
        ...(model !== job.input.model ? { requested_model: job.input.model } : {}),
      },
    };
    const workflowId = redisJobWorkflowId(input.model, id);
    try {
      await startRun(this.client, input, {
        taskQueue: this.options.taskQueue,
        origin: `redis job ${id} on ${this.options.stream}`,
        workflowId,
        neverReuseId: true,
        admissionTimeoutMs: 5000,
      });
      return { kind: 'started', workflowId };
    } catch (err) {
      if (err instanceof ModelBusyError)
        return err.runningWorkflowId === workflowId
          ? { kind: 'duplicate', workflowId, reason: 'its run was started before' }
          : { kind: 'refused', workflowId, reason: err.message };
      return { kind: 'error', reason: (err as Error).message };
    }
  }
}

import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { retrainWorkflow } from '../../workflows';
import type { BlobStore, PutOptions } from '../../storage/blob-store';
import { S3BlobStore } from '../../storage/s3-store';
import { historyEvents, outcomes, scheduled } from '../helpers/history';
import { ensureBucket, removeBucket, startMinio, type Minio } from '../helpers/minio';
import { createPipeline, PERMISSIVE_GATE, type Pipeline } from '../helpers/pipeline';

const OUTAGE_MS = 30_000;

/** When one outage began (MinIO stopped) and ended (MinIO answering again), in epoch ms. */
interface Outage {
  key: string;
  stoppedAt: number;
  backAt?: number;
  over: Promise<void>;
}

/**
 * The real S3 store, passed through, except that the first put of a key matching each trigger first
 * stops MinIO (and restarts it on the same data dir and port {@link OUTAGE_MS} later): the outage
 * begins inside the activity that writes, at a known write, and that write meets a stopped server.
 */
function storeWithOutages(store: BlobStore, minio: Minio, triggers: ((key: string) => boolean)[]) {
  const outages: Outage[] = [];
  const pending = [...triggers];
  const wrapped: BlobStore = {
    uri: store.uri,
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    listPrefixes: (prefix) => store.listPrefixes(prefix),
    delete: (key) => store.delete(key),
    uriFor: (key) => store.uriFor(key),
    async put(key: string, body: Uint8Array | string, options?: PutOptions) {
      const at = pending.findIndex((matches) => matches(key));
      if (at >= 0) {
        pending.splice(at, 1);
        await minio.kill();
        const outage: Outage = { key, stoppedAt: Date.now(), over: Promise.resolve() };
        outage.over = sleep(OUTAGE_MS)
          .then(() => minio.restart())
          .then(() => {
            outage.backAt = Date.now();
          });
        outages.push(outage);
      }
      return store.put(key, body, options);
    },
  };
  return { store: wrapped, outages };
}

describe(
  'MinIO stopped for 30 s during exportDataset and again during registerModel',
  { timeout: 240_000 },
  () => {
    let minio: Minio;
    let pipeline: Pipeline;
    let outages: Outage[];
    const bucket = `test-outage-${randomUUID().slice(0, 8)}`;

    beforeAll(async () => {
      minio = await startMinio();
      await ensureBucket(minio, bucket);
      const s3 = new S3BlobStore({ ...minio, bucket, prefix: 'registry' });
      const faulty = storeWithOutages(s3, minio, [
        (key) => key.startsWith('datasets/'),
        // After the version's claim, so the retry has to find and complete its own half-written version.
        (key) => /^models\/[^/]+\/versions\/v\d+\/model\.json$/.test(key),
      ]);
      outages = faulty.outages;
      pipeline = await createPipeline({ gate: PERMISSIVE_GATE, epochs: 2 }, undefined, faulty.store);
    });

    afterAll(async () => {
      await Promise.allSettled((outages ?? []).map((o) => o.over));
      await pipeline?.cleanup();
      if (minio) {
        await removeBucket(minio, bucket).catch(() => undefined);
        await minio.stop();
      }
    });

    it('retries both activities until S3 is back, then completes with one version, the alias on it and one dataset', async () => {
      const { client, spec, taskQueue, deps } = pipeline;
      const workflowId = `retrain-${spec.name}-s3-outage-${Date.now()}`;
      const result = await pipeline.withWorkers(() =>
        client.workflow.execute(retrainWorkflow, {
          taskQueue,
          workflowId,
          args: [{ model: spec.name }],
        }),
      );
      expect(result.status, result.reason).toBe('completed');
      expect(result.version).toBe('v1');

      // Both outages happened, each at its activity's write, and lasted the full 30 s.
      expect(outages.map((o) => o.key)).toEqual([
        expect.stringMatching(new RegExp(`^datasets/${spec.name}/${workflowId}/`)),
        `models/${spec.name}/versions/v1/model.json`,
      ]);
      for (const outage of outages) {
        expect(outage.backAt, outage.key).toBeDefined();
        expect(outage.backAt! - outage.stoppedAt).toBeGreaterThanOrEqual(OUTAGE_MS);
      }

      // Each activity failed while S3 was down (a later attempt succeeded) and finished only after it was back.
      const events = await historyEvents(client.workflow.getHandle(workflowId));
      for (const [activity, outage] of [
        ['exportDataset', outages[0]!],
        ['registerModel', outages[1]!],
      ] as const) {
        const runs = scheduled(events, activity);
        expect(runs, activity).toHaveLength(1);
        const [ended] = outcomes(events, runs[0]!.eventId);
        expect(ended?.kind, activity).toBe('completed');
        expect(ended?.attempt, activity).toBeGreaterThan(1);
        const started = events.find(
          (e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === runs[0]!.eventId,
        )?.activityTaskStartedEventAttributes;
        // The last failed attempt's error names the S3 object it could not reach while MinIO was down.
        expect(started?.lastFailure?.message, activity).toMatch(
          new RegExp(`^could not (read|write|list) s3://${bucket}/registry/.*ECONNREFUSED`),
        );
        const completedAt = events.find(
          (e) => Number(e.activityTaskCompletedEventAttributes?.scheduledEventId) === runs[0]!.eventId,
        )?.eventTime;
        const completedMs = Number(completedAt?.seconds) * 1000 + Math.floor((completedAt?.nanos ?? 0) / 1e6);
        expect(completedMs, activity).toBeGreaterThanOrEqual(outage.backAt! - 1000);
      }

      // Nothing duplicated: one version (no second claim), the alias on it, one dataset.
      expect(await deps.registry.listVersions(spec.name)).toEqual(['v1']);
      const versionKeys = await deps.store.list(`models/${spec.name}/versions/`);
      expect(versionKeys).toEqual(
        ['claim.json', 'metadata.json', 'model.json', 'weights.bin'].map(
          (f) => `models/${spec.name}/versions/v1/${f}`,
        ),
      );
      expect((await deps.registry.getAlias(spec.name))?.value).toMatchObject({
        version: 'v1',
        previous: null,
        workflowId,
      });
      const datasetKeys = await deps.store.list(`datasets/${spec.name}/`);
      expect(new Set(datasetKeys.map((k) => k.split('/')[2]))).toEqual(new Set([workflowId]));
      expect(datasetKeys).toContain(`datasets/${spec.name}/${workflowId}/manifest.json`);
    });

    it('a hung S3 server (MinIO frozen with SIGSTOP) fails a request after the idle timeout instead of blocking it', async () => {
      const store = new S3BlobStore({ ...minio, bucket, prefix: 'hung', idleTimeoutMs: 1000 });
      await store.put('probe.txt', 'before');
      await minio.freeze();
      try {
        await expect(store.get('probe.txt')).rejects.toThrow(/timed out after 1000 ms of inactivity/);
        // The write's outcome is unknown to the client (the frozen server may still apply it): it fails, naming the key.
        await expect(store.put('other.txt', 'during')).rejects.toThrow(
          `could not write s3://${bucket}/hung/other.txt`,
        );
      } finally {
        minio.thaw();
      }
      expect(new TextDecoder().decode((await store.get('probe.txt'))?.body)).toBe('before');
    });
  },
);

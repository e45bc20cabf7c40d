import { z } from 'zod';

import {
  LastRunSchema,
  TriggerEvaluationSchema,
  type LastRun,
  type TriggerEvaluation,
} from '../common/triggers';
import type { BlobStore } from './blob-store';
import { getJson, putJson } from './open-store';

const DAY_MS = 86_400_000;

/** Days of evaluations kept when nobody says otherwise (`RETRAIN_EVALUATION_RETENTION_DAYS`). */
export const DEFAULT_EVALUATION_RETENTION_DAYS = 30;

/** Keys one pruning deletes at most; an older backlog is finished by the next checks. */
const PRUNE_KEY_BUDGET = 2000;
/** Deletes in flight at once while pruning. */
const DELETES_AT_ONCE = 16;

/** The UTC day of the last pruning of a model's evaluations, so it runs at most once a day. */
const PrunedSchema = z.object({ day: z.string() });

/** How {@link TriggerHistory.record} prunes a model's old evaluations. */
export interface EvaluationRetention {
  /** Day folders more than this many days before the recorded check's UTC day are deleted. */
  days: number;
  /** Told when pruning fails; the evaluation is recorded all the same and a later check tries again. */
  onError(err: unknown): void;
}

/** A folder of one UTC day's evaluations. */
interface DayFolder {
  day: string;
  /** The folder as a prefix, ending in `/`. */
  prefix: string;
}

/**
 * Every trigger evaluation of a model, one object per check under
 * `evaluations/<m>/<day>/<time>-<check>.json`, and the last run a trigger started in
 * `evaluations/<m>/last-run.json` (what the cool-down counts from). Outside `models/`, so listing the
 * models never walks them. Deployments before that kept them under `models/<m>/evaluations/`: those
 * are read beside the new ones and pruned by the same retention, so the history stays whole until
 * they age out.
 */
export class TriggerHistory {
  /** `retention` absent: {@link record} deletes nothing (readers, tests). */
  constructor(
    private readonly store: BlobStore,
    private readonly retention?: EvaluationRetention,
  ) {}

  private prefix(model: string): string {
    return `evaluations/${model}`;
  }

  /** Where evaluations were written before they moved out of `models/`. */
  private legacyPrefix(model: string): string {
    return `models/${model}/evaluations`;
  }

  /**
   * Records one evaluation; one that started a run also becomes the model's last triggered run. Then,
   * with a retention, deletes the model's day folders that aged out, once per model and UTC day.
   */
  async record(evaluation: TriggerEvaluation): Promise<void> {
    const parsed = TriggerEvaluationSchema.parse(evaluation);
    const day = parsed.at.slice(0, 10);
    const time = parsed.at.slice(11).replace(/[:.]/g, '');
    const check = (parsed.checkWorkflowId ?? 'manual').replace(/[^A-Za-z0-9-]/g, '_').slice(-120);
    // Written before the pointer: a crash between the two leaves the record, and the retried
    // activity rewrites both with the same contents.
    await putJson(this.store, `${this.prefix(parsed.model)}/${day}/${time}-${check}.json`, parsed);
    if (parsed.decision === 'started' && parsed.workflowId)
      await putJson(this.store, `${this.prefix(parsed.model)}/last-run.json`, {
        workflowId: parsed.workflowId,
        at: parsed.at,
        what: 'triggered',
      } satisfies LastRun);
    const retention = this.retention;
    if (retention)
      await this.prune(parsed.model, day, retention.days).catch((err: unknown) => retention.onError(err));
  }

  /** The last run a trigger started; undefined when none did. */
  async lastTriggered(model: string): Promise<LastRun | undefined> {
    for (const prefix of [this.prefix(model), this.legacyPrefix(model)]) {
      const found = await getJson(this.store, `${prefix}/last-run.json`, LastRunSchema);
      if (found) return found.value;
    }
    return undefined;
  }

  /** The newest `limit` evaluations, newest first, from the last `days` days before `now`. */
  async recent(model: string, limit = 20, days = 7, now = new Date()): Promise<TriggerEvaluation[]> {
    const newest = dayOf(now.getTime());
    const oldest = dayOf(now.getTime() - (days - 1) * DAY_MS);
    const folders = (await this.dayFolders(model)).filter((f) => f.day >= oldest && f.day <= newest);
    const found: TriggerEvaluation[] = [];
    for (const day of [...new Set(folders.map((f) => f.day))].sort().reverse()) {
      if (found.length >= limit) break;
      const listed = await Promise.all(
        folders.filter((f) => f.day === day).map((f) => this.store.list(f.prefix)),
      );
      const keys = listed.flat().sort(byName).reverse();
      for (const key of keys.slice(0, limit - found.length)) {
        const blob = await getJson(this.store, key, TriggerEvaluationSchema);
        if (blob) found.push(blob.value);
      }
    }
    return found;
  }

  /** The model's day folders, new and legacy: two listings by delimiter, whatever the folders hold. */
  private async dayFolders(model: string): Promise<DayFolder[]> {
    const listed = await Promise.all(
      [this.prefix(model), this.legacyPrefix(model)].map((prefix) => this.store.listPrefixes(`${prefix}/`)),
    );
    return listed.flat().flatMap((prefix) => {
      const day = /\/(\d{4}-\d{2}-\d{2})\/$/.exec(prefix)?.[1];
      return day ? [{ day, prefix }] : [];
    });
  }

  /**
   * Deletes the day folders more than `days` days before `today`, unless that was done today already.
   * At most {@link PRUNE_KEY_BUDGET} keys at a time: a longer backlog (an old deployment's first
   * pruning) is left unmarked, so the next check goes on with it.
   */
  private async prune(model: string, today: string, days: number): Promise<void> {
    const marker = `${this.prefix(model)}/pruned.json`;
    const last = await getJson(this.store, marker, PrunedSchema);
    if (last && last.value.day >= today) return;
    const oldestKept = dayOf(Date.parse(today) - days * DAY_MS);
    let budget = PRUNE_KEY_BUDGET;
    for (const folder of await this.dayFolders(model)) {
      if (folder.day >= oldestKept) continue;
      const keys = await this.store.list(folder.prefix);
      const now = keys.slice(0, budget);
      for (let at = 0; at < now.length; at += DELETES_AT_ONCE)
        await Promise.all(now.slice(at, at + DELETES_AT_ONCE).map((key) => this.store.delete(key)));
      budget -= now.length;
      if (now.length < keys.length || budget === 0) return;
    }
    await putJson(this.store, marker, { day: today });
  }
}

function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Orders keys by their last segment (`<time>-<check>.json`), whichever prefix they sit under. */
function byName(a: string, b: string): number {
  const name = (key: string) => key.slice(key.lastIndexOf('/') + 1);
  return name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0;
}

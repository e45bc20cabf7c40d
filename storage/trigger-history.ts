import {
  LastRunSchema,
  TriggerEvaluationSchema,
  type LastRun,
  type TriggerEvaluation,
} from '../common/triggers';
import type { BlobStore } from './blob-store';
import { getJson, putJson } from './open-store';

const DAY_MS = 86_400_000;

/**
 * Every trigger evaluation of a model, one object per check under
 * `models/<m>/evaluations/<day>/<time>-<check>.json`, and the last run a trigger started in
 * `models/<m>/evaluations/last-run.json` (what the cool-down counts from).
 */
export class TriggerHistory {
  constructor(private readonly store: BlobStore) {}

  private prefix(model: string): string {
    return `models/${model}/evaluations`;
  }

  /** Records one evaluation; one that started a run also becomes the model's last triggered run. */
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
  }

  /** The last run a trigger started; undefined when none did. */
  async lastTriggered(model: string): Promise<LastRun | undefined> {
    return (await getJson(this.store, `${this.prefix(model)}/last-run.json`, LastRunSchema))?.value;
  }

  /** The newest `limit` evaluations, newest first, from the last `days` days before `now`. */
  async recent(model: string, limit = 20, days = 7, now = new Date()): Promise<TriggerEvaluation[]> {
    const found: TriggerEvaluation[] = [];
    for (let back = 0; back < days && found.length < limit; back++) {
      const day = new Date(now.getTime() - back * DAY_MS).toISOString().slice(0, 10);
      const keys = (await this.store.list(`${this.prefix(model)}/${day}/`)).reverse();
      for (const key of keys.slice(0, limit - found.length)) {
        const blob = await getJson(this.store, key, TriggerEvaluationSchema);
        if (blob) found.push(blob.value);
      }
    }
    return found;
  }
}

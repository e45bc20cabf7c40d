import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../common/run-events';
import { streamFields } from '../../events/redis-sink';

const EVENT: RunEvent = {
  specversion: '1.0',
  id: 'retrain-m-redis-1-0/run-1/7',
  type: 'retrain.run.completed',
  time: '2026-01-05T02:10:00.000Z',
  model: 'boosted',
  workflowId: 'retrain-m-redis-1-0',
  runId: 'run-1',
  data: { status: 'completed', version: 'v2' },
};

describe("a run event's stream entry", () => {
  it("echoes the run's labels: the producer's job_id and timestamp come back as sent", () => {
    const fields = streamFields({
      ...EVENT,
      labels: { job_id: 'evo-1', timestamp: '2026-01-05T02:00:00Z', source: 'evo', model: 'spoof' },
    });
    expect(fields).toMatchObject({
      job_id: 'evo-1',
      timestamp: '2026-01-05T02:00:00Z',
      source: 'evo',
      event_time: EVENT.time,
      // A label never hides the event's own fields.
      model: 'boosted',
      status: 'completed',
      version: 'v2',
      workflow_id: EVENT.workflowId,
    });
  });

  it('without labels, job_id is the workflow id and timestamp the event time', () => {
    expect(streamFields(EVENT)).toMatchObject({ job_id: EVENT.workflowId, timestamp: EVENT.time });
  });
});

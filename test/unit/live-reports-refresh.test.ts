import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { LiveReports, type LiveSources } from '../../control/live-reports';
import type { LiveReport } from '../../monitoring/live-metrics';
import { eventually } from '../helpers/eventually';

describe("the inference server's live refresh", () => {
  it('never runs two refreshes at once when one outlasts the interval', async () => {
    const reports = new LiveReports({} as LiveSources, 10, () => undefined);
    let running = 0;
    let most = 0;
    let measured = 0;
    vi.spyOn(reports, 'measure').mockImplementation(async (model) => {
      running += 1;
      most = Math.max(most, running);
      // Each model takes several intervals, as a thousand models on a slow store would.
      await sleep(40);
      running -= 1;
      measured += 1;
      return { model } as LiveReport;
    });
    const stop = reports.every(
      () => ['a', 'b'],
      (err) => {
        throw err;
      },
    );
    try {
      await eventually('two whole refreshes', () => measured >= 4, 10_000, 10);
    } finally {
      stop();
    }
    expect(most).toBe(1);
  });
});

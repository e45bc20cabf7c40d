import { describe, expect, it } from 'vitest';

import { fleetTargets } from '../../rollout/fleet';

const STATIC = 'http://127.0.0.1:8000';
const ANNOUNCED = 'http://127.0.0.1:8001';
const ALSO_STATIC = 'http://127.0.0.1:8000/';

describe('who a promotion reloads', () => {
  it('reloads RETRAIN_SERVING_URLS and every server announced alive, a server in both once, as static', () => {
    expect(fleetTargets([STATIC], [ALSO_STATIC, ANNOUNCED, ANNOUNCED])).toEqual({
      targets: [STATIC],
      discovered: [ANNOUNCED],
      outsiders: [],
    });
  });

  it('without announced servers reloads the static list exactly as before', () => {
    expect(fleetTargets([STATIC, ANNOUNCED], [])).toEqual({
      targets: [STATIC, ANNOUNCED],
      discovered: [],
      outsiders: [],
    });
  });

  it("keeps a run's reloadTargets that are fleet members, each with its kind's behaviour", () => {
    expect(fleetTargets([STATIC], [ANNOUNCED], [ANNOUNCED, STATIC])).toEqual({
      targets: [STATIC],
      discovered: [ANNOUNCED],
      outsiders: [],
    });
  });

  it('names every reloadTargets url outside the fleet', () => {
    const stranger = 'http://127.0.0.1:9999';
    expect(fleetTargets([STATIC], [ANNOUNCED], [STATIC, stranger]).outsiders).toEqual([stranger]);
    expect(fleetTargets([], [], [ANNOUNCED]).outsiders).toEqual([ANNOUNCED]);
  });

  it('an empty reloadTargets reloads no server', () => {
    expect(fleetTargets([STATIC], [ANNOUNCED], [])).toEqual({ targets: [], discovered: [], outsiders: [] });
  });
});

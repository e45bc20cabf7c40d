/**
 * What went wrong in the prediction log: a journal write, a journal turned into Parquet, a torn line
 * cut, expired days dropped.
 */
export type PredictionLogFaultKind = 'write' | 'turn' | 'torn_line' | 'retention';

export const PREDICTION_LOG_FAULT_KINDS: readonly PredictionLogFaultKind[] = [
  'write',
  'turn',
  'torn_line',
  'retention',
];

/** The logger the faults go to (pino's shape). */
export interface FaultLogger {
  warn(fields: object, message: string): void;
}

/** Faults of one kind closer together than this are one burst, logged once. */
const BURST_MS = 60_000;

/**
 * Counts the prediction log's faults by kind and logs the first of each burst (faults of a kind less
 * than a minute apart), with how many the previous burst had after its first: a full disk fails every
 * answer, and one line per answer would fill what is left of it.
 */
export class PredictionLogFaults {
  private readonly counts = new Map<PredictionLogFaultKind, number>();
  private readonly last = new Map<PredictionLogFaultKind, { at: number; unlogged: number }>();

  constructor(
    private readonly logger: FaultLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Faults of `kind` so far. */
  count(kind: PredictionLogFaultKind): number {
    return this.counts.get(kind) ?? 0;
  }

  report(kind: PredictionLogFaultKind, err: unknown, fields: object = {}): void {
    this.counts.set(kind, this.count(kind) + 1);
    const at = this.now();
    const last = this.last.get(kind);
    if (last && at - last.at < BURST_MS) {
      this.last.set(kind, { at, unlogged: last.unlogged + 1 });
      return;
    }
    this.last.set(kind, { at, unlogged: 0 });
    this.logger.warn(
      { kind, err, ...fields, ...(last ? { unloggedInPreviousBurst: last.unlogged } : {}) },
      'prediction log fault: answers are still served; later faults of this kind in the next minute are counted, not logged',
    );
  }
}

/** Thrown by `PredictionLog.record` when its journal write failed; the fault is already counted and logged. */
export class PredictionLogWriteError extends Error {
  constructor(cause: unknown) {
    super('the prediction log could not write the answers to its journal', { cause });
    this.name = 'PredictionLogWriteError';
  }
}

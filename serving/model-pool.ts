import { ModelNotFoundError, type ModelRegistry } from '../storage/registry';
import type { ServingMetrics } from './metrics';
import { loadVersion, ModelLoadError, type ModelSlot } from './model-slot';

/** Thrown by {@link ModelPool.reload} when the registry has no spec for the model. */
export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
}

/** Thrown by {@link ModelPool.reload} when the version cannot be served; `serving` (if any) goes on answering. */
export class ReloadRefusedError extends Error {
  override readonly name = 'ReloadRefusedError';
  constructor(
    readonly model: string,
    /** The version this server keeps serving, null when none. */
    readonly serving: string | null,
    cause: ModelLoadError,
  ) {
    super(cause.message, { cause });
  }
}

/** Result of {@link ModelPool.reload}: the version now served and the one it replaced. */
export interface ReloadOutcome {
  model: string;
  version: string;
  previous: string | null;
}

/** What start-up loaded, skipped (no production alias yet) and failed to load. */
export interface StartupReport {
  loaded: { model: string; version: string }[];
  skipped: string[];
  failed: { model: string; error: string }[];
}

/**
 * The model versions this server answers with, one per model. A reload loads and checks the new
 * version beside the old one, then swaps the map entry in one synchronous step: every request gets
 * either version, and the old one is freed after its last request.
 */
export class ModelPool {
  private readonly slots = new Map<string, ModelSlot>();
  private readonly known = new Set<string>();
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly metrics: ServingMetrics,
  ) {}

  /** The version serving `model` now, if any. */
  get(model: string): ModelSlot | undefined {
    return this.slots.get(model);
  }

  /** True when the registry had a spec for `model` at start-up or at a reload. */
  isKnown(model: string): boolean {
    return this.known.has(model);
  }

  list(): ModelSlot[] {
    return [...this.slots.values()];
  }

  /**
   * Loads `version` (default: the production alias) and swaps it in. Throws {@link UnknownModelError}
   * or {@link ReloadRefusedError}; the version served before keeps serving then. Reloads of one model run in turn.
   */
  reload(model: string, version?: string): Promise<ReloadOutcome> {
    const previousTurn = this.queues.get(model) ?? Promise.resolve();
    const turn = previousTurn.catch(() => undefined).then(() => this.swap(model, version));
    this.queues.set(model, turn);
    return turn;
  }

  /** Loads the production version of every model in the registry; one failure does not stop the others. */
  async loadProduction(): Promise<StartupReport> {
    const report: StartupReport = { loaded: [], skipped: [], failed: [] };
    for (const model of await this.registry.listModels()) {
      this.known.add(model);
      try {
        const alias = await this.registry.getAlias(model);
        if (!alias) {
          report.skipped.push(model);
          continue;
        }
        const { version } = await this.reload(model, alias.value.version);
        report.loaded.push({ model, version });
      } catch (err) {
        report.failed.push({ model, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return report;
  }

  /** Takes every model out of service; each is freed once its in-flight requests end. */
  close(): void {
    for (const slot of this.slots.values()) slot.retire();
    this.slots.clear();
  }

  private async swap(model: string, requested: string | undefined): Promise<ReloadOutcome> {
    try {
      const spec = await this.registry.loadSpec(model).catch((err: unknown) => {
        throw err instanceof ModelNotFoundError
          ? new UnknownModelError(`unknown model ${model}: the registry has no spec for it`)
          : err;
      });
      this.known.add(model);
      const version = requested ?? (await this.registry.getAlias(model))?.value.version;
      if (!version) throw new ModelLoadError(`${model} has no production alias yet; name a version to load`);
      const current = this.slots.get(model);
      if (current?.version === version) {
        this.metrics.reloaded(model, 'success');
        return { model, version, previous: version };
      }
      const next = await loadVersion(this.registry, model, version, spec);
      this.slots.set(model, next);
      current?.retire();
      this.metrics.reloaded(model, 'success');
      this.metrics.serving(model, version);
      return { model, version, previous: current?.version ?? null };
    } catch (err) {
      if (!(err instanceof UnknownModelError)) this.metrics.reloaded(model, 'failure');
      throw err instanceof ModelLoadError
        ? new ReloadRefusedError(model, this.slots.get(model)?.version ?? null, err)
        : err;
    }
  }
}

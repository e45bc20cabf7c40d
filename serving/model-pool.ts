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

/** `RETRAIN_LOAD_CONCURRENCY`'s default: see docs/configuration.md for why 8. */
export const DEFAULT_LOAD_CONCURRENCY = 8;

/** How far the start-up load has got: models settled (loaded, skipped or failed) of those the registry listed. */
export interface StartupProgress {
  done: number;
  total: number;
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
  private progress: StartupProgress | undefined;
  /** Each model's one production load of start-up (or of its first request), once begun. */
  private readonly firstLoads = new Map<string, Promise<void>>();
  private report: StartupReport = { loaded: [], skipped: [], failed: [] };
  private listed: Promise<void> | undefined;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly metrics: ServingMetrics,
    /** Models the start-up load loads at once. @default {@link DEFAULT_LOAD_CONCURRENCY} */
    private readonly loadConcurrency = DEFAULT_LOAD_CONCURRENCY,
  ) {
    if (!Number.isInteger(loadConcurrency) || loadConcurrency < 1)
      throw new RangeError(`loadConcurrency must be a whole number of at least 1, got ${loadConcurrency}`);
  }

  /** The version serving `model` now, if any. */
  get(model: string): ModelSlot | undefined {
    return this.slots.get(model);
  }

  /**
   * The version serving `model`, loading its production version first when nothing serves it yet:
   * a request for a model the start-up load has not reached loads it at once (it does not wait its
   * turn among a thousand), one whose load is under way waits for it, and a model the registry
   * listed after start-up is loaded on its first request. Undefined when the model has no loadable
   * production version (no alias yet, or its load failed: start-up or a reload tries again).
   */
  async whenLoaded(model: string): Promise<ModelSlot | undefined> {
    const serving = this.slots.get(model);
    if (serving) return serving;
    await this.listed;
    if (this.known.has(model)) await this.firstLoad(model);
    await this.queues.get(model)?.catch(() => undefined);
    return this.slots.get(model);
  }

  /** True when the registry had a spec for `model` at start-up or at a reload. */
  isKnown(model: string): boolean {
    return this.known.has(model);
  }

  /** The models known to have a spec (the start-up listing, reloads and alias polls), by name. */
  knownModels(): string[] {
    return [...this.known].sort();
  }

  /** Records that the registry has a spec for `model` (found after start-up by the alias poll). */
  learn(model: string): void {
    this.known.add(model);
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

  /**
   * Loads the production version of every model in the registry, `loadConcurrency` at a time (the
   * store reads of one overlap the checks of another); one failure does not stop the others. Every
   * listed model is known from the start, and a request for one not loaded yet loads it
   * ({@link whenLoaded}).
   */
  async loadProduction(): Promise<StartupReport> {
    const listing = this.registry.listModels();
    this.listed = listing.then(
      () => undefined,
      () => undefined,
    );
    const models = await listing;
    for (const model of models) this.known.add(model);
    const progress = { done: 0, total: models.length };
    this.progress = progress;
    let next = 0;
    const worker = async () => {
      for (let model = models[next++]; model !== undefined; model = models[next++]) {
        // A request may have begun this model's load already: then this joins it.
        await this.firstLoad(model);
        progress.done++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.loadConcurrency, models.length) }, worker));
    return this.report;
  }

  /** The start-up load's progress; undefined until the registry has listed the models. */
  startupProgress(): StartupProgress | undefined {
    return this.progress && { ...this.progress };
  }

  /** Takes every model out of service; each is freed once its in-flight requests end. */
  close(): void {
    for (const slot of this.slots.values()) slot.retire();
    this.slots.clear();
  }

  /** Begins `model`'s production load unless start-up or a request began it already. */
  private firstLoad(model: string): Promise<void> {
    let load = this.firstLoads.get(model);
    if (!load) {
      load = this.loadOneProduction(model, this.report);
      this.firstLoads.set(model, load);
    }
    return load;
  }

  private async loadOneProduction(model: string, report: StartupReport): Promise<void> {
    try {
      const alias = await this.registry.getAlias(model);
      if (!alias) {
        report.skipped.push(model);
        return;
      }
      const { version } = await this.reload(model, alias.value.version);
      report.loaded.push({ model, version });
    } catch (err) {
      report.failed.push({ model, error: err instanceof Error ? err.message : String(err) });
    }
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

import type { ModelSpec } from '../common/model-spec';
import type { Alias, ModelMetadata } from '../common/artefacts';
import type { ModelRegistry } from '../storage/registry';
import { SingleFlight } from './single-flight';

/** How old a kept model list, spec, production alias or version list may be before it is read again (in the background). */
export const REGISTRY_REFRESH_MS = 5_000;

/** What the dashboard reads of a model that can change: its spec, production alias and versions. */
export interface ModelHead {
  spec: ModelSpec;
  alias: Alias | undefined;
  versions: string[];
}

/**
 * One thing read from the store, kept: read (and awaited) the first time; once `refreshMs` old, the
 * kept value is answered while one read in the background replaces it. A failed read keeps nothing
 * new: the first read's failure is the caller's, a refresh's is retried at the next call.
 */
class Kept<T> {
  private kept: { value: T; readAt: number } | undefined;
  private reading: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly now: () => number,
  ) {}

  /** Whether a value was read (or primed) yet. */
  get held(): boolean {
    return this.kept !== undefined;
  }

  /** Takes `value` as read long ago, if nothing was read yet: answered now, read again at the next get. */
  prime(value: T): void {
    this.kept ??= { value, readAt: Number.NEGATIVE_INFINITY };
  }

  get(refreshMs: number): Promise<T> {
    if (!this.kept) return this.readNow();
    if (this.now() - this.kept.readAt >= refreshMs) void this.readNow().catch(() => undefined);
    return Promise.resolve(this.kept.value);
  }

  private readNow(): Promise<T> {
    this.reading ??= this.read().then(
      (value) => {
        this.kept = { value, readAt: this.now() };
        this.reading = undefined;
        return value;
      },
      (err: unknown) => {
        this.reading = undefined;
        throw err;
      },
    );
    return this.reading;
  }
}

/**
 * The registry as the dashboard polls it, with a thousand models in mind: a version's metadata is
 * immutable once written (registerVersion writes it last, with a create-only put), so it is read once
 * per process; the model list and each model's spec, alias and version list are answered from memory
 * and read again in the background once `refreshMs` old, so a poll waits for the store only the first
 * time and shows what the store said at most `refreshMs` plus one read ago. Concurrent polls share
 * every read, a version's metadata included. Nothing here is used by the inference path.
 */
export class RegistryReadCache {
  private readonly models: Kept<string[]>;
  private readonly heads = new Map<string, Kept<ModelHead>>();
  private readonly metadatas = new Map<string, ModelMetadata>();
  private readonly metadataReads = new SingleFlight<ModelMetadata | undefined>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly refreshMs = REGISTRY_REFRESH_MS,
    private readonly now: () => number = Date.now,
    /**
     * The models this process knows already (the inference server's, from its start-up listing and
     * alias polls): the first poll answers from them while the registry is listed in the background,
     * instead of waiting for a listing that reads every model's spec.
     */
    private readonly knownModels?: () => string[],
  ) {
    this.models = new Kept(async () => {
      const models = await registry.listModels();
      // A model gone from the registry takes its kept head with it.
      for (const model of this.heads.keys()) if (!models.includes(model)) this.heads.delete(model);
      return models;
    }, now);
  }

  /** The registry's models. */
  listModels(): Promise<string[]> {
    // Only until the first listing: the server's list is sorted afresh at each call.
    const known = this.models.held ? undefined : this.knownModels?.();
    if (known && known.length > 0) this.models.prime(known);
    return this.models.get(this.refreshMs);
  }

  /** `model`'s spec, production alias and complete versions. */
  head(model: string): Promise<ModelHead> {
    let kept = this.heads.get(model);
    if (!kept) {
      kept = new Kept(() => this.readHead(model), this.now);
      this.heads.set(model, kept);
    }
    return kept.get(this.refreshMs);
  }

  /**
   * A version's metadata: read from the store the first time only, that read shared by every caller
   * asking while it runs (a thousand models' first polls at once read each version once); undefined
   * (not remembered) while it is incomplete.
   */
  metadata(model: string, version: string): Promise<ModelMetadata | undefined> {
    const key = `${model}/${version}`;
    const known = this.metadatas.get(key);
    if (known) return Promise.resolve(known);
    return this.metadataReads.run(key, async () => {
      const read = await this.registry.getMetadata(model, version);
      if (read) this.metadatas.set(key, read);
      return read;
    });
  }

  /** Reads `model`'s head again, and waits for it, at the next call: this process just moved its alias (a rollback). */
  forget(model: string): void {
    this.heads.delete(model);
  }

  private async readHead(model: string): Promise<ModelHead> {
    const [spec, alias, versions] = await Promise.all([
      this.registry.loadSpec(model),
      this.registry.getAlias(model),
      this.registry.listVersions(model),
    ]);
    return { spec, alias: alias?.value, versions };
  }
}

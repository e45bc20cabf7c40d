import type { ModelSpec } from '../common/model-spec';
import type { Alias, ModelMetadata } from '../common/artefacts';
import type { ModelRegistry } from '../storage/registry';

/** How long the dashboard shows a model list, spec, production alias and version list before reading them again. */
export const REGISTRY_REFRESH_MS = 5_000;

/** What the dashboard reads of a model that can change: its spec, production alias and versions. */
export interface ModelHead {
  spec: ModelSpec;
  alias: Alias | undefined;
  versions: string[];
}

interface Entry<T> {
  readAt: number;
  value: Promise<T>;
}

/**
 * The registry as the dashboard polls it, with a thousand models in mind: a version's metadata is
 * immutable once written (registerVersion writes it last, with a create-only put), so it is read once
 * per process; the model list, specs, aliases and version lists are read again at most every
 * `refreshMs`. Concurrent polls share one read. Nothing here is ever served by the inference path.
 */
export class RegistryReadCache {
  private models: Entry<string[]> | undefined;
  private readonly heads = new Map<string, Entry<ModelHead>>();
  private readonly metadatas = new Map<string, ModelMetadata>();

  constructor(
    private readonly registry: ModelRegistry,
    private readonly refreshMs = REGISTRY_REFRESH_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The registry's models, at most `refreshMs` old. */
  listModels(): Promise<string[]> {
    if (this.models && this.isFresh(this.models)) return this.models.value;
    const entry = { readAt: this.now(), value: this.registry.listModels() };
    this.models = entry;
    entry.value.catch(() => {
      if (this.models === entry) this.models = undefined;
    });
    return entry.value;
  }

  /** `model`'s spec, production alias and complete versions, at most `refreshMs` old. */
  head(model: string): Promise<ModelHead> {
    const hit = this.heads.get(model);
    if (hit && this.isFresh(hit)) return hit.value;
    const entry = { readAt: this.now(), value: this.readHead(model) };
    this.heads.set(model, entry);
    entry.value.catch(() => {
      if (this.heads.get(model) === entry) this.heads.delete(model);
    });
    return entry.value;
  }

  /** A version's metadata: read from the store the first time only; undefined (not remembered) while it is incomplete. */
  async metadata(model: string, version: string): Promise<ModelMetadata | undefined> {
    const key = `${model}/${version}`;
    const known = this.metadatas.get(key);
    if (known) return known;
    const read = await this.registry.getMetadata(model, version);
    if (read) this.metadatas.set(key, read);
    return read;
  }

  /** Reads `model`'s head again at the next call: this process just moved its alias (a rollback). */
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

  private isFresh(entry: Entry<unknown>): boolean {
    return this.now() - entry.readAt < this.refreshMs;
  }
}

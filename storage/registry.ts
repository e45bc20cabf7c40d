import {
  AliasSchema,
  ModelMetadataSchema,
  VersionClaimSchema,
  type Alias,
  type ModelMetadata,
} from '../common/artefacts';
import { ModelSpecSchema, type ModelSpec } from '../common/model-spec';
import type { BlobStore } from './blob-store';
import { PreconditionFailedError } from './errors';
import { getJson, putJson } from './open-store';

export const PRODUCTION_ALIAS = 'production';
const MODEL_FILES = ['model.json', 'weights.bin'] as const;

/** Thrown when a model has no spec in the store. */
export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
}

/**
 * The model registry on a blob store. Versions (`v1`, `v2`, ...) are claimed with a create-only
 * `claim.json`, filled with create-only writes and complete once `metadata.json` exists; the
 * production alias moves by compare-and-swap.
 */
export class ModelRegistry {
  constructor(readonly store: BlobStore) {}

  specKey(model: string): string {
    return `models/${model}/spec.json`;
  }

  versionPrefix(model: string, version: string): string {
    return `models/${model}/versions/${version}`;
  }

  async saveSpec(spec: ModelSpec): Promise<void> {
    await putJson(this.store, this.specKey(spec.name), ModelSpecSchema.parse(spec));
  }

  async loadSpec(model: string): Promise<ModelSpec> {
    const found = await getJson(this.store, this.specKey(model), ModelSpecSchema);
    if (!found)
      throw new ModelNotFoundError(`Model ${model} has no spec at ${this.store.uriFor(this.specKey(model))}`);
    return found.value;
  }

  async listModels(): Promise<string[]> {
    const keys = await this.store.list('models/');
    return keys.filter((k) => k.endsWith('/spec.json')).map((k) => k.split('/')[1] as string);
  }

  /** Complete versions (with metadata.json), oldest first. */
  async listVersions(model: string): Promise<string[]> {
    const keys = await this.store.list(`models/${model}/versions/`);
    const versions = keys.filter((k) => k.endsWith('/metadata.json')).map((k) => k.split('/')[3] as string);
    return sortVersions(versions);
  }

  async getMetadata(model: string, version: string): Promise<ModelMetadata | undefined> {
    return (
      await getJson(this.store, `${this.versionPrefix(model, version)}/metadata.json`, ModelMetadataSchema)
    )?.value;
  }

  async getAlias(
    model: string,
    alias = PRODUCTION_ALIAS,
  ): Promise<{ value: Alias; etag: string } | undefined> {
    return getJson(this.store, `models/${model}/aliases/${alias}.json`, AliasSchema);
  }

  /**
   * Registers the candidate under `candidatePrefix` as a new version, once per workflow: a retry
   * after a crash at any point finds its own claim and completes the same version.
   */
  async registerVersion(
    model: string,
    workflowId: string,
    candidatePrefix: string,
    metadata: (version: string) => ModelMetadata,
  ): Promise<string> {
    const version = await this.claimVersion(model, workflowId);
    const prefix = this.versionPrefix(model, version);
    for (const file of MODEL_FILES) {
      const blob = await this.store.get(`${candidatePrefix}/${file}`);
      if (!blob) throw new Error(`Candidate ${this.store.uriFor(candidatePrefix)} lacks ${file}`);
      await this.createOrConfirm(`${prefix}/${file}`, blob.body);
    }
    const meta = Buffer.from(JSON.stringify(ModelMetadataSchema.parse(metadata(version)), null, 2));
    // A retry finds the first attempt's metadata (other timestamps) and keeps it.
    await this.createOrConfirm(`${prefix}/metadata.json`, meta, true);
    return version;
  }

  /** Moves the alias to `version` by compare-and-swap; returns the version it pointed at before. */
  async setAlias(
    model: string,
    version: string,
    workflowId: string | null,
    alias = PRODUCTION_ALIAS,
  ): Promise<string | null> {
    const key = `models/${model}/aliases/${alias}.json`;
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.getAlias(model, alias);
      if (current?.value.version === version) return current.value.previous;
      const next: Alias = {
        version,
        previous: current?.value.version ?? null,
        updatedAt: new Date().toISOString(),
        workflowId,
      };
      try {
        await putJson(this.store, key, next, current ? { ifMatch: current.etag } : { ifNoneMatch: '*' });
        return next.previous;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
      }
    }
    throw new Error(`Alias ${alias} of ${model} kept changing under 20 compare-and-swap attempts`);
  }

  private async claimVersion(model: string, workflowId: string): Promise<string> {
    const keys = await this.store.list(`models/${model}/versions/`);
    const claims = keys.filter((k) => k.endsWith('/claim.json'));
    for (const key of claims) {
      const claim = await getJson(this.store, key, VersionClaimSchema);
      if (claim?.value.workflowId === workflowId) return key.split('/')[3] as string;
    }
    let next = 1 + Math.max(0, ...claims.map((k) => Number((k.split('/')[3] as string).slice(1))));
    for (;;) {
      const version = `v${next}`;
      try {
        await putJson(
          this.store,
          `${this.versionPrefix(model, version)}/claim.json`,
          { workflowId, claimedAt: new Date().toISOString() },
          { ifNoneMatch: '*' },
        );
        return version;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
        next++;
      }
    }
  }

  /** Create-only write; an existing object must already hold the same bytes (a retried write). */
  private async createOrConfirm(key: string, body: Uint8Array, allowDifferent = false): Promise<void> {
    try {
      await this.store.put(key, body, { ifNoneMatch: '*' });
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const existing = await this.store.get(key);
      if (!allowDifferent && existing && !Buffer.from(existing.body).equals(Buffer.from(body))) {
        throw new Error(
          `Version file ${this.store.uriFor(key)} exists with other content; versions are immutable`,
        );
      }
    }
  }
}

export function sortVersions(versions: string[]): string[] {
  return [...versions].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
}

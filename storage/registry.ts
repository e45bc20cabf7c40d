import { z } from 'zod';

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
/** Spec look-ups {@link ModelRegistry.listModels} has in flight at once. */
const SPEC_CHECKS_AT_ONCE = 16;
/** `models/<model>/registrations/<workflowId>.json`: the version a workflow registers, written once. */
const RegistrationSchema = z.object({
  workflowId: z.string(),
  version: z.string(),
  registeredAt: z.string(),
});
/** The files of a version by its metadata's `format` (absent: tfjs). */
const MODEL_FILES = { tfjs: ['model.json', 'weights.bin'], onnx: ['model.onnx'] } as const;

/** The files a version of `metadata`'s format holds beside metadata.json. */
export function versionFiles(metadata: Pick<ModelMetadata, 'format'>): readonly string[] {
  return MODEL_FILES[metadata.format ?? 'tfjs'];
}

/** Thrown when a model has no spec in the store. */
export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
  constructor(
    readonly model: string,
    message: string,
  ) {
    super(message);
  }
}

/** Thrown by {@link ModelRegistry.saveSpec} when the spec lists an alias another model's name or aliases claim. */
export class ModelAliasTakenError extends Error {
  override readonly name = 'ModelAliasTakenError';
  constructor(
    readonly model: string,
    readonly alias: string,
    readonly owner: string,
  ) {
    super(
      owner === alias
        ? `model ${model}: alias ${alias} is the name of model ${alias}`
        : `model ${model}: alias ${alias} is already an alias of model ${owner}`,
    );
  }
}

/** Thrown by {@link ModelRegistry.moveAlias} when the alias is not where the caller expected: another writer moved it. */
export class AliasConflictError extends Error {
  override readonly name = 'AliasConflictError';
}

/** Thrown by {@link ModelRegistry.rollback} when there is nothing to roll back to or the target cannot serve. */
export class RollbackRefusedError extends Error {
  override readonly name = 'RollbackRefusedError';
}

/** Result of {@link ModelRegistry.rollback}: the alias moved from `from` to `to`. */
export interface RollbackMove {
  model: string;
  from: string;
  to: string;
  alias: Alias;
}

/**
 * The model registry on a blob store. Versions (`v1`, `v2`, ...) are claimed with a create-only
 * `claim.json`, assigned to a workflow by a create-only registration record, filled with create-only
 * writes and complete once `metadata.json` exists; the production alias moves by compare-and-swap.
 */
export class ModelRegistry {
  constructor(readonly store: BlobStore) {}

  specKey(model: string): string {
    return `models/${model}/spec.json`;
  }

  versionPrefix(model: string, version: string): string {
    return `models/${model}/versions/${version}`;
  }

  /**
   * Stores a model's spec. `condition` makes it a create-only write (`{ ifNoneMatch: '*' }`) or a
   * compare-and-swap against the etag `getSpec` returned (`{ ifMatch }`); a lost race throws
   * PreconditionFailedError.
   */
  async saveSpec(spec: ModelSpec, condition: { ifNoneMatch?: '*'; ifMatch?: string } = {}): Promise<void> {
    if (spec.aliases?.length) await this.checkAliases(spec.name, spec.aliases);
    await putJson(this.store, this.specKey(spec.name), ModelSpecSchema.parse(spec), condition);
  }

  /**
   * Throws {@link ModelAliasTakenError} when one of `aliases` is another model's name or alias: an
   * old client's model name must lead to one model.
   */
  private async checkAliases(model: string, aliases: readonly string[]): Promise<void> {
    const others = (await this.listModels()).filter((name) => name !== model);
    for (const alias of aliases)
      if (others.includes(alias)) throw new ModelAliasTakenError(model, alias, alias);
    for (const other of others) {
      const claimed = (await this.getSpec(other))?.value.aliases ?? [];
      const taken = aliases.find((alias) => claimed.includes(alias));
      if (taken) throw new ModelAliasTakenError(model, taken, other);
    }
  }

  /** The stored spec with its etag, for a later conditional `saveSpec`; undefined when none. */
  getSpec(model: string): Promise<{ value: ModelSpec; etag: string } | undefined> {
    return getJson(this.store, this.specKey(model), ModelSpecSchema);
  }

  async loadSpec(model: string): Promise<ModelSpec> {
    const found = await this.getSpec(model);
    if (!found)
      throw new ModelNotFoundError(
        model,
        `Model ${model} has no spec at ${this.store.uriFor(this.specKey(model))}`,
      );
    return found.value;
  }

  /**
   * The models with a spec, sorted: the folders under `models/` (one listing by delimiter), each
   * checked for its spec.json (one small read; a GET costs S3 a tenth of a LIST). Never a walk of what a model's folder holds
   * (versions, older deployments' trigger evaluations), so the cost grows with the number of models only.
   */
  async listModels(): Promise<string[]> {
    const folders = await this.store.listPrefixes('models/');
    const names = folders.map((folder) => folder.slice('models/'.length, -1));
    const found: string[] = [];
    for (let at = 0; at < names.length; at += SPEC_CHECKS_AT_ONCE) {
      const batch = names.slice(at, at + SPEC_CHECKS_AT_ONCE);
      const present = await Promise.all(batch.map((name) => this.hasSpec(name)));
      found.push(...batch.filter((_, i) => present[i]));
    }
    return found;
  }

  /** Whether `models/<model>/spec.json` exists. */
  private async hasSpec(model: string): Promise<boolean> {
    return (await this.store.get(this.specKey(model))) !== undefined;
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
    return getJson(this.store, this.aliasKey(model, alias), AliasSchema);
  }

  /**
   * Says why `version` cannot be served, or `undefined` when it is complete: metadata.json valid and
   * describing it, and its format's files present (model.json and weights.bin, or model.onnx).
   * Rollback targets must pass this.
   */
  async versionProblem(model: string, version: string): Promise<string | undefined> {
    const prefix = this.versionPrefix(model, version);
    let metadata: ModelMetadata | undefined;
    try {
      metadata = await this.getMetadata(model, version);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
    if (!metadata) return `${model} ${version} does not exist or is incomplete (no metadata.json)`;
    if (metadata.model !== model || metadata.version !== version)
      return `${this.store.uriFor(`${prefix}/metadata.json`)} describes ${metadata.model} ${metadata.version}`;
    // A listing, not a download: weights can be large and live on S3.
    const keys = new Set(await this.store.list(`${prefix}/`));
    for (const file of versionFiles(metadata)) {
      if (!keys.has(`${prefix}/${file}`)) return `${model} ${version} lacks ${file}`;
    }
    return undefined;
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
    const described = ModelMetadataSchema.parse(metadata(version));
    for (const file of versionFiles(described)) {
      const blob = await this.store.get(`${candidatePrefix}/${file}`);
      if (!blob) throw new Error(`Candidate ${this.store.uriFor(candidatePrefix)} lacks ${file}`);
      await this.createOrConfirm(`${prefix}/${file}`, blob.body);
    }
    const meta = Buffer.from(JSON.stringify(described, null, 2));
    // A retry finds the first attempt's metadata (other timestamps) and keeps it.
    await this.createOrConfirm(`${prefix}/metadata.json`, meta, true);
    return version;
  }

  /**
   * Points the alias at `version` unless it already does, retrying compare-and-swap conflicts; returns the
   * version it pointed at before. Idempotent, so a retried registerModel leaves one consistent alias.
   */
  async setAlias(
    model: string,
    version: string,
    workflowId: string | null,
    alias = PRODUCTION_ALIAS,
  ): Promise<string | null> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = await this.getAlias(model, alias);
      if (current?.value.version === version) return current.value.previous;
      try {
        const moved = await this.swapAlias(model, alias, current, version, {
          expected: current?.value.version ?? null,
          workflowId,
        });
        return moved.previous;
      } catch (err) {
        if (!(err instanceof AliasConflictError)) throw err;
      }
    }
    throw new Error(`Alias ${alias} of ${model} kept changing under 20 compare-and-swap attempts`);
  }

  /**
   * One compare-and-swap of the alias: moves it to `version` only if it still points at `expected`
   * (`null`: no alias yet), remembering `expected` as `previous`. Throws {@link AliasConflictError}
   * when another writer got there first; the alias is then left as that writer made it.
   */
  async moveAlias(
    model: string,
    version: string,
    opts: { expected: string | null; workflowId: string | null; alias?: string },
  ): Promise<Alias> {
    const alias = opts.alias ?? PRODUCTION_ALIAS;
    return this.swapAlias(model, alias, await this.getAlias(model, alias), version, opts);
  }

  /** The compare-and-swap of {@link moveAlias} against the alias state the caller has just read. */
  private async swapAlias(
    model: string,
    alias: string,
    current: { value: Alias; etag: string } | undefined,
    version: string,
    opts: { expected: string | null; workflowId: string | null },
  ): Promise<Alias> {
    const found = current?.value.version ?? null;
    const conflict = (now: string | null) =>
      new AliasConflictError(
        `Alias ${alias} of ${model} points at ${now ?? 'nothing'}, expected ${opts.expected ?? 'nothing'}: another writer moved it; nothing was changed`,
      );
    if (found !== opts.expected) throw conflict(found);
    const next: Alias = {
      version,
      previous: found,
      updatedAt: new Date().toISOString(),
      workflowId: opts.workflowId,
    };
    try {
      await putJson(
        this.store,
        this.aliasKey(model, alias),
        next,
        current ? { ifMatch: current.etag } : { ifNoneMatch: '*' },
      );
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      throw conflict((await this.getAlias(model, alias))?.value.version ?? null);
    }
    return next;
  }

  /**
   * Moves `production` back to `to` (default: the version it pointed at before its last move) by
   * compare-and-swap. The target must be complete; throws {@link RollbackRefusedError} otherwise and
   * {@link AliasConflictError} when another writer moves the alias meanwhile. Servers are not touched.
   */
  async rollback(model: string, to?: string): Promise<RollbackMove> {
    await this.loadSpec(model);
    const current = await this.getAlias(model);
    if (!current) throw new RollbackRefusedError(`${model} has no production alias: nothing to roll back`);
    const from = current.value.version;
    const target = to ?? current.value.previous;
    if (!target) {
      throw new RollbackRefusedError(
        `${model} production ${from} has no previous version; name one with --to (versions: ${(await this.listVersions(model)).join(', ')})`,
      );
    }
    if (target === from) throw new RollbackRefusedError(`${model} production already is ${target}`);
    const problem = await this.versionProblem(model, target);
    if (problem) throw new RollbackRefusedError(`cannot roll ${model} back to ${target}: ${problem}`);
    const alias = await this.moveAlias(model, target, { expected: from, workflowId: null });
    return { model, from, to: target, alias };
  }

  /** Names of the model's aliases (`production`, ...), sorted. */
  async listAliases(model: string): Promise<string[]> {
    const prefix = this.aliasKey(model, '').slice(0, -'.json'.length);
    return (await this.store.list(prefix))
      .filter((key) => key.endsWith('.json'))
      .map((key) => key.slice(prefix.length, -'.json'.length))
      .filter((name) => name && !name.includes('/'));
  }

  private aliasKey(model: string, alias: string): string {
    return `models/${model}/aliases/${alias}.json`;
  }

  /** Key of the record that names the one version `workflowId` registers. */
  private registrationKey(model: string, workflowId: string): string {
    return `models/${model}/registrations/${encodeURIComponent(workflowId)}.json`;
  }

  /**
   * The version `workflowId` registers, decided by one create-only write of its registration record:
   * attempts that race (a stale attempt beside its retry) may each claim a number, but only one record
   * is created and every attempt returns the version it names. A number claimed by the loser stays
   * unused (a claim without metadata is no version).
   */
  private async claimVersion(model: string, workflowId: string): Promise<string> {
    const key = this.registrationKey(model, workflowId);
    const recorded = await getJson(this.store, key, RegistrationSchema);
    if (recorded) return recorded.value.version;
    const candidate = await this.claimNumber(model, workflowId);
    try {
      await putJson(
        this.store,
        key,
        { workflowId, version: candidate, registeredAt: new Date().toISOString() },
        { ifNoneMatch: '*' },
      );
      return candidate;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err;
      const winner = await getJson(this.store, key, RegistrationSchema);
      if (!winner)
        throw new Error(`${this.store.uriFor(key)} exists but cannot be read back`, { cause: err });
      return winner.value.version;
    }
  }

  /**
   * A version number claimed for `workflowId` with a create-only `claim.json`: its own claim when an
   * earlier attempt made one (also one registered before registration records existed), else the next
   * free number.
   */
  private async claimNumber(model: string, workflowId: string): Promise<string> {
    const keys = await this.store.list(`models/${model}/versions/`);
    const claims = keys.filter((k) => k.endsWith('/claim.json'));
    for (const key of claims) {
      const claim = await getJson(this.store, key, VersionClaimSchema);
      if (claim?.value.workflowId === workflowId) return key.split('/')[3] as string;
    }
    // Any file of a version counts, so a version written without a claim is never reused.
    const numbers = keys.map((k) => Number((k.split('/')[3] as string).slice(1))).filter(Number.isInteger);
    let next = 1 + Math.max(0, ...numbers);
    for (;;) {
      const version = `v${next}`;
      const key = `${this.versionPrefix(model, version)}/claim.json`;
      try {
        await putJson(
          this.store,
          key,
          { workflowId, claimedAt: new Date().toISOString() },
          { ifNoneMatch: '*' },
        );
        return version;
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err;
        // A racing attempt of the same workflow may have claimed this very number.
        if ((await getJson(this.store, key, VersionClaimSchema))?.value.workflowId === workflowId)
          return version;
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

import fs from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { versionSummary, type Alias, type VersionSummary } from '../../common/artefacts';
import { formatIssues } from '../../common/format-issues';
import { ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import { CorruptBlobError, PreconditionFailedError } from '../../storage/errors';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import type { Config } from '../../config/config';
import { monitorScheduleId } from '../../runs';
import { renderTable, parseModelName, type CommandOutput } from '../output';
import { syncOrExplain } from './triggers';

/** What `models create` did: `unchanged` when the stored spec already was this one. */
export interface CreateResult {
  model: string;
  action: 'created' | 'replaced' | 'unchanged';
  uri: string;
}

/** One model as `retrain models list` shows it. */
export interface ModelSummary {
  name: string;
  task: ModelSpec['task'];
  /** The version the `production` alias points at, null before the first registration. */
  production: string | null;
  versions: number;
}

/** `retrain models show`: the spec, every version (oldest first) and every alias by name. */
export interface ModelDetails {
  spec: ModelSpec;
  versions: VersionSummary[];
  aliases: Record<string, Alias>;
}

/** `retrain models create <spec.json> [--replace]`: validates the spec file, then stores it. */
export async function modelsCreateCommand(
  file: string,
  values: { replace?: boolean; json?: boolean },
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const spec = await readSpecFile(file);
  const registry = registryOf(config);
  const before = await registry.getSpec(spec.name).catch(() => undefined);
  const result = await createModel(registry, spec, values.replace ?? false);
  // Triggers are checked by the model's monitor schedule: it follows the stored spec.
  const schedule =
    result.action !== 'unchanged' && (spec.triggers || before?.value.triggers)
      ? await syncOrExplain(config, spec.name, spec.triggers)
      : undefined;
  out.result(
    values.json,
    { ...result, ...(schedule ? { schedule } : {}) },
    `${result.model}: ${result.action} (${result.uri})` +
      (schedule ? `; schedule ${monitorScheduleId(spec.name)} ${schedule}` : ''),
  );
  return 0;
}

/** `retrain models list`: every model with its task, production version and number of versions. */
export async function modelsListCommand(
  values: { json?: boolean },
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const models = await listModels(registryOf(config));
  out.result(values.json, models, models.length === 0 ? 'no models' : renderModels(models));
  return 0;
}

/** `retrain models show <model>`: the spec, every version and every alias. */
export async function modelsShowCommand(
  name: string,
  values: { json?: boolean },
  config: Config,
  out: CommandOutput,
): Promise<number> {
  const model = parseModelName(name, 'model name');
  const details = await showModel(registryOf(config), model);
  out.result(values.json, details, renderDetails(details));
  return 0;
}

function registryOf(config: Config): ModelRegistry {
  return new ModelRegistry(openBlobStore(config.store, config.s3));
}

/** Reads and validates a spec file; nothing touches the store until it passes. */
async function readSpecFile(file: string): Promise<ModelSpec> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read spec file ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(
      `spec file ${file} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  const parsed = ModelSpecSchema.safeParse(json);
  if (!parsed.success) throw new Error(`invalid model spec in ${file}: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/**
 * Stores the spec of a new model. Re-creating a model with the identical spec (defaults applied) is a
 * no-op; a different spec needs `replace`, so a typo in a name cannot silently overwrite another model.
 */
export async function createModel(
  registry: ModelRegistry,
  spec: ModelSpec,
  replace: boolean,
): Promise<CreateResult> {
  const result = (action: CreateResult['action']): CreateResult => ({
    model: spec.name,
    action,
    uri: registry.store.uriFor(registry.specKey(spec.name)),
  });
  let found: { value: ModelSpec; etag: string } | undefined;
  try {
    found = await registry.getSpec(spec.name);
  } catch (err) {
    if (!(err instanceof CorruptBlobError)) throw err;
    if (!replace) throw new Error(`${err.message}\npass --replace to overwrite it`);
  }
  const existing = found?.value;
  if (existing && isDeepStrictEqual(existing, spec)) return result('unchanged');
  if (existing && !replace) {
    const changed = [...new Set([...Object.keys(existing), ...Object.keys(spec)])].filter(
      (key) => !isDeepStrictEqual(existing[key as keyof ModelSpec], spec[key as keyof ModelSpec]),
    );
    throw new Error(
      `model ${spec.name} already exists with a different spec (${changed.join(', ')} differ); pass --replace to overwrite it`,
    );
  }
  // Conditional, so two people creating or replacing the same model at once cannot both win.
  try {
    await registry.saveSpec(spec, found ? { ifMatch: found.etag } : replace ? {} : { ifNoneMatch: '*' });
  } catch (err) {
    if (err instanceof PreconditionFailedError)
      throw new Error(
        `the spec of ${spec.name} changed while this command ran; nothing was written, try again`,
      );
    throw err;
  }
  return result(existing ? 'replaced' : 'created');
}

export async function listModels(registry: ModelRegistry): Promise<ModelSummary[]> {
  const names = [...(await registry.listModels())].sort();
  return Promise.all(
    names.map(async (name) => {
      const [spec, alias, versions] = await Promise.all([
        registry.loadSpec(name),
        registry.getAlias(name),
        registry.listVersions(name),
      ]);
      return { name, task: spec.task, production: alias?.value.version ?? null, versions: versions.length };
    }),
  );
}

export async function showModel(registry: ModelRegistry, model: string): Promise<ModelDetails> {
  const spec = await registry.loadSpec(model);
  const versions = await Promise.all(
    (await registry.listVersions(model)).map(async (version): Promise<VersionSummary | undefined> => {
      const meta = await registry.getMetadata(model, version);
      return meta && { ...versionSummary(meta), version };
    }),
  );
  const aliases: Record<string, Alias> = {};
  for (const name of await registry.listAliases(model)) {
    const alias = await registry.getAlias(model, name);
    if (alias) aliases[name] = alias.value;
  }
  return { spec, versions: versions.filter((v) => v !== undefined), aliases };
}

function renderModels(models: ModelSummary[]): string {
  return renderTable(
    ['NAME', 'TASK', 'PRODUCTION', 'VERSIONS'],
    models.map((m) => [m.name, m.task, m.production ?? '-', String(m.versions)]),
  );
}

function renderDetails({ spec, versions, aliases }: ModelDetails): string {
  const hp = spec.hyperparams;
  const lines = [
    `${spec.name} (${spec.task})${spec.description ? `: ${spec.description}` : ''}`,
    spec.horizon === 0
      ? `  ${spec.target ?? 'clusters'}${spec.threshold === undefined ? '' : ` > ${spec.threshold}`} on each row${spec.entityColumn ? ` per ${spec.entityColumn}` : ''}, from ${spec.features.join(', ')} (time ${spec.timeColumn})`
      : `  ${spec.target}${spec.task === 'classify' ? ` > ${spec.threshold}` : ''} in ${spec.horizon} step(s) per ${spec.entityColumn}, from ${spec.lookback} step(s) of ${spec.features.join(', ')} (time ${spec.timeColumn})`,
    `  window ${spec.windowDays} days, at least ${spec.minRecords} records, ${spec.epochs} epochs, ${hp.architecture} (${hp.hiddenUnits} units, ${hp.optimizer} lr ${hp.learningRate}, batch ${hp.batchSize})`,
    `  gate: ${spec.gate.mustBeatBaseline ? 'must beat the naive baselines, ' : ''}tolerance ${spec.gate.tolerance * 100}% against production`,
    '',
    versions.length === 0
      ? 'no versions'
      : renderTable(
          ['VERSION', 'CREATED', 'GATE METRIC', 'BACKEND', 'WORKFLOW ID'],
          versions.map((v) => [
            v.version,
            v.createdAt,
            `${v.metric} ${v.value === null ? '-' : v.value.toFixed(4)}`,
            v.backend,
            v.workflowId,
          ]),
        ),
    '',
    ...(Object.keys(aliases).length === 0
      ? ['no aliases']
      : Object.entries(aliases).map(
          ([name, a]) =>
            `${name} -> ${a.version} (previous ${a.previous ?? '-'}, updated ${a.updatedAt}${a.workflowId ? ` by ${a.workflowId}` : ''})`,
        )),
  ];
  return lines.join('\n');
}

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileBlobStore } from '../../storage/file-store';
import { resolveModelName } from '../../storage/model-aliases';
import { ModelAliasTakenError, ModelNotFoundError, ModelRegistry } from '../../storage/registry';
import { stubSpec } from '../helpers/stub-activities';

describe('model aliases', () => {
  let dir: string;
  let registry: ModelRegistry;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-aliases-'));
    registry = new ModelRegistry(new FileBlobStore(dir));
    await registry.saveSpec({ ...stubSpec('boosted'), aliases: ['xgboost', 'gbm'] });
    await registry.saveSpec({ ...stubSpec('lstm'), aliases: ['sequence'] });
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('resolves a model by its name and by each of its aliases', async () => {
    expect((await resolveModelName(registry, 'boosted')).name).toBe('boosted');
    expect((await resolveModelName(registry, 'xgboost')).name).toBe('boosted');
    expect((await resolveModelName(registry, 'gbm')).name).toBe('boosted');
    expect((await resolveModelName(registry, 'sequence')).name).toBe('lstm');
  });

  it('a name wins over an alias', async () => {
    // A model named like another's alias, saved before that alias existed (the check runs on the aliased spec).
    await registry.saveSpec(stubSpec('forest'));
    await expect(registry.saveSpec({ ...stubSpec('trees'), aliases: ['forest'] })).rejects.toThrow(
      'model trees: alias forest is the name of model forest',
    );
    expect((await resolveModelName(registry, 'forest')).name).toBe('forest');
  });

  it('refuses, naming both models, an alias that another spec claims', async () => {
    const saving = registry.saveSpec({ ...stubSpec('other'), aliases: ['kmeans', 'xgboost'] });
    await expect(saving).rejects.toBeInstanceOf(ModelAliasTakenError);
    await expect(saving).rejects.toThrow('model other: alias xgboost is already an alias of model boosted');
    expect(await registry.getSpec('other')).toBeUndefined();
    // Saving a spec again with its own aliases is no conflict.
    await registry.saveSpec({ ...stubSpec('boosted'), aliases: ['xgboost', 'gbm', 'lightgbm'] });
    expect((await resolveModelName(registry, 'lightgbm')).name).toBe('boosted');
  });

  it('an unknown name is ModelNotFoundError naming it', async () => {
    const resolving = resolveModelName(registry, 'catboost');
    await expect(resolving).rejects.toBeInstanceOf(ModelNotFoundError);
    await expect(resolving).rejects.toThrow(/^unknown model catboost: no spec at .* and no model lists it/);
  });
});

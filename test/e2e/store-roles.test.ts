import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '../../storage/blob-store';
import { openBlobStore } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { ensureBucket } from '../../storage/s3-bucket';
import { type S3BlobStore } from '../../storage/s3-store';
import { ServerDirectory } from '../../storage/server-directory';
import { STORE_ROLES, type StoreRole } from '../../storage/store-roles';
import { ensureStoreUsers, type StoreUser } from '../../storage/versitygw-users';
import { cpuLoadSpec, publishVersion } from '../helpers/models';
import { startVersityGw, type VersityGw } from '../helpers/versitygw';

const STORE = 's3://retrain/registry';
const spec = cpuLoadSpec('roles');
const DATASET = 'datasets/roles/run-1/rows.parquet';

const userFor = (role: StoreRole): StoreUser => ({
  accessKeyId: `retrain-${role}`,
  secretAccessKey: randomBytes(18).toString('hex'),
});

/** Settles `op` into what S3 said: 'ok', or the error's code (AccessDenied for a refusal). */
async function outcome(op: Promise<unknown>): Promise<string> {
  try {
    await op;
    return 'ok';
  } catch (err) {
    const text = `${String(err)} ${String((err as { cause?: unknown }).cause)}`;
    return /AccessDenied|Access Denied/i.test(text) ? 'AccessDenied' : text;
  }
}

describe("the store's S3 users on Versity's gateway: each role reaches what it uses and nothing else", () => {
  let gateway: VersityGw;
  const users = Object.fromEntries(STORE_ROLES.map((role) => [role, userFor(role)])) as Record<
    StoreRole,
    StoreUser
  >;
  const stores = {} as Record<StoreRole, BlobStore>;

  const storeAs = (user: StoreUser) =>
    openBlobStore(STORE, { endpoint: gateway.endpoint, region: gateway.region, ...user });

  beforeAll(async () => {
    gateway = await startVersityGw({ iam: true });
    await ensureBucket(STORE, gateway);
    const done = await ensureStoreUsers(STORE, gateway, users);
    expect(done).toEqual({ cpu: 'created', trainer: 'created', serving: 'created', bridge: 'created' });
    for (const role of STORE_ROLES) stores[role] = storeAs(users[role]);
    // What the cpu worker writes: a spec, two versions with v2 in production, a dataset.
    const registry = new ModelRegistry(stores.cpu);
    await registry.saveSpec(spec);
    await publishVersion(registry, spec, 'v1');
    await publishVersion(registry, spec, 'v2');
    await registry.setAlias(spec.name, 'v1', null);
    await registry.setAlias(spec.name, 'v2', 'v1');
    await stores.cpu.put(DATASET, 'rows');
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
  });

  it('lets every role that opens the store checked pass the conditional-write probe', async () => {
    for (const role of ['cpu', 'trainer', 'serving'] as const)
      expect(await outcome((stores[role] as S3BlobStore).verifyConditionalWrites()), role).toBe('ok');
  });

  it('lets the server read versions, roll production back, append to the buffer and the log, and announce itself', async () => {
    const store = stores.serving;
    const registry = new ModelRegistry(store);
    expect(await registry.loadSpec(spec.name)).toMatchObject({ name: spec.name });
    expect((await registry.getMetadata(spec.name, 'v2'))?.version).toBe('v2');
    expect(await registry.listModels()).toEqual([spec.name]);
    expect(await outcome(registry.rollback(spec.name))).toBe('ok');
    expect((await registry.getAlias(spec.name))?.value.version).toBe('v1');
    const part = `buffer/${spec.name}/day=2026-12-08/part-1.parquet`;
    expect(await outcome(store.put(part, 'rows', { ifNoneMatch: '*' }))).toBe('ok');
    expect(await outcome(store.delete(part))).toBe('ok');
    expect(await outcome(store.put(`predictions/model=${spec.name}/day=2026-12-08/p.parquet`, 'p'))).toBe(
      'ok',
    );
    const directory = new ServerDirectory(store);
    const now = new Date().toISOString();
    await directory.announce({
      id: 'srv-a',
      url: 'http://127.0.0.1:8000',
      startedAt: now,
      heartbeatAt: now,
      heartbeatSeconds: 10,
      models: { [spec.name]: 'v1' },
    });
    expect((await directory.aliveServers()).map((server) => server.id)).toEqual(['srv-a']);
  });

  it('refuses the server the datasets, specs, versions and checkpoints', async () => {
    const store = stores.serving;
    expect(await outcome(store.get(DATASET))).toBe('AccessDenied');
    expect(await outcome(new ModelRegistry(store).saveSpec({ ...spec, lookback: 4 }))).toBe('AccessDenied');
    expect(await outcome(store.delete(`models/${spec.name}/versions/v1/metadata.json`))).toBe('AccessDenied');
    expect(await outcome(store.put(`checkpoints/${spec.name}/x/final/model.json`, '{}'))).toBe(
      'AccessDenied',
    );
  });

  it("lets a trainer read its dataset and production's version and write checkpoints, and nothing else", async () => {
    const store = stores.trainer;
    expect(await outcome(store.get(DATASET))).toBe('ok');
    expect(await outcome(new ModelRegistry(store).getMetadata(spec.name, 'v1'))).toBe('ok');
    const checkpoint = `checkpoints/${spec.name}/run-1/epoch-1/model.json`;
    expect(await outcome(store.put(checkpoint, '{}'))).toBe('ok');
    expect(await outcome(store.delete(checkpoint))).toBe('ok');
    expect(await outcome(store.put(`models/${spec.name}/versions/v9/metadata.json`, '{}'))).toBe(
      'AccessDenied',
    );
    expect(await outcome(store.put(DATASET, 'other rows'))).toBe('AccessDenied');
    expect(await outcome(store.get(`buffer/${spec.name}/manifest.json`))).toBe('AccessDenied');
  });

  it('lets the bridge read specs and write nothing', async () => {
    const store = stores.bridge;
    expect(await new ModelRegistry(store).loadSpec(spec.name)).toMatchObject({ name: spec.name });
    expect(await outcome(store.put(`buffer/${spec.name}/day=2026-12-08/part-2.parquet`, 'x'))).toBe(
      'AccessDenied',
    );
    expect(await outcome(store.get(DATASET))).toBe('AccessDenied');
  });

  it('renews a user whose secret changed (the old secret stops working) and keeps the others', async () => {
    const renewed = userFor('serving');
    const done = await ensureStoreUsers(STORE, gateway, { ...users, serving: renewed });
    expect(done).toEqual({ cpu: 'kept', trainer: 'kept', serving: 'renewed', bridge: 'kept' });
    expect(await outcome(storeAs(users.serving).get(`models/${spec.name}/spec.json`))).not.toBe('ok');
    expect(await outcome(storeAs(renewed).get(`models/${spec.name}/spec.json`))).toBe('ok');
    users.serving = renewed;
    stores.serving = storeAs(renewed);
  });

  it('refuses to make the root user a role user', async () => {
    await expect(
      ensureStoreUsers(STORE, gateway, {
        bridge: { accessKeyId: gateway.accessKeyId, secretAccessKey: 'whatever-secret' },
      }),
    ).rejects.toThrow(/the bridge user cannot be the root user/);
  });
});

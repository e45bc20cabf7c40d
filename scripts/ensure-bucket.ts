import { z } from 'zod';
import { loadConfig } from '../config/config';
import { ensureBucket } from '../storage/s3-bucket';
import { STORE_ROLES, type StoreRole } from '../storage/store-roles';
import { ensureStoreUsers, type StoreUser } from '../storage/versitygw-users';

const ACCESS_KEY = z
  .string()
  .regex(/^[A-Za-z0-9._-]{3,64}$/, '3 to 64 letters, digits, dots, dashes or underscores');
const SECRET_KEY = z.string().regex(/^[A-Za-z0-9+/=._-]{8,128}$/, '8 to 128 letters, digits or +/=._-');

/**
 * The roles' S3 users from `S3_<ROLE>_ACCESS_KEY` and `S3_<ROLE>_SECRET_KEY` (cpu, trainer, serving,
 * bridge): a role with neither set gets no user; one with only one of them is an error naming it.
 */
function storeUsers(env: NodeJS.ProcessEnv): Partial<Record<StoreRole, StoreUser>> {
  const users: Partial<Record<StoreRole, StoreUser>> = {};
  for (const role of STORE_ROLES) {
    const accessName = `S3_${role.toUpperCase()}_ACCESS_KEY`;
    const secretName = `S3_${role.toUpperCase()}_SECRET_KEY`;
    const access = env[accessName];
    const secret = env[secretName];
    if (access === undefined && secret === undefined) continue;
    if (access === undefined || secret === undefined)
      throw new Error(`${access === undefined ? accessName : secretName} is missing: set both or neither`);
    const accessKeyId = ACCESS_KEY.safeParse(access);
    if (!accessKeyId.success)
      throw new Error(`${accessName} must be ${accessKeyId.error.issues[0]?.message}`);
    const secretAccessKey = SECRET_KEY.safeParse(secret);
    if (!secretAccessKey.success)
      throw new Error(`${secretName} must be ${secretAccessKey.error.issues[0]?.message}`);
    users[role] = { accessKeyId: accessKeyId.data, secretAccessKey: secretAccessKey.data };
  }
  return users;
}

/**
 * Creates the bucket of `RETRAIN_STORE` (an `s3://` URI) on `S3_ENDPOINT` unless it exists: compose's
 * `s3-bucket` job, run once before the workers and servers start. With `S3_USERS=versitygw` it then
 * gives each role its own user on Versity's S3 gateway and the bucket the policy that limits each to
 * what it uses (storage/store-roles.ts); the job holds the root credentials, the services only their
 * role's. A `file://` store needs none of it.
 */
async function run(): Promise<void> {
  const config = loadConfig();
  if (!config.store.startsWith('s3://')) {
    console.log(`${config.store}: a file store, no bucket to create`);
    return;
  }
  const outcome = await ensureBucket(config.store, config.s3);
  console.log(`${config.store} on ${config.s3.endpoint ?? `AWS ${config.s3.region}`}: bucket ${outcome}`);
  const api = process.env.S3_USERS ?? 'none';
  if (api === 'none') return;
  if (api !== 'versitygw') throw new Error(`S3_USERS must be versitygw or none, not ${api}`);
  const users = storeUsers(process.env);
  const done = await ensureStoreUsers(config.store, config.s3, users);
  for (const [role, what] of Object.entries(done))
    console.log(`${role} user ${users[role as StoreRole]?.accessKeyId}: ${what}`);
  console.log(`bucket policy set for ${Object.keys(done).join(', ') || 'no role'}`);
}

run().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

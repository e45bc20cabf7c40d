import { createHash, createHmac } from 'node:crypto';
import { PutBucketPolicyCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { s3Location, type S3Settings } from './open-store';
import { STORE_ROLES, storeBucketPolicy, type StoreRole } from './store-roles';

/** One role's S3 user: its access key (the user's name in policies) and secret. */
export interface StoreUser {
  accessKeyId: string;
  secretAccessKey: string;
}

type Bytes = string | ArrayBuffer | ArrayBufferView;

const bytesOf = (data: Bytes): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : new Uint8Array(data);

/** SHA-256 (and its HMAC) in the shape the SigV4 signer takes. */
class Sha256 {
  private readonly hash;
  constructor(secret?: Bytes) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytesOf(secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
}

/**
 * Creates (or, with a changed secret, re-creates) one S3 user per role on Versity's S3 gateway
 * through its admin API, as users of the `user` role (they reach only what a bucket policy grants),
 * then sets the store bucket's policy to {@link storeBucketPolicy}. `admin` holds the root
 * credentials; they are sent to the gateway only, as SigV4 signatures. Safe to run on every start.
 * Returns what it did per role.
 */
export async function ensureStoreUsers(
  uri: string,
  admin: S3Settings,
  users: Partial<Record<StoreRole, StoreUser>>,
): Promise<Partial<Record<StoreRole, 'created' | 'kept' | 'renewed'>>> {
  const { endpoint, accessKeyId, secretAccessKey } = admin;
  if (!endpoint || !accessKeyId || !secretAccessKey)
    throw new Error("creating the store's S3 users needs the gateway's endpoint and root credentials");
  const api = new GatewayAdmin(endpoint, admin.region, { accessKeyId, secretAccessKey });
  const existing = await api.listUsers();
  const done: Partial<Record<StoreRole, 'created' | 'kept' | 'renewed'>> = {};
  for (const role of STORE_ROLES) {
    const user = users[role];
    if (!user) continue;
    if (user.accessKeyId === accessKeyId)
      throw new Error(
        `the ${role} user cannot be the root user (${accessKeyId}): give it its own access key`,
      );
    const known = existing.get(user.accessKeyId);
    if (known === user.secretAccessKey) {
      done[role] = 'kept';
      continue;
    }
    if (known !== undefined) await api.call('/delete-user', { access: user.accessKeyId });
    await api.call('/create-user', {}, accountXml(user));
    done[role] = known === undefined ? 'created' : 'renewed';
  }
  const policy = storeBucketPolicy(
    uri,
    Object.fromEntries(Object.entries(users).map(([role, user]) => [role, user.accessKeyId])),
  );
  const client = new S3Client({
    region: admin.region,
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  try {
    await client.send(
      new PutBucketPolicyCommand({ Bucket: s3Location(uri).bucket, Policy: JSON.stringify(policy) }),
    );
  } finally {
    client.destroy();
  }
  return done;
}

function accountXml({ accessKeyId, secretAccessKey }: StoreUser): string {
  const account = { Access: accessKeyId, Secret: secretAccessKey, Role: 'user' };
  return `<?xml version="1.0" encoding="UTF-8"?>${new XMLBuilder().build({ Account: account })}`;
}

/** The gateway's admin API (PATCH requests signed as S3 requests by an admin or the root user). */
class GatewayAdmin {
  private readonly signer: SignatureV4;

  constructor(
    private readonly endpoint: string,
    region: string,
    credentials: { accessKeyId: string; secretAccessKey: string },
  ) {
    this.signer = new SignatureV4({ credentials, region, service: 's3', sha256: Sha256 });
  }

  /** Access key -> secret of every user the gateway has. */
  async listUsers(): Promise<Map<string, string>> {
    const parsed = new XMLParser({ isArray: (name) => name === 'Accounts', parseTagValue: false }).parse(
      await this.call('/list-users'),
    ) as { ListUserAccountsResult?: { Accounts?: { Access?: string; Secret?: string }[] } };
    const accounts = parsed.ListUserAccountsResult?.Accounts ?? [];
    return new Map(accounts.map((account) => [String(account.Access ?? ''), String(account.Secret ?? '')]));
  }

  async call(path: string, query: Record<string, string> = {}, body = ''): Promise<string> {
    const url = new URL(path, this.endpoint);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const signed = await this.signer.sign({
      method: 'PATCH',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: {
        host: url.host,
        'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
        ...(body ? { 'content-type': 'application/xml' } : {}),
      },
      body,
    });
    const res = await fetch(url, {
      method: 'PATCH',
      headers: signed.headers,
      ...(body ? { body } : {}),
    });
    const text = await res.text();
    if (!res.ok) {
      const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `HTTP ${res.status}`;
      throw new Error(
        `the S3 gateway's admin API refused ${path}: ${code} (is it Versity's gateway with an IAM directory?)`,
      );
    }
    return text;
  }
}

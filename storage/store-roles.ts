import { s3Location } from './open-store';

/**
 * The processes that share a store, each with its own S3 user in a deployment that gives them one
 * (compose's bucket job, docs/deploy.md): the cpu worker (every stage but training: it owns the store),
 * the trainers (the gpu worker and the Python workers), the inference server, and the Redis bridge.
 */
export const STORE_ROLES = ['cpu', 'trainer', 'serving', 'bridge'] as const;
export type StoreRole = (typeof STORE_ROLES)[number];

type Access = 'read' | 'write' | 'delete';

/** Keys under the store's root, as S3 resource patterns (`*` matches across `/`). */
interface Grant {
  access: Access[];
  keys: string[];
}

/** What every process that opens the store checked does first: a conditional write and its delete. */
const PROBE = 'conditional-write-probe/*';

/**
 * What each role touches, and nothing more. The cpu worker exports, validates, registers, reloads,
 * measures triggers and compacts: the whole store. A trainer reads its dataset and production's weights
 * (a warm start) and writes its checkpoints and candidate. The server reads versions, specs, live
 * figures and trigger history, moves an alias back (rollback), appends to the buffer and the prediction
 * log and announces itself. The bridge reads specs to check a job's model.
 */
const GRANTS: Record<StoreRole, Grant[]> = {
  cpu: [{ access: ['read', 'write', 'delete'], keys: ['*'] }],
  trainer: [
    { access: ['read'], keys: ['models/*', 'datasets/*'] },
    { access: ['read', 'write', 'delete'], keys: ['checkpoints/*', PROBE] },
  ],
  serving: [
    { access: ['read'], keys: ['models/*', 'live/*', 'evaluations/*'] },
    { access: ['write'], keys: ['models/*/aliases/*'] },
    { access: ['read', 'write', 'delete'], keys: ['buffer/*', 'predictions/*', 'fleet/*', PROBE] },
  ],
  bridge: [{ access: ['read'], keys: ['models/*'] }],
};

const ACTIONS: Record<Access, string> = {
  read: 's3:GetObject',
  write: 's3:PutObject',
  delete: 's3:DeleteObject',
};

/** An S3 bucket policy (the AWS policy language; principals are the server's user names). */
export interface BucketPolicy {
  Version: '2012-10-17';
  Statement: {
    Sid: string;
    Effect: 'Allow';
    Principal: string;
    Action: string[];
    Resource: string[];
  }[];
}

/**
 * The bucket policy that gives each role's user (by access key) what {@link GRANTS} says, under the
 * store `uri` names (`s3://<bucket>[/prefix]`), and lets each list the bucket (listing by prefix is how
 * the store finds versions, parts and servers). Nothing is granted to a role without a user.
 */
export function storeBucketPolicy(uri: string, users: Partial<Record<StoreRole, string>>): BucketPolicy {
  const { bucket, prefix } = s3Location(uri);
  const root = prefix === '' ? '' : `${prefix}/`;
  const Statement: BucketPolicy['Statement'] = [];
  for (const role of STORE_ROLES) {
    const user = users[role];
    if (!user) continue;
    Statement.push({
      Sid: `${role}-list`,
      Effect: 'Allow',
      Principal: user,
      Action: ['s3:ListBucket'],
      Resource: [`arn:aws:s3:::${bucket}`],
    });
    GRANTS[role].forEach((grant, i) =>
      Statement.push({
        Sid: `${role}-${i + 1}`,
        Effect: 'Allow',
        Principal: user,
        Action: grant.access.map((access) => ACTIONS[access]),
        Resource: grant.keys.map((key) => `arn:aws:s3:::${bucket}/${root}${key}`),
      }),
    );
  }
  return { Version: '2012-10-17', Statement };
}

import type { DuckDBConnection } from '@duckdb/node-api';
import type { S3Settings } from './open-store';

/** Where DuckDB finds the store's parts over S3: its httpfs extension file and the store's S3 settings. */
export interface S3Reads {
  /** The `httpfs.duckdb_extension` built for this DuckDB's version. */
  extension: string;
  s3: Required<Pick<S3Settings, 'accessKeyId' | 'secretAccessKey'>> & Pick<S3Settings, 'endpoint' | 'region'>;
}

/** The SQL statements that let a session read `s3://` URLs of the store: load httpfs, then a secret. */
function setupStatements({ extension, s3 }: S3Reads): string[] {
  const quote = (value: string) => `'${value.replaceAll("'", "''")}'`;
  const endpoint = s3.endpoint ? new URL(s3.endpoint) : undefined;
  const options = [
    'TYPE s3',
    `KEY_ID ${quote(s3.accessKeyId)}`,
    `SECRET ${quote(s3.secretAccessKey)}`,
    `REGION ${quote(s3.region)}`,
    ...(endpoint
      ? [`ENDPOINT ${quote(endpoint.host)}`, "URL_STYLE 'path'", `USE_SSL ${endpoint.protocol === 'https:'}`]
      : []),
  ];
  return [`LOAD ${quote(extension)}`, `CREATE OR REPLACE SECRET retrain_store (${options.join(', ')})`];
}

/**
 * `conn`, set up for `reads` the first time a statement names an `s3://` URL (httpfs costs ~90 ms to
 * load, which sessions that read only local files do not pay). An error while setting up names what
 * failed, never the credentials.
 */
export function withS3Reads(conn: DuckDBConnection, reads: S3Reads): DuckDBConnection {
  let ready: Promise<void> | undefined;
  const setUp = () =>
    (ready ??= (async () => {
      for (const sql of setupStatements(reads)) await conn.run(sql);
    })().catch((err: unknown) => {
      const message = (err instanceof Error ? err.message : String(err))
        .replaceAll(reads.s3.secretAccessKey, '[redacted]')
        .replaceAll(reads.s3.accessKeyId, '[redacted]');
      throw new Error(`DuckDB could not read the store over S3 (httpfs ${reads.extension}): ${message}`);
    }));
  const remote = (sql: unknown) => typeof sql === 'string' && sql.includes("'s3://");
  return new Proxy(conn, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property !== 'run' && property !== 'runAndReadAll' && property !== 'stream')
        return (value as (...args: unknown[]) => unknown).bind(target);
      return async (sql: unknown, ...rest: unknown[]) => {
        if (remote(sql)) await setUp();
        return (value as (...args: unknown[]) => unknown).call(target, sql, ...rest);
      };
    },
  });
}

import { describe, expect, it } from 'vitest';
import { withDuckDb } from '../../storage/duckdb';
import { withS3Reads } from '../../storage/duckdb-remote';

const SECRET = 'the-secret-key-0123456789';
const reads = {
  extension: '/nonexistent/httpfs.duckdb_extension',
  s3: {
    region: 'us-east-1',
    endpoint: 'http://127.0.0.1:9',
    accessKeyId: 'reader-key',
    secretAccessKey: SECRET,
  },
};

describe('a DuckDB session set up for reads over S3', () => {
  it('sets nothing up for statements that read no s3:// URL', async () => {
    const rows = await withDuckDb(async (conn) =>
      (await withS3Reads(conn, reads).runAndReadAll('SELECT 42 AS n')).getRowObjectsJson(),
    );
    expect(rows).toEqual([{ n: 42 }]);
  });

  it('sets up httpfs before the first s3:// statement, and a failure names the extension, never the keys', async () => {
    const failure = await withDuckDb((conn) =>
      withS3Reads(conn, reads).run("SELECT * FROM read_parquet('s3://bucket/buffer/m/part.parquet')"),
    ).then(
      () => new Error('expected the set-up to fail'),
      (err: unknown) => err as Error,
    );
    expect(failure.message).toMatch(
      /DuckDB could not read the store over S3 \(httpfs \/nonexistent\/httpfs\.duckdb_extension\)/,
    );
    expect(failure.message).not.toContain(SECRET);
    expect(failure.message).not.toContain('reader-key');
  });
});

import { CreateBucketCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { s3Location, type S3Settings } from './open-store';

/**
 * Creates the bucket an `s3://` store URI names unless it is there already: what a fresh S3 server
 * (compose's `s3-bucket` job, a test's own server) needs before the first write. Says which it was.
 */
export async function ensureBucket(uri: string, s3: S3Settings): Promise<'created' | 'exists'> {
  const { bucket } = s3Location(uri);
  const { endpoint, region, accessKeyId, secretAccessKey } = s3;
  const client = new S3Client({
    region,
    endpoint,
    forcePathStyle: true,
    credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
  });
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    return 'created';
  } catch (err) {
    // BucketAlreadyExists (someone else's bucket of that name) is an error like any other.
    if (err instanceof S3ServiceException && err.name === 'BucketAlreadyOwnedByYou') return 'exists';
    throw err;
  } finally {
    client.destroy();
  }
}

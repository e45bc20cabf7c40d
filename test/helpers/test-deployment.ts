import { randomUUID } from 'node:crypto';
import type { WorkerDeploymentVersion } from '@temporalio/common';

/** The build id of the tests' in-process and child workers: all run the code under test. */
export const TEST_BUILD_ID = 'test';

/**
 * A Worker Deployment of its own for one set of test workers, so making its version current
 * (which every versioned worker needs before new runs reach it) disturbs no other test.
 */
export function testDeployment(buildId = TEST_BUILD_ID): WorkerDeploymentVersion {
  return { deploymentName: `test-${randomUUID()}`, buildId };
}

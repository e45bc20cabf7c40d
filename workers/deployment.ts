import { isGrpcServiceError, type Client } from '@temporalio/client';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { WorkerOptions as SdkWorkerOptions } from '@temporalio/worker';

/** How long {@link setCurrentVersion} waits for the server to know the version (its workers must poll). */
const SET_CURRENT_TIMEOUT_MS = 60_000;
const SET_CURRENT_RETRY_MS = 250;
/** gRPC NOT_FOUND (no deployment of that name yet) and FAILED_PRECONDITION (version not ready). */
const NOT_READY_CODES = new Set([5, 9]);

/**
 * The SDK's options for a worker of `version`: every workflow it runs is Pinned, so a run finishes
 * on the code it started with; new runs go to the deployment's current version. None when absent
 * (an unversioned worker, as benches and replays use).
 */
export function pinnedTo(
  version: WorkerDeploymentVersion | undefined,
): Pick<SdkWorkerOptions, 'workerDeploymentOptions'> {
  return version
    ? { workerDeploymentOptions: { useWorkerVersioning: true, version, defaultVersioningBehavior: 'PINNED' } }
    : {};
}

/**
 * Makes `version` its deployment's current version, so new runs start on it. The server learns a
 * version from its workers' polls, and refuses a version that lacks a task queue the current one
 * has (the gpu queue before the gpu worker polls): both answer FAILED_PRECONDITION or NOT_FOUND and
 * are retried until `timeoutMs`.
 */
export async function setCurrentVersion(
  client: Client,
  version: WorkerDeploymentVersion,
  timeoutMs = SET_CURRENT_TIMEOUT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await client.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: client.options.namespace,
        deploymentName: version.deploymentName,
        buildId: version.buildId,
        identity: client.options.identity,
      });
      return;
    } catch (err) {
      if (!notReadyYet(err) || Date.now() >= deadline)
        throw new Error(
          `could not make ${version.deploymentName} ${version.buildId} the current version within ${timeoutMs / 1000} s: ${(err as Error).message}`,
          { cause: err },
        );
      await new Promise((resolve) => setTimeout(resolve, SET_CURRENT_RETRY_MS));
    }
  }
}

function notReadyYet(err: unknown): boolean {
  return isGrpcServiceError(err) && NOT_READY_CODES.has(err.code);
}

import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode, type Logger, type WorkerOptions } from '@temporalio/worker';

/** A directory: the bundler resolves index.ts from sources and index.js from dist/. */
export const WORKFLOWS_PATH = path.join(__dirname, '..', 'workflows');

/**
 * Bundles the workflows (webpack, seconds) into `file`, written beside it and renamed, so a reader
 * never sees half a bundle and concurrent writers of the same code leave one whole file.
 */
export async function writeWorkflowBundle(file: string, logger?: Logger): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, ...(logger ? { logger } : {}) });
  await fs.mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  await fs.writeFile(temp, code);
  await fs.rename(temp, file);
}

/** A worker's workflow code: the prebuilt bundle at `codePath`, else the sources, bundled as the worker starts. */
export function workflowCode(
  codePath: string | undefined,
): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  return codePath ? { workflowBundle: { codePath } } : { workflowsPath: WORKFLOWS_PATH };
}

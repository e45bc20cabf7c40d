import path from 'node:path';
import { DEFAULT_WORKFLOW_BUNDLE } from '../config/config';
import { writeWorkflowBundle } from '../workers/workflow-bundle';
import { ROOT } from './lib/processes';

/**
 * `npm run build:workflows [file]`: bundles the workflows once (default dist/workflow-bundle.js),
 * so the cpu worker starts on the prebuilt bundle instead of running webpack (as
 * samples-typescript's production/src/scripts/build-workflow-bundle.ts does).
 */
async function main(): Promise<void> {
  const file = path.resolve(process.argv[2] ?? path.join(ROOT, DEFAULT_WORKFLOW_BUNDLE));
  await writeWorkflowBundle(file);
  console.error(`workflow bundle: ${path.relative(process.cwd(), file)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

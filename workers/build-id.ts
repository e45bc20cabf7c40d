import { execFileSync } from 'node:child_process';
import { version } from '../package.json';

/**
 * The build id a worker reports when RETRAIN_BUILD_ID is unset: the package version, plus the git
 * commit when the code runs from a checkout (`0.1.0+3f2a9c1`); images set RETRAIN_BUILD_ID to their tag.
 */
export function defaultBuildId(): string {
  const commit = gitCommit();
  return commit ? `${version}+${commit}` : version;
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: __dirname,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // Not a checkout (an image) or no git: the version alone.
    return undefined;
  }
}

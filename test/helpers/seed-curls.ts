import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The commands of a shell block as its reader types them: continuation lines joined, comments and blank lines left out. */
export function shellCommands(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
}

/** What one curl answered: the HTTP status and the body as JSON. */
export interface CurlAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Runs a curl command line through bash as it stands, with `headers` added; answers its status and JSON body. */
export async function runCurl(command: string, headers: Record<string, string> = {}): Promise<CurlAnswer> {
  const extra = Object.entries(headers).map(([name, value]) => ` -H '${name}: ${value}'`);
  const line = `${command}${extra.join('')} -sS -w '\\n%{http_code}'`;
  const { stdout } = await run('bash', ['-c', line], { timeout: 60_000 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: JSON.parse(stdout.slice(0, cut)) };
}

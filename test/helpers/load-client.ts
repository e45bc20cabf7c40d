/**
 * A second process that keeps an inference server busy, so a hot reload is tested under load that
 * does not share the server's event loop:
 *
 *   node --import tsx test/helpers/load-client.ts <baseUrl> <bodyFile> [concurrency]
 *
 * POSTs the JSON in <bodyFile> to <baseUrl>/predict from `concurrency` loops. Prints `ready` once
 * a request succeeded, and when its stdin closes, one JSON line: counts of answered and failed
 * requests, requests per served version and the first few failures.
 */
import fs from 'node:fs';

interface Summary {
  ok: number;
  failed: number;
  versions: Record<string, number>;
  errors: string[];
}

async function run(): Promise<void> {
  const [base, bodyFile, concurrencyArg] = process.argv.slice(2);
  if (!base || !bodyFile) throw new Error('usage: load-client.ts <baseUrl> <bodyFile> [concurrency]');
  const body = fs.readFileSync(bodyFile, 'utf8');
  const summary: Summary = { ok: 0, failed: 0, versions: {}, errors: [] };
  let stopping = false;
  let announced = false;
  process.stdin.resume();
  process.stdin.once('end', () => (stopping = true));
  process.stdin.once('close', () => (stopping = true));

  const fail = (why: string) => {
    summary.failed++;
    if (summary.errors.length < 5) summary.errors.push(why);
  };
  const loop = async () => {
    while (!stopping) {
      try {
        const res = await fetch(`${base}/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        const answer = (await res.json()) as { version?: string; predictions?: unknown[]; error?: string };
        if (res.status !== 200 || !answer.version || !answer.predictions?.length) {
          fail(`${res.status} ${answer.error ?? JSON.stringify(answer).slice(0, 200)}`);
          continue;
        }
        summary.ok++;
        summary.versions[answer.version] = (summary.versions[answer.version] ?? 0) + 1;
        if (!announced) {
          announced = true;
          process.stdout.write('ready\n');
        }
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Number(concurrencyArg ?? 8) }, loop));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

run().catch((err) => {
  console.error(err);
  process.exit(1);
});

/**
 * Hot reloads of an inference server while a second process (load-client.ts) keeps POSTing
 * /predict: the server over a file registry, the load client, the reloads and the client's count
 * of answers and failures per version. Each test asserts on what it gets back.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { expect } from 'vitest';

import type { ModelSpec } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { createServer, type InferenceServer } from '../../serving/server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from './eventually';
import { recentRows } from './models';
import { scrape, samplesOf } from './prometheus';

const REPO = path.resolve(__dirname, '../..');

export interface ReloadServer {
  dir: string;
  server: InferenceServer;
  url: string;
  apiKey: string;
  spec: ModelSpec;
  /** The version it served first. */
  production: string;
  close(): Promise<void>;
}

/**
 * A listening server (cpu backend) over a registry in a temporary folder, after `publish` saved
 * the versions of `spec`; `production` is the version it serves first.
 */
export async function startReloadServer(options: {
  prefix: string;
  apiKey: string;
  spec: ModelSpec;
  production: string;
  publish: (registry: ModelRegistry) => Promise<void>;
}): Promise<ReloadServer> {
  await selectBackend('cpu');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), options.prefix));
  const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
  await registry.saveSpec(options.spec);
  await options.publish(registry);
  await registry.setAlias(options.spec.name, options.production, null);
  const server = createServer({ registry, apiKey: options.apiKey });
  await server.loadProductionModels();
  const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  return {
    dir,
    server,
    url,
    apiKey: options.apiKey,
    spec: options.spec,
    production: options.production,
    close: async () => {
      await server.app.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ReloadAnswer {
  version: string;
  status: number;
  body: { version?: string; error?: string };
}

export interface LoadSummary {
  ok: number;
  failed: number;
  versions: Record<string, number>;
  errors: string[];
}

/**
 * Starts the load client against the server, reloads each of `versions` in turn (waiting for 10
 * answers from the version then serving before the next), stops the client and returns each
 * reload's answer and the client's summary.
 */
export async function reloadUnderLoad(
  served: ReloadServer,
  versions: string[],
): Promise<{ answers: ReloadAnswer[]; summary: LoadSummary }> {
  const { url, apiKey, spec } = served;
  const bodyFile = path.join(served.dir, 'body.json');
  await fs.writeFile(bodyFile, JSON.stringify({ model: spec.name, rows: recentRows(spec, ['a', 'b', 'c']) }));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/helpers/load-client.ts', url, bodyFile, '8'],
    {
      cwd: REPO,
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = readline.createInterface({ input: child.stdout });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`load client exited with ${code}`)));
    });
  try {
    const first = await next();
    if (first !== 'ready') throw new Error(`load client said ${JSON.stringify(first)}, not ready`);
    const reload = async (version: string) => {
      const res = await fetch(`${url}/admin/reload`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
        body: JSON.stringify({ model: spec.name, version }),
      });
      return { status: res.status, body: (await res.json()) as ReloadAnswer['body'] };
    };
    const answeredBy = async (version: string) =>
      samplesOf(await scrape(`${url}/metrics`), 'retrain_predict_duration_seconds_count', {
        model: spec.name,
        version,
      })[0]?.value ?? 0;
    const answers: ReloadAnswer[] = [];
    let serving = served.production;
    for (const version of versions) {
      const answer = { version, ...(await reload(version)) };
      answers.push(answer);
      if (answer.status === 200) serving = version;
      // Each version answers the client a while before the next swap.
      const from = await answeredBy(serving);
      await eventually(
        `10 answers from ${serving} after reloading ${version}`,
        async () => (await answeredBy(serving)) >= from + 10,
      );
    }
    const finished = next();
    child.stdin.end();
    const summary = JSON.parse(await finished) as LoadSummary;
    return { answers, summary };
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}

/** The load client's every request answered (at least 50), each of `versions` answering some. */
export function expectAllAnswered(summary: LoadSummary, versions: string[]): void {
  expect(summary.errors).toEqual([]);
  expect(summary.failed).toBe(0);
  expect(summary.ok).toBeGreaterThanOrEqual(50);
  expect(Object.keys(summary.versions).sort()).toEqual([...versions].sort());
  for (const version of versions) expect(summary.versions[version], version).toBeGreaterThan(0);
}

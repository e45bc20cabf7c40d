import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ModelSpecSchema } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { ONNX_RUNTIME } from '../../ml/onnx-model';
import { createServer, type InferenceServer } from '../../serving/server';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { eventually } from '../helpers/eventually';
import { scrape, samplesOf } from '../helpers/prometheus';
import { publishVersion, recentRows } from '../helpers/models';
import { linearOnnx, publishOnnxVersion } from '../helpers/onnx-graph';

const API_KEY = 'onnx-hot-reload-key-0123456789';
const REPO = path.resolve(__dirname, '../..');
const SPEC = ModelSpecSchema.parse({
  name: 'tfjs-to-onnx-under-reload',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['cpu', 'mem'],
  target: 'cpu',
  lookback: 4,
});

describe('hot reload across formats (TensorFlow.js and ONNX) under load from a second process', () => {
  let dir: string;
  let server: InferenceServer;
  let url: string;

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-onnx-hot-reload-'));
    const registry = new ModelRegistry(new FileBlobStore(path.join(dir, 'store')));
    await registry.saveSpec(SPEC);
    await publishVersion(registry, SPEC, 'v1', { seed: 1 });
    // An ONNX version of the same inputs (4 steps of cpu and mem), and one whose graph is not ONNX.
    await publishOnnxVersion(
      registry,
      SPEC,
      'v2',
      linearOnnx([0.1, -0.2, 0.3, 0.05, -0.1, 0.2, 0.4, -0.3], 0.1),
    );
    await publishOnnxVersion(registry, SPEC, 'v3', Uint8Array.from([1, 2, 3, 4]));
    await registry.setAlias(SPEC.name, 'v1', null);
    server = createServer({ registry, apiKey: API_KEY });
    await server.loadProductionModels();
    url = await server.app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await server?.app.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('answers every request of a separate client process while reloads swap tfjs and ONNX versions, and refuses a corrupt graph', async () => {
    const bodyFile = path.join(dir, 'body.json');
    await fs.writeFile(
      bodyFile,
      JSON.stringify({ model: SPEC.name, rows: recentRows(SPEC, ['a', 'b', 'c']) }),
    );
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
      expect(await next()).toBe('ready');
      const reload = async (version: string) => {
        const res = await fetch(`${url}/admin/reload`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
          body: JSON.stringify({ model: SPEC.name, version }),
        });
        return { status: res.status, body: (await res.json()) as { version?: string; error?: string } };
      };
      const answeredBy = async (version: string) =>
        samplesOf(await scrape(`${url}/metrics`), 'retrain_predict_duration_seconds_count', {
          model: SPEC.name,
          version,
        })[0]?.value ?? 0;
      const answers = [];
      let serving = 'v1';
      for (const version of ['v2', 'v1', 'v3', 'v2', 'v1', 'v2']) {
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
      const summary = JSON.parse(await finished) as {
        ok: number;
        failed: number;
        versions: Record<string, number>;
        errors: string[];
      };

      expect(answers.map((a) => [a.version, a.status])).toEqual([
        ['v2', 200],
        ['v1', 200],
        ['v3', 422],
        ['v2', 200],
        ['v1', 200],
        ['v2', 200],
      ]);
      expect(answers[2]?.body.error).toMatch(
        /v3 cannot be loaded from .*model\.onnx: not a loadable ONNX graph/,
      );
      expect(summary.errors).toEqual([]);
      expect(summary.failed).toBe(0);
      expect(summary.ok).toBeGreaterThanOrEqual(50);
      expect(Object.keys(summary.versions).sort()).toEqual(['v1', 'v2']);
      expect(summary.versions.v1).toBeGreaterThan(0);
      expect(summary.versions.v2).toBeGreaterThan(0);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain(`retrain_model_version_info{model="${SPEC.name}",version="v2"} 1`);
      expect(metrics).toContain(`retrain_reloads_total{model="${SPEC.name}",result="failure"} 1`);
      const info = await fetch(`${url}/admin/model-info?model=${SPEC.name}`, {
        headers: { 'x-api-key': API_KEY },
      });
      expect(await info.json()).toMatchObject({ version: 'v2', format: 'onnx', runtime: ONNX_RUNTIME });
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
  });
});

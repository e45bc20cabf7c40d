import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrainResult } from '../../common/retrain';
import { TEMPORAL_BIN, temporalArgs } from '../../scripts/lib/temporal-server';
import { TOOLS_BIN } from '../../scripts/lib/processes';
import { DataBuffer } from '../../storage/buffer';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { withDuckDb } from '../../storage/duckdb';
import { openBlobStore, type S3Settings } from '../../storage/open-store';
import { ModelRegistry } from '../../storage/registry';
import { ensureBucket } from '../helpers/minio';
import { eventually } from '../helpers/eventually';
import { createNetwork, type HostProcess, type Network, type NetHost } from '../helpers/netns';
import { flightSpec, PERMISSIVE_GATE, TEST_FLIGHTS } from '../helpers/pipeline';
import { testDeployment } from '../helpers/test-deployment';
import { testWorkflowBundle } from '../helpers/workflow-bundle';

const ROOT = path.resolve(__dirname, '..', '..');
const API_KEY = `fleet-${randomBytes(12).toString('hex')}`;
const ORIGINS = ['ORD', 'ATL', 'DFW'];
const NODE = process.execPath;

/** Metrics of `origin` at hour `h` of 2001-07-15, two weeks after the loaded flights. */
function row(origin: string, h: number) {
  const e = ORIGINS.indexOf(origin);
  return {
    ts: `2001-07-15T${String(h).padStart(2, '0')}:00:00Z`,
    origin,
    flights: 40 + h + e,
    mean_delay: 10 + (h % 5) + e,
    late_share: 0.2 + 0.01 * h,
  };
}
const hours = (from: number, to: number) =>
  ORIGINS.flatMap((o) => Array.from({ length: to - from }, (_, i) => row(o, from + i)));

/** The fields of the answers this test reads: ingest counts, a started job, a served version. */
interface Reply {
  inserted: number;
  duplicates: number;
  job_id: string;
  version: string;
}

async function post(url: string, body: unknown, key = true): Promise<{ status: number; json: Reply }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': API_KEY } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json().catch(() => ({}))) as Reply };
}

/**
 * The fleet of issue 22 as separate hosts (network namespaces on one bridge): `control` runs the
 * Temporal dev server and MinIO; `cpu-a`, `cpu-b` the cpu workers; `gpu-a` the training worker;
 * `srv-a`, `srv-b`, `srv-c` inference servers. Each process gets a directory of its own and shares
 * only the Temporal address, the S3 endpoint and the API key.
 */
describe('a fleet on separate hosts that share only Temporal, S3 and the API key', () => {
  let net: Network;
  let control: NetHost;
  let client: Client;
  let connection: Connection;
  let registry: ModelRegistry;
  let s3: S3Settings;
  const spec = flightSpec({ name: `fleet-${randomUUID().slice(0, 8)}`, epochs: 2, gate: PERMISSIVE_GATE });
  const bucket = `fleet-${randomUUID().slice(0, 8)}`;
  const queue = `fleet-${randomUUID()}`;
  const deployment = testDeployment();
  let shared: Record<string, string>;
  const procs: Record<string, HostProcess> = {};

  /** The environment of a retrain process on `host`: the shared settings, and its own directories. */
  const envOn = (host: NetHost, extra: Record<string, string> = {}) => ({
    ...shared,
    RETRAIN_BUFFER_DIR: path.join(host.dir, 'buffer'),
    RETRAIN_PREDICTION_LOG_DIR: path.join(host.dir, 'predictions'),
    ...extra,
  });

  const startWorker = async (host: NetHost, kind: 'cpu' | 'gpu'): Promise<HostProcess> => {
    const proc = host.start(NODE, ['--import', 'tsx', path.join(ROOT, 'workers', `${kind}.ts`)], envOn(host));
    await eventually(
      `the ${kind} worker on ${host.name} to poll`,
      () => {
        if (proc.child.exitCode !== null) throw new Error(`${kind} worker exited:\n${proc.output()}`);
        const lines = proc.output().split('\n');
        return (
          lines.some((l) => l.includes('"msg":"polling"')) &&
          (kind === 'gpu' || lines.some((l) => l.includes('"msg":"current version"')))
        );
      },
      90_000,
    );
    return proc;
  };

  const url = (host: NetHost) => `http://${host.ip}:8000`;
  const startServer = async (host: NetHost): Promise<HostProcess> => {
    const proc = host.start(
      NODE,
      ['--import', 'tsx', path.join(ROOT, 'serving', 'main.ts')],
      envOn(host, {
        SERVING_HOST: host.ip,
        SERVING_PORT: '8000',
        RETRAIN_SERVER_URL: url(host),
        RETRAIN_SERVER_HEARTBEAT_SECONDS: '1',
        RETRAIN_ALIAS_POLL_SECONDS: '2',
      }),
    );
    await eventually(
      `the server on ${host.name} to be ready`,
      async () => {
        if (proc.child.exitCode !== null) throw new Error(`server exited:\n${proc.output()}`);
        return (await fetch(`${url(host)}/readyz`)).ok;
      },
      90_000,
    );
    return proc;
  };

  /** `retrain <args>` run on `host`, as an operator there would. */
  const cli = (host: NetHost, ...args: string[]) =>
    host.run(NODE, [path.join(ROOT, 'bin', 'retrain.js'), ...args], envOn(host));

  /** The version `host`'s server serves (asked without a /predict, which the log would keep). */
  const served = async (host: NetHost) => {
    const res = await fetch(`${url(host)}/admin/model-info?model=${spec.name}`, {
      headers: { 'x-api-key': API_KEY },
    });
    return ((await res.json()) as { version?: string }).version;
  };

  /** Starts a run through `host`'s daemon-style training API; its result. */
  const runThrough = async (host: NetHost): Promise<{ workflowId: string; result: RetrainResult }> => {
    const started = await post(`${url(host)}/admin/trigger-training?model=${spec.name}`, {});
    expect(started.status, JSON.stringify(started.json)).toBeLessThan(300);
    const workflowId = started.json.job_id as string;
    return { workflowId, result: await client.workflow.getHandle(workflowId).result() };
  };

  beforeAll(async () => {
    net = createNetwork(['control', 'cpu-a', 'cpu-b', 'gpu-a', 'srv-a', 'srv-b', 'srv-c']);
    control = net.hosts.control!;
    const minioKey = randomBytes(10).toString('hex');
    const minioSecret = randomBytes(20).toString('hex');
    procs.temporal = control.start(TEMPORAL_BIN, temporalArgs({ port: 7233, ip: '0.0.0.0' }), {});
    procs.minio = control.start(
      path.join(TOOLS_BIN, 'minio'),
      [
        'server',
        path.join(control.dir, 'minio'),
        '--address',
        `${control.ip}:9000`,
        '--console-address',
        `${control.ip}:9001`,
        '--quiet',
      ],
      { MINIO_ROOT_USER: minioKey, MINIO_ROOT_PASSWORD: minioSecret },
    );
    s3 = {
      endpoint: `http://${control.ip}:9000`,
      region: 'us-east-1',
      accessKeyId: minioKey,
      secretAccessKey: minioSecret,
    };
    await eventually(
      'MinIO on the control host',
      async () => (await fetch(`${s3.endpoint}/minio/health/live`)).ok,
      60_000,
    );
    await ensureBucket(
      { ...s3, endpoint: s3.endpoint!, accessKeyId: minioKey, secretAccessKey: minioSecret },
      bucket,
    );
    connection = await eventually(
      'Temporal on the control host',
      () => Connection.connect({ address: `${control.ip}:7233` }),
      60_000,
    );
    client = new Client({ connection });
    const store = `s3://${bucket}/fleet`;
    registry = new ModelRegistry(openBlobStore(store, s3));
    await registry.saveSpec(spec);
    await loadFlightsIntoBuffer(
      new DataBuffer(path.join(control.dir, 'loader'), registry.store),
      [spec.name],
      TEST_FLIGHTS,
    );
    shared = {
      TEMPORAL_ADDRESS: `${control.ip}:7233`,
      TEMPORAL_NAMESPACE: 'default',
      RETRAIN_STORE: store,
      S3_ENDPOINT: s3.endpoint!,
      AWS_REGION: s3.region,
      AWS_ACCESS_KEY_ID: minioKey,
      AWS_SECRET_ACCESS_KEY: minioSecret,
      RETRAIN_API_KEY: API_KEY,
      RETRAIN_TASK_QUEUE: queue,
      RETRAIN_DEPLOYMENT_NAME: deployment.deploymentName,
      RETRAIN_BUILD_ID: deployment.buildId,
      RETRAIN_SET_CURRENT_VERSION: 'true',
      RETRAIN_WORKFLOW_BUNDLE: await testWorkflowBundle(),
      TFJS_BACKEND: 'cpu',
      CPU_METRICS_PORT: '0',
      GPU_METRICS_PORT: '0',
      RETRAIN_LOG_FORMAT: 'json',
      NODE_OPTIONS: '--no-deprecation',
    };
    const { hosts } = net;
    [procs.cpuA, procs.cpuB, procs.gpuA] = await Promise.all([
      startWorker(hosts['cpu-a']!, 'cpu'),
      startWorker(hosts['cpu-b']!, 'cpu'),
      startWorker(hosts['gpu-a']!, 'gpu'),
    ]);
    [procs.srvA, procs.srvB] = await Promise.all([
      startServer(hosts['srv-a']!),
      startServer(hosts['srv-b']!),
    ]);
  }, 300_000);

  afterAll(async () => {
    await connection?.close();
    await net?.cleanup();
  }, 60_000);

  it('counts overlapping ingests once, runs on a live worker, reloads the live servers, monitors every answer, and keeps it all past wiped disks', async () => {
    const { hosts } = net;
    const on = (name: string): NetHost => {
      const host = hosts[name];
      if (!host) throw new Error(`no host ${name}`);
      return host;
    };
    const [srvA, srvB, srvC, cpuA, cpuB] = [on('srv-a'), on('srv-b'), on('srv-c'), on('cpu-a'), on('cpu-b')];
    const stats = (host: NetHost) =>
      JSON.parse(cli(host, 'stats', '--model', spec.name, '--json')) as { records: number };
    const before = stats(cpuA).records;

    // Overlapping ingests through two servers at once: hours 0-7 and 4-11 of three airports.
    const [a, b] = await Promise.all([
      post(`${url(srvA)}/ingest`, { model: spec.name, rows: hours(0, 8) }),
      post(`${url(srvB)}/ingest`, { model: spec.name, rows: hours(4, 12) }),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(a.json.inserted + b.json.inserted).toBe(36);
    expect(a.json.duplicates + b.json.duplicates).toBe(12);
    expect(stats(cpuB).records).toBe(before + 36);
    const exported = await withDuckDb(async (conn) => {
      const source = await new DataBuffer(path.join(control.dir, 'reader'), registry.store).parquetSource(
        spec.name,
      );
      const reader = await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS n, count(DISTINCT (ts, origin))::INTEGER AS keys FROM ${source}`,
      );
      return reader.getRowObjectsJson()[0] as { n: number; keys: number };
    });
    expect(exported).toEqual({ n: before + 36, keys: before + 36 });

    const first = await runThrough(srvA);
    expect(first.result).toMatchObject({ status: 'completed', version: 'v1' });
    expect([await served(srvA), await served(srvB)]).toEqual(['v1', 'v1']);

    // A server joins, another dies, a cpu worker hangs: the next run, started through the newcomer, completes on the other worker.
    procs.srvC = await startServer(srvC);
    procs.srvA!.signal('SIGKILL');
    procs.cpuA!.signal('SIGSTOP');
    const second = await runThrough(srvC);
    expect(second.result).toMatchObject({ status: 'completed', version: 'v2' });
    expect(second.result.stages.map((s) => s.status)).toEqual(Array(5).fill('completed'));
    const history = await client.workflow.getHandle(second.workflowId).fetchHistory();
    const identities = new Set(
      (history.events ?? [])
        .flatMap((e) => [
          e.workflowTaskCompletedEventAttributes?.identity,
          e.activityTaskStartedEventAttributes?.identity,
        ])
        .filter((id): id is string => Boolean(id)),
    );
    expect([...identities].some((id) => id.startsWith(`${procs.cpuA!.child.pid}@`))).toBe(false);
    expect([...identities].some((id) => id.startsWith(`${procs.cpuB!.child.pid}@`))).toBe(true);
    expect([await served(srvB), await served(srvC)]).toEqual(['v2', 'v2']);
    procs.cpuA!.signal('SIGCONT');

    // Answers on two servers (other targets each), then the actual of the one not yet ingested.
    for (const origin of ORIGINS) {
      expect(
        (
          await post(
            `${url(srvB)}/predict`,
            { model: spec.name, rows: hours(8, 12).filter((r) => r.origin === origin) },
            false,
          )
        ).status,
      ).toBe(200);
      expect(
        (
          await post(
            `${url(srvC)}/predict`,
            { model: spec.name, rows: hours(7, 11).filter((r) => r.origin === origin) },
            false,
          )
        ).status,
      ).toBe(200);
    }
    expect((await post(`${url(srvB)}/ingest`, { model: spec.name, rows: hours(12, 13) })).json.inserted).toBe(
      3,
    );
    const monitored = (host: NetHost) => {
      const report = JSON.parse(cli(host, 'monitor', '--model', spec.name, '--json')) as {
        versions: { version: string; all: { predictions: number } }[];
      };
      return report.versions.find((v) => v.version === 'v2')?.all.predictions ?? 0;
    };
    // Each server turns its journal into the store every 5 s.
    await eventually('every answer to be in the store', () => monitored(cpuA) === 6, 60_000);
    expect(monitored(cpuB)).toBe(6);

    // Every host's disk wiped: what was acknowledged is in the store.
    const records = stats(cpuB).records;
    for (const name of ['srvB', 'srvC', 'cpuA', 'cpuB', 'gpuA']) {
      procs[name]!.signal('SIGTERM');
      await procs[name]!.exited;
    }
    for (const host of [srvA, srvB, srvC, cpuA, cpuB, hosts['gpu-a']!])
      for (const entry of fs.readdirSync(host.dir))
        fs.rmSync(path.join(host.dir, entry), { recursive: true, force: true });
    expect(stats(cpuA).records).toBe(records);
    expect(monitored(cpuB)).toBe(6);
    procs.srvB = await startServer(srvB);
    expect(await served(srvB)).toBe('v2');
  }, 600_000);
});

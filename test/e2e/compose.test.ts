import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..', '..');
/** Docker Compose built from its Go module by scripts/setup.js (tools/compose); needs no Docker engine. */
const COMPOSE_BIN = path.join(ROOT, '.tools', 'bin', 'docker-compose');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
/** The override that runs MinIO as the S3 server instead of Versity's gateway. */
const MINIO_OVERRIDE = path.join(ROOT, 'docker-compose.minio.yml');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
/** The Python trainer's image (build context trainers/python). */
const PY_CONTEXT = path.join(ROOT, 'trainers', 'python');
const PY_SERVICES = { 'py-worker': 'retrain-py', 'py-gpu-worker': 'retrain-py-gpu' } as const;
const BUFFER_DIR = '/data/buffer';

/** The variables docker-compose.yml requires (`${VAR:?message}`), set to dummies. */
const REQUIRED_ENV: Record<string, string> = {
  S3_ACCESS_KEY: 'retrain-test',
  S3_SECRET_KEY: 'dummy-s3-secret-key',
  POSTGRES_PASSWORD: 'dummy-postgres-password',
  RETRAIN_API_KEY: 'dummy-api-key-0123456789',
  GRAFANA_ADMIN_PASSWORD: 'dummy-grafana-password',
  REDIS_PASSWORD: 'dummyredispassword0123',
  S3_CPU_SECRET_KEY: 'dummy-cpu-s3-secret',
  S3_TRAINER_SECRET_KEY: 'dummy-trainer-s3-secret',
  S3_SERVING_SECRET_KEY: 'dummy-serving-s3-secret',
  S3_BRIDGE_SECRET_KEY: 'dummy-bridge-s3-secret',
};

/** The part of `docker-compose config --format json` these tests read. */
interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string; target?: string };
  command?: string[] | null;
  environment?: Record<string, string | null>;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  profiles?: string[];
  volumes?: { type: string; source?: string; target: string }[];
  deploy?: {
    resources?: {
      reservations?: { devices?: { driver?: string; capabilities?: string[]; device_ids?: string[] }[] };
    };
  };
}

interface ComposeProject {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** One build stage of the Dockerfile: its base, the stages it copies from, its instructions. */
interface Stage {
  name: string;
  from: string;
  copiesFrom: string[];
  instructions: string[];
}

let home: string;
let emptyEnvFile: string;
let project: ComposeProject;
let stages: Stage[];
let pyStages: Stage[];

/** Runs the Go-built docker-compose on docker-compose.yml (and `overrides`), hermetically: no .env, no ~/.docker. */
function compose(args: string[], env: Record<string, string>, overrides: string[] = []) {
  const files = [COMPOSE_FILE, ...overrides].flatMap((file) => ['-f', file]);
  const result = spawnSync(COMPOSE_BIN, [...files, '--env-file', emptyEnvFile, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...env },
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function parseDockerfile(text: string): Stage[] {
  const lines = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const parsed: Stage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) {
      parsed.push({ name: from[2] ?? `#${parsed.length}`, from: from[1]!, copiesFrom: [], instructions: [] });
      continue;
    }
    const stage = parsed.at(-1);
    if (!stage) continue;
    stage.instructions.push(line);
    const copy = /^COPY\s+(?:--\S+\s+)*?--from=(\S+)/i.exec(line);
    if (copy) stage.copiesFrom.push(copy[1]!);
  }
  return parsed;
}

function stage(name: string): Stage {
  const found = stages.find((s) => s.name === name);
  if (!found) throw new Error(`Dockerfile has no stage ${name}`);
  return found;
}

/** The stage and every stage it is built FROM (not the ones it copies from). */
function lineage(name: string): Stage[] {
  const chain: Stage[] = [];
  for (let s: Stage | undefined = stage(name); s; s = stages.find((t) => t.name === s?.from)) chain.push(s);
  return chain;
}

function runs(chain: Stage[]): string {
  return chain.flatMap((s) => s.instructions.filter((i) => /^RUN\s/i.test(i))).join('\n');
}

/** The stage whose /app/node_modules the target stage copies. */
function nodeModulesSource(target: string): Stage {
  const copy = stage(target).instructions.find((i) => /^COPY\s.*--from=\S+\s+\/app\/node_modules\s/i.test(i));
  const from = copy && /--from=(\S+)/.exec(copy)?.[1];
  if (!from) throw new Error(`stage ${target} copies no node_modules`);
  return stage(from);
}

/** The tag of an image reference (`registry:5000/repo/name:tag@sha256:...`), or undefined when it has none. */
function imageTag(image: string): string | undefined {
  const withoutDigest = image.split('@')[0]!;
  const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf('/') + 1);
  const colon = lastSegment.indexOf(':');
  return colon === -1 ? undefined : lastSegment.slice(colon + 1);
}

/** Services that others wait for with `service_completed_successfully`: the one-shot jobs. */
function jobs(): Set<string> {
  const names = new Set<string>();
  for (const service of Object.values(project.services)) {
    for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
      if (condition === 'service_completed_successfully') names.add(dep);
    }
  }
  return names;
}

/** `--name X --type T` pairs of every `search-attribute create` the service's script runs. */
function registeredSearchAttributes(script: string): { namespace?: string; attributes: Map<string, string> } {
  const attributes = new Map<string, string>();
  let namespace: string | undefined;
  for (const command of script.split(/\n|&&|\|\||;/)) {
    if (!/\bsearch-attribute\s+create\b/.test(command)) continue;
    const tokens = command.trim().split(/\s+/);
    const names: string[] = [];
    let type: string | undefined;
    tokens.forEach((token, i) => {
      const value = tokens[i + 1];
      if (token === '--name' && value) names.push(value);
      if (token === '--type' && value) type = value;
      if ((token === '--namespace' || token === '-n') && value) namespace = value;
    });
    for (const name of names) attributes.set(name, type ?? '(no type)');
  }
  return { namespace, attributes };
}

beforeAll(() => {
  if (!fs.existsSync(COMPOSE_BIN)) throw new Error(`${COMPOSE_BIN} is missing: run node scripts/setup.js`);
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'retrain-compose-'));
  emptyEnvFile = path.join(home, 'empty.env');
  fs.writeFileSync(emptyEnvFile, '');
  const rendered = compose(['config', '--format', 'json'], REQUIRED_ENV);
  if (rendered.status !== 0) throw new Error(`docker-compose config failed: ${rendered.stderr}`);
  project = JSON.parse(rendered.stdout) as ComposeProject;
  stages = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
  pyStages = parseDockerfile(fs.readFileSync(path.join(PY_CONTEXT, 'Dockerfile'), 'utf8'));
});

afterAll(() => {
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

describe('docker-compose.yml', () => {
  it('passes `docker-compose config` without errors or warnings when the required variables are set', () => {
    const result = compose(['config', '--quiet'], REQUIRED_ENV);
    expect(result.stderr.trim()).toBe('');
    expect(result.status).toBe(0);
  });

  it.each(Object.keys(REQUIRED_ENV))(
    'refuses to render without %s and says which variable is missing',
    (name) => {
      const env = { ...REQUIRED_ENV };
      delete env[name];
      const result = compose(['config', '--quiet'], env);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain(name);
    },
  );

  it('gives every long-running service a healthcheck and a restart policy; the rest are jobs others wait for', () => {
    const oneShot = jobs();
    for (const [name, service] of Object.entries(project.services)) {
      if (oneShot.has(name)) {
        // A job restarts only when it fails; one that restarted after success would never be "completed".
        expect(service.restart ?? 'no', `${name} restart`).toMatch(/^(no|on-failure(:\d+)?)$/);
        continue;
      }
      const test = service.healthcheck?.test ?? [];
      expect(service.healthcheck?.disable ?? false, `${name} healthcheck disabled`).toBe(false);
      expect(test.length > 1 && test[0] !== 'NONE', `${name} has a healthcheck`).toBe(true);
      expect(['always', 'unless-stopped'], `${name} restart`).toContain(service.restart);
    }
    expect([...oneShot].sort()).toEqual([
      's3-bucket',
      'temporal-namespace',
      'temporal-schema',
      'temporal-search-attributes',
    ]);
  });

  it('makes every dependency wait for health or for a completed job', () => {
    const oneShot = jobs();
    for (const [name, service] of Object.entries(project.services)) {
      for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
        const what = `${name} -> ${dep}`;
        expect(project.services[dep], what).toBeDefined();
        if (oneShot.has(dep)) expect(condition, what).toBe('service_completed_successfully');
        else {
          expect(condition, what).toBe('service_healthy');
          expect(project.services[dep]?.healthcheck?.test?.length ?? 0, `${dep} healthcheck`).toBeGreaterThan(
            1,
          );
        }
      }
    }
  });

  it('pins every image, in the compose file and in the Dockerfile, by a tag other than latest', () => {
    const images = Object.entries(project.services).map(([name, s]) => [name, s.image ?? ''] as const);
    // `scratch` is the empty base, no image: a stage that only gathers files from the context.
    const stageNames = new Set([...stages.map((s) => s.name), 'scratch']);
    for (const s of stages) if (!stageNames.has(s.from)) images.push([`Dockerfile stage ${s.name}`, s.from]);
    for (const s of pyStages) images.push([`trainers/python/Dockerfile stage ${s.name}`, s.from]);
    for (const [where, image] of images) {
      const tag = imageTag(image);
      expect(tag, `${where}: ${image || '(no image)'}`).toBeTruthy();
      expect(tag, `${where}: ${image}`).not.toBe('latest');
    }
  });

  it("registers ModelName and RetrainStage as Keyword in the workers' namespace before any worker starts", () => {
    const registering = Object.entries(project.services).filter(([, s]) =>
      /search-attribute\s+create/.test((s.command ?? []).join('\n')),
    );
    expect(registering.map(([name]) => name)).toEqual(['temporal-search-attributes']);
    const [jobName, job] = registering[0]!;
    expect(job.image).toMatch(/^temporalio\/admin-tools:/);
    const { namespace, attributes } = registeredSearchAttributes((job.command ?? []).join('\n'));
    expect(attributes.get('ModelName')).toBe('Keyword');
    expect(attributes.get('RetrainStage')).toBe('Keyword');
    for (const worker of ['cpu-worker', 'gpu-worker']) {
      const service = project.services[worker];
      expect(namespace, worker).toBe(service?.environment?.TEMPORAL_NAMESPACE);
      expect(service?.depends_on?.[jobName]?.condition, worker).toBe('service_completed_successfully');
    }
    expect(project.services.temporal?.image).toMatch(/^temporalio\/server:/);
    expect(project.services.temporal?.depends_on?.['temporal-schema']?.condition).toBe(
      'service_completed_successfully',
    );
  });

  it('shares no volume between the serving replicas and the workers: the buffer and predictions live in the store', () => {
    const retrain = Object.entries(project.services).filter(
      ([, s]) => s.environment?.RETRAIN_STORE !== undefined,
    );
    expect(retrain.map(([name]) => name)).toEqual(expect.arrayContaining(['cpu-worker', 'serving']));
    for (const [name, service] of retrain) {
      // Nothing a replica writes lives on a volume another container mounts (sqlite-bridge's job table
      // belongs to the Streamlit frontend, not to retrain).
      const mounts = (service.volumes ?? []).filter((v) => v.source !== 'shared-data');
      expect(mounts, name).toEqual([]);
      if (service.environment?.RETRAIN_BUFFER_DIR === undefined) continue;
      expect(service.environment.RETRAIN_BUFFER_IN_STORE, name).toBe('true');
      expect(service.environment.RETRAIN_STORE, name).toMatch(/^s3:\/\//);
      // Its cache is the image's own directory, writable by the user it runs as.
      expect(service.environment.RETRAIN_BUFFER_DIR, name).toBe(BUFFER_DIR);
      const target = service.build?.target;
      expect(target, `${name} is built from a Dockerfile stage`).toBeTruthy();
      const chain = lineage(target!);
      const users = chain[0]!.instructions.filter((i) => /^USER\s/i.test(i));
      expect(users.at(-1), `${name}: image ${target} runs as node`).toMatch(/^USER\s+node$/i);
      const script = runs(chain);
      expect(script, `${name}: image ${target} creates ${BUFFER_DIR}`).toMatch(/mkdir -p \/data\/buffer\b/);
      expect(script, `${name}: image ${target} gives ${BUFFER_DIR} to node`).toMatch(
        /chown (-R )?node:node \/data\/buffer\b/,
      );
    }
    expect(Object.keys(project.volumes ?? {})).not.toContain('buffer');
  });

  it('gives native TensorFlow (tfjs-node-gpu) to the gpu image only, with an NVIDIA GPU and GPU_SLOTS', () => {
    expect(project.services['cpu-worker']?.build?.target).toBe('runtime');
    expect(project.services.serving?.build?.target).toBe('runtime');
    expect(project.services['gpu-worker']?.build?.target).toBe('gpu');

    const runtimeModules = nodeModulesSource('runtime');
    const runtimeScript = runs([runtimeModules, ...lineage(runtimeModules.name)]);
    expect(runtimeScript).toMatch(/npm ci [^\n]*--ignore-scripts/);
    expect(runtimeScript).toMatch(/rm -rf [^\n]*node_modules\/@tensorflow\/tfjs-node\s/);
    expect(runtimeScript).toMatch(/rm -rf [^\n]*node_modules\/@tensorflow\/tfjs-node-gpu\b/);
    expect(runtimeScript).not.toMatch(/npm (rebuild|install)[^\n]*tfjs-node/);
    expect(runs(lineage('runtime'))).not.toMatch(/tfjs-node/);

    const gpuModules = nodeModulesSource('gpu');
    const gpuScript = runs([gpuModules]);
    expect(gpuScript).toMatch(/npm rebuild @tensorflow\/tfjs-node-gpu\b/);
    expect(gpuScript).toMatch(/rm -rf [^\n]*node_modules\/@tensorflow\/tfjs-node\s/);
    expect(stage('gpu').from).toMatch(/^nvidia\/cuda:11\.8\.[\d.]+-cudnn8-runtime-ubuntu22\.04$/);

    const gpu = project.services['gpu-worker']!;
    const devices = gpu.deploy?.resources?.reservations?.devices ?? [];
    expect(devices.some((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu'))).toBe(true);
    expect(gpu.environment?.GPU_SLOTS).toMatch(/^\d+$/);
    expect(gpu.environment?.TFJS_BACKEND).toBe('tensorflow-gpu');
  });

  it("lets Prometheus reach the workers' metrics and mounts the monitoring configuration from deploy/", () => {
    for (const worker of ['cpu-worker', 'gpu-worker', ...Object.keys(PY_SERVICES)]) {
      expect(project.services[worker]?.environment?.METRICS_HOST, worker).toBe('0.0.0.0');
    }
    const mounts = (name: string) => (project.services[name]?.volumes ?? []).map((v) => [v.source, v.target]);
    expect(mounts('prometheus')).toContainEqual([
      path.join(ROOT, 'deploy', 'prometheus.yml'),
      '/etc/prometheus/prometheus.yml',
    ]);
    expect(mounts('grafana').map(([source]) => source)).toContain(path.join(ROOT, 'deploy', 'grafana'));
  });

  it("runs the Python trainer from its own image on retrain-py and retrain-py-gpu, with the workers' settings", () => {
    const cpu = project.services['cpu-worker']!;
    const gpu = project.services['gpu-worker']!;
    const scraped = fs.readFileSync(path.join(ROOT, 'deploy', 'prometheus.yml'), 'utf8');
    for (const [name, queue] of Object.entries(PY_SERVICES)) {
      const service = project.services[name];
      expect(service, name).toBeDefined();
      const env = service!.environment ?? {};
      expect(service!.build?.context, name).toBe(PY_CONTEXT);
      expect(service!.image, name).toMatch(/^retrain-py:/);
      expect(service!.restart, name).toBe('unless-stopped');
      expect(env.RETRAIN_PY_TASK_QUEUE, name).toBe(queue);
      expect(env.RETRAIN_PY_SLOTS, name).toMatch(/^\d+$/);
      // The same Temporal and store as the TypeScript workers, the gpu worker's S3 user (both are
      // trainers); the build id is the image tag.
      for (const variable of [
        'TEMPORAL_ADDRESS',
        'TEMPORAL_NAMESPACE',
        'RETRAIN_STORE',
        'S3_ENDPOINT',
        'AWS_REGION',
        'RETRAIN_BUILD_ID',
      ]) {
        expect(env[variable], `${name} ${variable}`).toBe(cpu.environment?.[variable]);
      }
      const gpu = project.services['gpu-worker']!.environment!;
      expect(env.AWS_ACCESS_KEY_ID, name).toBe(gpu.AWS_ACCESS_KEY_ID);
      expect(env.AWS_SECRET_ACCESS_KEY, name).toBe(gpu.AWS_SECRET_ACCESS_KEY);
      // Not a member of the Worker Deployment (docs/upgrades.md), and no secret it does not use.
      for (const variable of ['RETRAIN_DEPLOYMENT_NAME', 'RETRAIN_SET_CURRENT_VERSION', 'RETRAIN_API_KEY']) {
        expect(env[variable], `${name} ${variable}`).toBeUndefined();
      }
      // Healthy when its Prometheus endpoint answers; Prometheus scrapes it there.
      expect(env.RETRAIN_PY_METRICS_PORT ?? '9467', name).toBe('9467');
      expect((service!.healthcheck?.test ?? []).join(' '), name).toContain('http://127.0.0.1:9467/metrics');
      expect(scraped, name).toMatch(new RegExp(`targets: \\['${name}:9467'\\]`));
      expect(service!.depends_on?.temporal?.condition, name).toBe('service_healthy');
      expect(service!.depends_on?.['s3-bucket']?.condition, name).toBe('service_completed_successfully');
    }
    const pyGpu = project.services['py-gpu-worker']!;
    const devices = pyGpu.deploy?.resources?.reservations?.devices ?? [];
    expect(
      devices.some((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu') && d.device_ids?.length),
    ).toBe(true);
    expect(project.services['py-worker']?.deploy?.resources?.reservations?.devices ?? []).toEqual([]);
    expect(pyGpu.profiles ?? [], "py-gpu-worker in the gpu worker's profiles").toEqual(gpu.profiles ?? []);
  });

  it('builds the Python image from python:3.11-slim and the pinned pyproject, as a user other than root', () => {
    expect(pyStages.length).toBeGreaterThan(0);
    const last = pyStages.at(-1)!;
    expect(last.from).toMatch(/^python:3\.11(\.\d+)?-slim(-\w+)?$/);
    const user = last.instructions.filter((i) => /^USER\s/i.test(i)).at(-1);
    expect(user, 'USER').toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(:|$)/i);
    const copies = last.instructions.filter((i) => /^(COPY|ADD)\s/i.test(i)).join('\n');
    expect(copies).toMatch(/COPY\s+pyproject\.toml\b/);
    expect(copies).not.toMatch(/\btests\b|\.env\b|COPY\s+\.\s/);
    expect(last.instructions.join('\n')).not.toMatch(/^(ENV|ARG)\s+\S*(SECRET|PASSWORD|KEY)\S*/im);
    expect(last.instructions.find((i) => /^CMD\s/i.test(i))).toContain('retrain_trainer');
    // Only what the image needs reaches the build: pyproject.toml and the package, no tests or caches.
    const ignore = fs
      .readFileSync(path.join(PY_CONTEXT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    expect(ignore).toContain('*');
    expect(ignore.filter((l) => l.startsWith('!')).sort()).toEqual(['!pyproject.toml', '!retrain_trainer/']);
  });
});

describe('least privilege in docker-compose.yml', () => {
  const env = (service: string) => project.services[service]?.environment ?? {};

  it('gives the API key only to the services that check or send it: the server and the cpu worker', () => {
    const holders = Object.entries(project.services)
      .filter(([, service]) => service.environment?.RETRAIN_API_KEY !== undefined)
      .map(([name]) => name);
    expect(holders.sort()).toEqual(['cpu-worker', 'serving']);
  });

  it('gives Redis a password, in its config file and not on its command line, and every Redis URL carries it', () => {
    const redis = project.services.redis!;
    expect((redis.command ?? []).join(' ')).not.toContain(REQUIRED_ENV.REDIS_PASSWORD);
    const config = fs.readFileSync(COMPOSE_FILE, 'utf8');
    expect(config).toMatch(/requirepass \$\{REDIS_PASSWORD:\?/);
    expect(redis.environment?.REDISCLI_AUTH).toBe(REQUIRED_ENV.REDIS_PASSWORD);
    const urls = Object.entries(project.services).flatMap(([name, service]) =>
      Object.entries(service.environment ?? {})
        .filter(([, value]) => value?.startsWith('redis://'))
        .map(([variable, value]) => [`${name} ${variable}`, value] as const),
    );
    expect(urls.map(([where]) => where).sort()).toEqual([
      'bridge RETRAIN_BRIDGE_REDIS_URL',
      'cpu-worker RETRAIN_EVENTS_REDIS_URL',
      'serving RETRAIN_EVENTS_REDIS_URL',
    ]);
    for (const [where, url] of urls)
      expect(url, where).toBe(`redis://:${REQUIRED_ENV.REDIS_PASSWORD}@redis:6379`);
  });

  it("gives each service that reads the store its role's S3 user, the one the bucket job creates, and the root credentials to none", () => {
    const job = env('s3-bucket');
    const roleOf: Record<string, string> = {
      'cpu-worker': 'CPU',
      'gpu-worker': 'TRAINER',
      'py-worker': 'TRAINER',
      'py-gpu-worker': 'TRAINER',
      serving: 'SERVING',
      bridge: 'BRIDGE',
    };
    for (const [service, role] of Object.entries(roleOf)) {
      expect(env(service).AWS_ACCESS_KEY_ID, service).toBe(job[`S3_${role}_ACCESS_KEY`]);
      expect(env(service).AWS_SECRET_ACCESS_KEY, service).toBe(job[`S3_${role}_SECRET_KEY`]);
    }
    const holders = Object.entries(project.services)
      .filter(([, service]) =>
        Object.values(service.environment ?? {}).includes(REQUIRED_ENV.S3_SECRET_KEY ?? ''),
      )
      .map(([name]) => name);
    expect(holders.sort()).toEqual(['s3', 's3-bucket']);
  });

  it('keeps Redis, the serving URLs and the prediction log away from the gpu worker and the bridges', () => {
    for (const service of ['gpu-worker', 'bridge', 'sqlite-bridge'])
      for (const variable of [
        'RETRAIN_EVENTS_REDIS_URL',
        'RETRAIN_SERVING_URLS',
        'RETRAIN_PREDICTION_LOG_DIR',
      ])
        expect(env(service)[variable], `${service} ${variable}`).toBeUndefined();
  });

  it('publishes the client-facing server on PUBLISH_HOST and the admin surfaces on ADMIN_PUBLISH_HOST', () => {
    const published = compose(['config', '--format', 'json'], {
      ...REQUIRED_ENV,
      PUBLISH_HOST: '127.0.0.2',
      ADMIN_PUBLISH_HOST: '127.0.0.3',
    });
    expect(published.status).toBe(0);
    const services = (
      JSON.parse(published.stdout) as {
        services: Record<string, { ports?: { host_ip?: string; published?: string }[] }>;
      }
    ).services;
    const hosts = Object.fromEntries(
      Object.entries(services)
        .filter(([, service]) => service.ports?.length)
        .map(([name, service]) => [name, [...new Set(service.ports!.map((port) => port.host_ip))]]),
    );
    expect(hosts).toEqual({
      serving: ['127.0.0.2'],
      temporal: ['127.0.0.3'],
      'temporal-ui': ['127.0.0.3'],
      s3: ['127.0.0.3'],
      prometheus: ['127.0.0.3'],
      grafana: ['127.0.0.3'],
    });
  });
});

describe("the stack's S3 server", () => {
  const goModule = fs.readFileSync(path.join(ROOT, 'tools', 'versitygw', 'go.mod'), 'utf8');
  const testedVersion = /github\.com\/versity\/versitygw (v\S+)/.exec(goModule)?.[1];

  it("is Versity's S3 gateway at the release the S3 contract suite runs against, its root credentials the bucket job's, its users in their own volume", () => {
    const s3 = project.services.s3!;
    expect(s3.image).toBe(`versity/versitygw:${testedVersion}`);
    const command = s3.command ?? [];
    expect(command.slice(-2)).toEqual(['posix', '/data']);
    expect(command.join(' ')).toContain('--iam-dir /iam');
    expect(command.join(' ')).toContain('--port :9000');
    const healthPath = command[command.indexOf('--health') + 1];
    expect(s3.healthcheck?.test).toContain(`http://127.0.0.1:9000${healthPath}`);
    expect(s3.volumes?.map((v) => [v.source, v.target])).toEqual([
      ['s3', '/data'],
      ['s3-iam', '/iam'],
    ]);
    const cpu = project.services['cpu-worker']!.environment!;
    expect(cpu.S3_ENDPOINT).toBe('http://s3:9000');
    const job = project.services['s3-bucket']!.environment!;
    expect(s3.environment).toEqual({
      ROOT_ACCESS_KEY: job.AWS_ACCESS_KEY_ID,
      ROOT_SECRET_KEY: job.AWS_SECRET_ACCESS_KEY,
    });
  });

  it("gets the store's bucket and the roles' users from a job of the retrain image that sees the store and nothing else", () => {
    const job = project.services['s3-bucket']!;
    const cpu = project.services['cpu-worker']!;
    expect(job.image).toBe(cpu.image);
    expect(job.command).toEqual(['node', '--require', 'tsx/cjs', 'scripts/ensure-bucket.ts']);
    expect(fs.existsSync(path.join(ROOT, 'scripts', 'ensure-bucket.ts'))).toBe(true);
    const store = [
      'RETRAIN_STORE',
      'S3_ENDPOINT',
      'AWS_REGION',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
    ];
    const roles = ['CPU', 'TRAINER', 'SERVING', 'BRIDGE'].flatMap((role) => [
      `S3_${role}_ACCESS_KEY`,
      `S3_${role}_SECRET_KEY`,
    ]);
    expect(Object.keys(job.environment ?? {}).sort()).toEqual([...store, 'S3_USERS', ...roles].sort());
    expect(job.environment?.S3_USERS).toBe('versitygw');
    for (const variable of ['RETRAIN_STORE', 'S3_ENDPOINT', 'AWS_REGION'])
      expect(job.environment?.[variable], variable).toBe(cpu.environment?.[variable]);
    expect(job.environment?.AWS_ACCESS_KEY_ID).toBe(REQUIRED_ENV.S3_ACCESS_KEY);
    expect(job.depends_on?.s3?.condition).toBe('service_healthy');
  });

  it('is MinIO, on the same address and credentials and on its own volume, with docker-compose.minio.yml', () => {
    const quiet = compose(['config', '--quiet'], REQUIRED_ENV, [MINIO_OVERRIDE]);
    expect(quiet.stderr.trim()).toBe('');
    expect(quiet.status).toBe(0);
    const rendered = compose(['config', '--format', 'json'], REQUIRED_ENV, [MINIO_OVERRIDE]);
    expect(rendered.status, rendered.stderr).toBe(0);
    const withMinio = JSON.parse(rendered.stdout) as ComposeProject;
    const s3 = withMinio.services.s3!;
    // Docker Hub no longer serves MinIO: its images come from quay.io.
    expect(s3.image).toMatch(/^quay\.io\/minio\/minio:RELEASE\./);
    expect(s3.command).toEqual(['server', '/data', '--address', ':9000', '--console-address', ':9001']);
    const cpu = withMinio.services['cpu-worker']!.environment!;
    expect(cpu.S3_ENDPOINT).toBe('http://s3:9000');
    // Only MinIO's own variables: the gateway's are replaced, not merged in.
    expect(s3.environment).toEqual({
      MINIO_ROOT_USER: cpu.AWS_ACCESS_KEY_ID,
      MINIO_ROOT_PASSWORD: cpu.AWS_SECRET_ACCESS_KEY,
    });
    expect(s3.volumes?.map((v) => [v.source, v.target])).toEqual([['minio', '/data']]);
    expect(Object.keys(withMinio.volumes ?? {})).toContain('minio');
    // No per-role users on MinIO: the job makes none, and the services read the store as root.
    expect(withMinio.services['s3-bucket']!.environment?.S3_USERS).toBe('none');
    for (const service of ['cpu-worker', 'gpu-worker', 'py-worker', 'py-gpu-worker', 'serving', 'bridge'])
      expect(withMinio.services[service]!.environment?.AWS_ACCESS_KEY_ID, service).toBe(
        REQUIRED_ENV.S3_ACCESS_KEY,
      );
  });
});

#!/usr/bin/env node
// Installs what a fresh clone lacks, and only what is asked for. `node scripts/setup.js`: what
// `npm run demo` runs (npm packages, the Temporal CLI, the native TensorFlow backend, the command
// line bundle). `--tests`: also what the tests start (MinIO, Versity's S3 gateway, Docker Compose,
// chromium, redis-server, curl, jq, the Python trainer's virtual environment). Part names
// (`node scripts/setup.js redis-server`, `node scripts/setup.js python`): those parts, for the
// commands that need them. The Go builds (CPU) run beside the rest (mostly network); one
// line at the end gives each part's time. Plain Node (no dependencies): it runs before `npm install`.
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const binDir = path.join(root, '.tools', 'bin');

/** Go builds, pinned by tools/<dir>/go.mod + go.sum; rebuilt only when the pin changes. */
const goTools = {
  temporal: {
    pkg: 'github.com/temporalio/cli/cmd/temporal',
    ldflags: '-s -w -X github.com/temporalio/cli/temporalcli.Version=1.5.1',
  },
  minio: { pkg: 'github.com/minio/minio', ldflags: '-s -w' },
  versitygw: {
    pkg: 'github.com/versity/versitygw/cmd/versitygw',
    ldflags: '-s -w -X main.Version=v1.8.0',
  },
  // `docker-compose config` validates docker-compose.yml in the tests; no Docker engine needed.
  'docker-compose': {
    dir: 'compose',
    pkg: 'github.com/docker/compose/v5/cmd',
    ldflags: '-s -w -X github.com/docker/compose/v5/internal.Version=v5.6.0',
  },
};

/** Programs from Debian's packages, by command: each is also a part name. */
const debianPackages = {
  // The daemon-client tests run the documented bash client.
  curl: 'curl',
  jq: 'jq',
  // The Web UI and dashboard tests drive it through playwright-core.
  chromium: 'chromium',
  // Run events go to Redis streams and `retrain bridge redis` reads jobs from one; the tests and the
  // local stack (when a local Redis is configured) start their own servers.
  'redis-server': 'redis-server',
  // scripts/install-tfjs-node.sh sets the library names of libtensorflow from the PyPI wheel.
  patchelf: 'patchelf',
  // The fleet test (test/e2e/fleet-hosts.test.ts) builds its hosts as network namespaces.
  ip: 'iproute2',
};

/** What `npm run demo` runs, in install order (the npm packages first: the rest build on them). */
const DEMO_PARTS = ['npm', 'temporal', 'tfjs-node', 'cli'];
/** What the tests start besides the demo's parts. */
const TEST_PARTS = [
  'minio',
  'versitygw',
  'docker-compose',
  'curl',
  'jq',
  'chromium',
  'redis-server',
  'ip',
  'python',
];

function log(message) {
  process.stderr.write(`[setup] ${message}\n`);
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

/** Runs a command to its end, its output on stderr, without blocking the other parts' installs. */
function run(command, args, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 2, 2], ...options });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? `exit code ${code}`})`)),
    );
  });
}

function fingerprint(files, extra) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(fs.readFileSync(file));
  hash.update(extra);
  return hash.digest('hex');
}

async function ensureNodeModules() {
  const lock = path.join(root, 'package-lock.json');
  const stamp = path.join(root, 'node_modules', '.retrain-lock-hash');
  const want = fingerprint([lock], process.version);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return 'cached';
  // `npm install` rather than `npm ci`: it installs the locked versions too, and tolerates a lock
  // without the other platforms' optional binaries (DuckDB, swc), which some registries leave out.
  log('installing npm packages (npm install from package-lock.json)');
  // onnxruntime-node's CPU runtime ships in its package; its postinstall would fetch CUDA providers
  // from NuGet (unreachable here, unused by serving) and fail the install.
  await run('npm', ['install', '--no-audit', '--no-fund'], {
    cwd: root,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  fs.writeFileSync(stamp, want);
  return undefined;
}

async function ensureGoTool(name) {
  const { dir: toolDir = name, pkg, ldflags } = goTools[name];
  const dir = path.join(root, 'tools', toolDir);
  const bin = path.join(binDir, name);
  const pinFile = `${bin}.pin`;
  const want = fingerprint([path.join(dir, 'go.mod'), path.join(dir, 'go.sum')], ldflags);
  if (fs.existsSync(bin) && fs.existsSync(pinFile) && fs.readFileSync(pinFile, 'utf8') === want)
    return 'cached';
  fs.mkdirSync(binDir, { recursive: true });
  log(`building ${name} from ${pkg} (pinned in tools/${toolDir}/go.mod); the first build takes minutes`);
  await run('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', bin, pkg], {
    cwd: dir,
    env: { ...process.env, GOFLAGS: '-mod=readonly', CGO_ENABLED: '0' },
  });
  fs.writeFileSync(pinFile, want);
  return undefined;
}

function onPath(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Installs the Debian packages of the commands not on PATH, in one apt-get run. */
async function ensureDebianPackages(commands) {
  const missing = commands.filter((command) => !onPath(command)).map((command) => debianPackages[command]);
  if (missing.length === 0) return 'present';
  if (process.getuid?.() !== 0 || !onPath('apt-get'))
    throw new Error(`missing ${missing.join(', ')}: install them (apt-get install ${missing.join(' ')})`);
  log(`installing ${missing.join(', ')} from Debian's packages`);
  await run('apt-get', ['update', '-q']);
  await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return undefined;
}

/**
 * The native TensorFlow backend (@tensorflow/tfjs-node, the binding tfjs-node-gpu shares): its own
 * install script downloads libtensorflow, which is not reachable here, so npm drops the optional
 * package; scripts/install-tfjs-node.sh builds it from the PyPI tensorflow-cpu wheel instead.
 */
async function ensureNativeBackend() {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `none for ${process.platform}-${process.arch}: wasm`;
  const tfn = path.join(root, 'node_modules', '@tensorflow', 'tfjs-node');
  const built = ['lib/napi-v8/tfjs_binding.node', 'deps/lib/libpystub.so'].every((f) =>
    fs.existsSync(path.join(tfn, f)),
  );
  if (built) return 'cached';
  await ensureDebianPackages(['patchelf']);
  log('building the native TensorFlow backend (@tensorflow/tfjs-node) from the tensorflow-cpu 2.9.1 wheel');
  await run('bash', [path.join(root, 'scripts', 'install-tfjs-node.sh')], { cwd: root });
  return undefined;
}

/**
 * The Python trainer's virtual environment (.tools/py, scripts/lib/python-env.js): pip from PyPI,
 * minutes and ~6.7 GB cold (PyTorch brings CUDA libraries), instant when its stamp matches. Run as a
 * child process: ensurePythonEnv is synchronous and would stall the other chain's builds meanwhile.
 */
async function ensurePython() {
  const { pythonEnvPaths, requirementsHash } = require('./lib/python-env.js');
  const { python, stamp, project } = pythonEnvPaths(root);
  try {
    const interpreter = execFileSync(process.env.PYTHON3 || 'python3', ['--version'], {
      encoding: 'utf8',
    }).trim();
    if (fs.existsSync(python) && fs.readFileSync(stamp, 'utf8') === requirementsHash(project, interpreter))
      return 'cached';
  } catch {
    // No stamp yet, or no python3: the install below says what is missing.
  }
  await run(process.execPath, [path.join(__dirname, 'lib', 'python-env.js')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 2],
  });
  return undefined;
}

async function ensureCliBundle() {
  return require('./lib/cli-bundle.js').buildBundle() ? undefined : 'cached';
}

/** Each part's installer: it returns a note when it had nothing to do, undefined when it installed. */
const installers = {
  npm: ensureNodeModules,
  ...Object.fromEntries(Object.keys(goTools).map((name) => [name, () => ensureGoTool(name)])),
  'tfjs-node': ensureNativeBackend,
  python: ensurePython,
  cli: ensureCliBundle,
};

/** Every part, in install order: npm packages first (the rest build on them), the bundle last. */
const INSTALL_ORDER = [
  'npm',
  ...Object.keys(goTools),
  ...Object.keys(debianPackages),
  'tfjs-node',
  'python',
  'cli',
];
const USAGE = `usage: node scripts/setup.js [--tests] [part ...]; parts: ${INSTALL_ORDER.join(', ')}`;

/** The parts the arguments ask for, in install order: the demo's by default. */
function selectParts(args) {
  const names = args.filter((arg) => arg !== '--tests');
  const unknown = names.filter((name) => !INSTALL_ORDER.includes(name));
  if (unknown.length > 0) throw new Error(`unknown part ${unknown.join(', ')}; ${USAGE}`);
  const wanted = new Set(names.length > 0 ? names : DEMO_PARTS);
  if (args.includes('--tests')) for (const part of [...DEMO_PARTS, ...TEST_PARTS]) wanted.add(part);
  return INSTALL_ORDER.filter((part) => wanted.has(part));
}

/**
 * Installs the parts in three chains side by side, the Go builds, the Python environment (pip, needs
 * nothing else here) and the rest (the Debian packages in one apt-get run), and logs one line: the
 * whole time, then each part's in install order.
 */
async function main(args) {
  const parts = selectParts(args);
  const debian = parts.filter((part) => part in debianPackages);
  const labels = [...new Set(parts.map((part) => (part in debianPackages ? 'debian' : part)))];
  const started = Date.now();
  const times = new Map();
  const chain = async (chainLabels) => {
    for (const label of chainLabels) {
      const partStarted = Date.now();
      const note = await (label === 'debian' ? ensureDebianPackages(debian) : installers[label]());
      times.set(label, `${label} ${seconds(Date.now() - partStarted)}${note ? ` (${note})` : ''}`);
    }
  };
  const results = await Promise.allSettled([
    chain(labels.filter((label) => label in goTools)),
    chain(labels.filter((label) => label === 'python')),
    chain(labels.filter((label) => !(label in goTools) && label !== 'python')),
  ]);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  log(`${seconds(Date.now() - started)}: ${labels.map((label) => times.get(label)).join(', ')}`);
}

main(process.argv.slice(2)).catch((err) => {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

#!/usr/bin/env node
// Installs what a fresh clone lacks: npm packages and the pinned Go builds of the Temporal CLI
// and MinIO. Plain Node (no dependencies) because it runs before `npm ci`.
'use strict';
const { execFileSync } = require('node:child_process');
const { createHash } = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const binDir = path.join(root, '.tools', 'bin');

/** Go builds, pinned by tools/<name>/go.mod + go.sum; rebuilt only when the pin changes. */
const tools = [
  {
    name: 'temporal',
    pkg: 'github.com/temporalio/cli/cmd/temporal',
    ldflags: '-s -w -X github.com/temporalio/cli/temporalcli.Version=1.5.1',
  },
  { name: 'minio', pkg: 'github.com/minio/minio', ldflags: '-s -w' },
  {
    name: 'versitygw',
    pkg: 'github.com/versity/versitygw/cmd/versitygw',
    ldflags: '-s -w -X main.Version=v1.8.0',
  },
  {
    // `docker-compose config` validates docker-compose.yml in the tests; no Docker engine needed.
    name: 'docker-compose',
    dir: 'compose',
    pkg: 'github.com/docker/compose/v5/cmd',
    ldflags: '-s -w -X github.com/docker/compose/v5/internal.Version=v5.6.0',
  },
];

function log(message) {
  process.stderr.write(`[setup] ${message}\n`);
}

function fingerprint(files, extra) {
  const hash = createHash('sha256');
  for (const file of files) hash.update(fs.readFileSync(file));
  hash.update(extra);
  return hash.digest('hex');
}

function ensureNodeModules() {
  const lock = path.join(root, 'package-lock.json');
  const stamp = path.join(root, 'node_modules', '.retrain-lock-hash');
  const want = fingerprint([lock], process.version);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return;
  // `npm install` rather than `npm ci`: it installs the locked versions too, and tolerates a lock
  // without the other platforms' optional binaries (DuckDB, swc), which some registries leave out.
  log('installing npm packages (npm install from package-lock.json)');
  const started = Date.now();
  // onnxruntime-node's CPU runtime ships in its package; its postinstall would fetch CUDA providers
  // from NuGet (unreachable here, unused by serving) and fail the install.
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], {
    cwd: root,
    stdio: ['ignore', 2, 2],
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  fs.writeFileSync(stamp, want);
  log(`npm ci took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function ensureTool({ name, dir: toolDir = name, pkg, ldflags }) {
  const dir = path.join(root, 'tools', toolDir);
  const bin = path.join(binDir, name);
  const pinFile = `${bin}.pin`;
  const want = fingerprint([path.join(dir, 'go.mod'), path.join(dir, 'go.sum')], ldflags);
  if (fs.existsSync(bin) && fs.existsSync(pinFile) && fs.readFileSync(pinFile, 'utf8') === want) return;
  fs.mkdirSync(binDir, { recursive: true });
  log(`building ${name} from ${pkg} (pinned in tools/${toolDir}/go.mod); the first build takes minutes`);
  const started = Date.now();
  execFileSync('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', bin, pkg], {
    cwd: dir,
    stdio: ['ignore', 2, 2],
    env: { ...process.env, GOFLAGS: '-mod=readonly', CGO_ENABLED: '0' },
  });
  fs.writeFileSync(pinFile, want);
  log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Programs from Debian's packages: the documented bash client (curl, jq) and a browser for the Web UI tests. */
const debianPackages = [
  { command: 'curl', pkg: 'curl' },
  { command: 'jq', pkg: 'jq' },
  // The Web UI tests drive it through playwright-core.
  { command: 'chromium', pkg: 'chromium' },
  // scripts/install-tfjs-node.sh sets the library names of libtensorflow from the PyPI wheel.
  { command: 'patchelf', pkg: 'patchelf' },
  // Run events go to Redis streams and `retrain bridge redis` reads jobs from one; the tests and the
  // local stack start their own servers.
  { command: 'redis-server', pkg: 'redis-server' },
];

function onPath(command) {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function ensureDebianPackages() {
  const missing = debianPackages.filter(({ command }) => !onPath(command)).map(({ pkg }) => pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0 || !onPath('apt-get'))
    throw new Error(`missing ${missing.join(', ')}: install them (apt-get install ${missing.join(' ')})`);
  log(`installing ${missing.join(', ')} from Debian's packages`);
  execFileSync('apt-get', ['update', '-q'], { stdio: ['ignore', 2, 2] });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: ['ignore', 2, 2],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * The native TensorFlow backend (@tensorflow/tfjs-node, the binding tfjs-node-gpu shares): its own
 * install script downloads libtensorflow, which is not reachable here, so npm drops the optional
 * package; scripts/install-tfjs-node.sh builds it from the PyPI tensorflow-cpu wheel instead.
 */
function ensureNativeBackend() {
  if (process.platform !== 'linux' || process.arch !== 'x64') return;
  const tfn = path.join(root, 'node_modules', '@tensorflow', 'tfjs-node');
  const built = ['lib/napi-v8/tfjs_binding.node', 'deps/lib/libpystub.so'].every((f) =>
    fs.existsSync(path.join(tfn, f)),
  );
  if (built) return;
  log('building the native TensorFlow backend (@tensorflow/tfjs-node) from the tensorflow-cpu 2.9.1 wheel');
  const started = Date.now();
  execFileSync('bash', [path.join(root, 'scripts', 'install-tfjs-node.sh')], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  });
  log(`built @tensorflow/tfjs-node in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function ensureCliBundle() {
  if (require('./lib/cli-bundle.js').buildBundle())
    log('built the retrain command line bundle (.tools/cli/)');
}

function main() {
  ensureNodeModules();
  for (const tool of tools) ensureTool(tool);
  ensureDebianPackages();
  ensureNativeBackend();
  ensureCliBundle();
}

try {
  main();
} catch (err) {
  log(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

// The layers of retrain, as allow-lists: every top-level folder is named here with the folders it may
// import. eslint.config.mjs builds its import rules from this table and test/unit/lint-layers.test.ts
// checks every forbidden pair against lint, so the rule lives in one place. A new folder fails lint
// until it is placed here.
import fs from 'node:fs';

/** Packages that only some layers may import, by group name. */
export const guardedPackages = {
  tensorflow: {
    group: ['@tensorflow/*'],
    message: 'TensorFlow.js belongs in ml/, activities/ and the serving model code (serving/model-*.ts)',
  },
  storageClients: {
    group: ['@duckdb/*', '@aws-sdk/*'],
    message: 'DuckDB and S3 are reached through storage/ only',
  },
  onnxRuntime: {
    group: ['onnxruntime-*'],
    message:
      'onnxruntime belongs in ml/ (ml/onnx-model.ts); others run ONNX versions through ml/loaded-model.ts',
  },
};

/** Folders everything below may use freely: the drivers, which act as a user or an operator does. */
const DRIVERS = ['bench', 'scripts', 'test'];

/**
 * Each code folder: what it holds, the folders it may import (`imports`), the folders it may take only
 * types from (`typesFrom`), the guarded packages it may use (`packages`), whether its code runs in the
 * workflow sandbox (`workflowSafe`: no Node built-ins), and `onlyPackages` where its packages are an
 * allow-list too.
 * @type {Record<string, {about: string, imports: string[], typesFrom?: string[], packages?: string[], workflowSafe?: boolean, onlyPackages?: string[], packageFiles?: Record<string, string[]>}>}
 */
export const layers = {
  common: {
    about: 'workflow-safe schemas, types, errors, ids and messages',
    imports: [],
    workflowSafe: true,
  },
  workflows: {
    about: 'deterministic workflow code',
    imports: ['common'],
    typesFrom: ['activities'],
    workflowSafe: true,
  },
  storage: {
    about: 'the blob store, registry, buffer and prediction log',
    imports: ['common'],
    packages: ['storageClients'],
  },
  ml: {
    about: 'the models: TensorFlow.js, and ONNX versions through onnxruntime',
    imports: ['common', 'storage'],
    packages: ['tensorflow', 'onnxRuntime'],
  },
  datasets: { about: 'dataset and candidate files in the store', imports: ['common', 'ml', 'storage'] },
  monitoring: { about: 'live metrics from the prediction log', imports: ['common', 'ml', 'storage'] },
  events: { about: 'run-event sinks (webhook, Redis streams)', imports: ['common'] },
  rollout: { about: 'reload and rollback of inference servers', imports: ['common', 'storage'] },
  config: { about: 'config, logger and Temporal connection of every composition root', imports: ['common'] },
  activities: {
    about: 'side effects, built by createActivities(deps)',
    imports: ['common', 'ml', 'storage', 'datasets', 'monitoring', 'events', 'rollout'],
    packages: ['tensorflow'],
  },
  runs: {
    about: 'run control over Temporal',
    imports: ['common'],
    typesFrom: ['workflows', 'activities'],
    onlyPackages: ['zod', '@temporalio/client'],
  },
  bridge: {
    about: 'job bridges that start runs through run control',
    imports: ['common', 'config', 'events', 'storage', 'runs'],
  },
  control: {
    about: 'the control plane of the server: daemon training API, dashboard, rollback, monitor',
    imports: ['common', 'config', 'storage', 'ml', 'monitoring', 'rollout', 'runs'],
  },
  serving: {
    about: 'the inference server: its data plane and the assembly of both planes',
    imports: ['common', 'config', 'storage', 'ml', 'datasets', 'monitoring', 'rollout', 'runs', 'control'],
    packageFiles: { 'serving/model-*.ts': ['tensorflow'] },
  },
  workers: {
    about: 'composition roots of the cpu and gpu workers',
    imports: ['common', 'config', 'activities', 'events', 'ml', 'storage'],
    typesFrom: ['workflows'],
  },
  clients: {
    about: 'the retrain command line, an adapter',
    imports: ['common', 'config', 'storage', 'rollout', 'monitoring', 'runs', 'bridge', 'events'],
    typesFrom: ['workflows'],
  },
  bin: { about: 'the retrain executable', imports: ['clients', 'scripts'] },
  scripts: {
    about: 'setup, the local stack and the demos',
    imports: [],
    packages: ['tensorflow', 'storageClients', 'onnxRuntime'],
  },
  bench: {
    about: 'benchmarks that print figures',
    imports: [],
    packages: ['tensorflow', 'storageClients', 'onnxRuntime'],
  },
  test: { about: 'the tests', imports: [], packages: ['tensorflow', 'storageClients', 'onnxRuntime'] },
};

// The drivers may import every code folder; nothing but a driver (and bin/, which runs scripts/lib) imports them.
for (const name of DRIVERS) layers[name].imports = Object.keys(layers).filter((f) => f !== name);

/** Top-level folders that hold no TypeScript or JavaScript of the project. */
export const nonCodeFolders = [
  'deploy',
  'docs',
  'examples',
  'tools',
  'trainers',
  'node_modules',
  'dist',
  'coverage',
];

/** Folders a folder may not import at all (neither values nor types). */
export function forbiddenFor(name) {
  const layer = layers[name];
  const open = new Set([name, ...layer.imports, ...(layer.typesFrom ?? [])]);
  return Object.keys(layers).filter((f) => !open.has(f));
}

/** Top-level folders under `root` that are neither a layer nor a known non-code folder (dot folders aside). */
export function unplacedFolders(root) {
  return fs
    .readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .filter((name) => !(name in layers) && !nonCodeFolders.includes(name));
}

import js from '@eslint/js';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// The layers of docs/architecture.md, written down so lint checks them. Two rules share the work:
// import-x/no-restricted-paths says which folders a folder may import (values and types alike), and
// no-restricted-imports says which packages it may import, and where only `import type` is allowed.

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const tensorflow = {
  group: ['@tensorflow/*'],
  message: 'TensorFlow.js belongs in ml/, activities/ and the serving model code (serving/model-*.ts)',
};
const storageOnly = {
  group: ['@duckdb/*', '@aws-sdk/*'],
  message: 'DuckDB and S3 are reached through storage/ only',
};

const workflowBanned = {
  paths: nodeBuiltins.map((name) => ({
    name,
    message: 'workflows/ and common/ run in the deterministic workflow sandbox: no Node built-ins',
  })),
  patterns: [
    {
      group: ['@aws-sdk/*', '@tensorflow/*', '@duckdb/*'],
      message: 'side effects belong in activities/, not in workflow-safe code',
    },
    {
      group: [
        '../activities',
        '../activities/*',
        '../storage/*',
        '../ml/*',
        '../serving/*',
        '../workers/*',
        '../clients/*',
        '../runs/*',
        '../rollout/*',
        '../events/*',
      ],
      message: 'workflow-safe code imports only common/ (and `import type` from activities/)',
      allowTypeImports: true,
    },
  ],
};

const runsBanned = {
  patterns: [
    {
      // Bare specifiers other than these two; relative imports are checked by the zones below.
      regex: '^(?!(zod|@temporalio/client)$)[^.]',
      message: 'runs/ is run control over Temporal: it imports only common/, zod and @temporalio/client',
    },
    {
      regex: '^(\\.\\./)+(activities|workflows)(/|$)',
      message: 'runs/ takes only types from workflows/ and activities/: their code runs in workers',
      allowTypeImports: true,
    },
  ],
};

/** Folders, relative to this file, as no-restricted-paths zones name them. */
const dirs = (...names) => names.map((name) => `./${name}`);

const zones = [
  {
    // bin/ runs the command line; scripts/, test/ and bench/ drive it as a user does.
    target: './!(clients|bin|scripts|test|bench)/**',
    from: './clients',
    message: 'clients/ is the command line, an adapter: nothing imports it.',
  },
  {
    target: './runs',
    from: dirs('clients', 'serving', 'storage', 'ml', 'workers', 'rollout'),
    message: 'runs/ is run control over Temporal: common/, and types from workflows/ and activities/.',
  },
  {
    target: './activities',
    from: dirs('serving', 'clients', 'runs', 'workers'),
    message: 'activities get their dependencies from createActivities(deps), not from adapters.',
  },
  {
    target: './rollout',
    from: dirs('serving', 'clients', 'runs', 'activities', 'workers', 'workflows', 'ml'),
    message:
      'rollout/ is shared by the reloadServers activity and `retrain rollback`: common/ and storage/ only.',
  },
  {
    target: './ml',
    from: dirs('activities', 'serving', 'clients', 'runs', 'workers', 'workflows', 'rollout'),
    message: 'ml/ is pure TensorFlow.js: common/ and storage/ only.',
  },
  {
    target: './bridge',
    from: dirs('activities', 'ml', 'serving', 'workflows', 'rollout'),
    message: 'bridge/ brings jobs in through run control (runs/): not through workers code or the serving.',
  },
  {
    target: './events',
    from: dirs('activities', 'ml', 'serving', 'clients', 'runs', 'workers', 'workflows', 'rollout', 'storage'),
    message: 'events/ are the run-event sinks (webhook, Redis streams): common/ only.',
  },
  {
    target: './storage',
    from: dirs('activities', 'ml', 'serving', 'clients', 'runs', 'workers', 'workflows', 'rollout'),
    message: 'storage/ is the bottom layer: common/ only.',
  },
  // workers/ and serving/main.ts are composition roots: they wire config, storage, ml and activities
  // together, so they have no zone of their own beyond "not clients/".
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.data/', 'tools/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['**/*.ts', '**/*.js'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json', '.node'] })],
    },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones }],
    },
  },
  // Packages by layer. Each file gets the options of the last block below that names it.
  {
    files: ['**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [tensorflow, storageOnly] }] },
  },
  {
    files: ['ml/**/*.ts', 'activities/**/*.ts', 'serving/model-*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [storageOnly] }] },
  },
  {
    files: ['storage/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns: [tensorflow] }] },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' },
  },
  {
    files: ['runs/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', runsBanned] },
  },
  {
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': ['error', workflowBanned] },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
    languageOptions: {
      globals: { require: 'readonly', process: 'readonly', __dirname: 'readonly', console: 'readonly' },
      sourceType: 'commonjs',
    },
  },
);

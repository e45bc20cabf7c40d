import js from '@eslint/js';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

import { forbiddenFor, guardedPackages, layers, unplacedFolders } from './layers.mjs';

// The layers come from layers.mjs, one allow-list per folder. Two rules share the work:
// import-x/no-restricted-paths forbids the folders a folder may not import at all, and
// @typescript-eslint/no-restricted-imports keeps packages to their layers, Node built-ins out of the
// workflow sandbox, and folders a layer may take only types from to `import type`.

const unplaced = unplacedFolders(import.meta.dirname);
if (unplaced.length > 0)
  throw new Error(
    `folder ${unplaced.map((f) => `${f}/`).join(', ')} has no layer: place it in layers.mjs (what it may import)`,
  );

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const zones = Object.keys(layers)
  .map((name) => ({ name, from: forbiddenFor(name) }))
  .filter(({ from }) => from.length > 0)
  .map(({ name, from }) => ({
    target: `./${name}`,
    from: from.map((f) => `./${f}`),
    message: `${name}/ (${layers[name].about}) may import ${describeAllowed(name)} (layers.mjs).`,
  }));

function describeAllowed(name) {
  const { imports, typesFrom = [] } = layers[name];
  const values = imports.length ? imports.map((f) => `${f}/`).join(', ') : 'no other folder';
  return typesFrom.length ? `${values}, and types from ${typesFrom.map((f) => `${f}/`).join(', ')}` : values;
}

/** The no-restricted-imports options of files in `name`, given the guarded packages they may use. */
function restrictedImports(name, allowedPackages = layers[name].packages ?? []) {
  const layer = layers[name];
  const patterns = Object.entries(guardedPackages)
    .filter(([group]) => !allowedPackages.includes(group))
    .map(([, pattern]) => pattern);
  for (const folder of layer.typesFrom ?? [])
    patterns.push({
      regex: `^(\\.\\./)+${folder}(/|$)`,
      message: `${name}/ takes only types from ${folder}/: use import type`,
      allowTypeImports: true,
    });
  if (layer.onlyPackages)
    patterns.push({
      regex: `^(?!(${layer.onlyPackages.join('|')})$)[^.]`,
      message: `${name}/ (${layer.about}) imports only the packages ${layer.onlyPackages.join(', ')}`,
    });
  const paths = layer.workflowSafe
    ? nodeBuiltins.map((n) => ({
        name: n,
        message: `${name}/ runs in the deterministic workflow sandbox: no Node built-ins`,
      }))
    : [];
  return ['error', { paths, patterns }];
}

const layerBlocks = Object.keys(layers).flatMap((name) => [
  {
    files: [`${name}/**/*.ts`],
    rules: { '@typescript-eslint/no-restricted-imports': restrictedImports(name) },
  },
  ...Object.entries(layers[name].packageFiles ?? {}).map(([glob, packages]) => ({
    files: [glob],
    rules: {
      '@typescript-eslint/no-restricted-imports': restrictedImports(name, [
        ...(layers[name].packages ?? []),
        ...packages,
      ]),
    },
  })),
]);

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
  // Packages and type-only folders by layer (layers.mjs); each file gets its own folder's block.
  {
    files: ['*.ts', '*.mts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: Object.values(guardedPackages) }],
    },
  },
  ...layerBlocks,
  {
    // Product code reads in functions a reviewer can hold in mind; drivers (tests, benches, scripts) aside.
    files: ['**/*.ts'],
    ignores: ['bench/**', 'scripts/**', 'test/**'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
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

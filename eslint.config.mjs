import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const workflowBanned = {
  paths: [...builtinModules, ...builtinModules.map((m) => `node:${m}`)].map((name) => ({
    name,
    message: 'workflows/ and common/ run in the deterministic workflow sandbox: no Node built-ins',
  })),
  patterns: [
    {
      group: ['@aws-sdk/*', '@tensorflow/*', '@duckdb/*'],
      message: 'side effects belong in activities/, not in workflow-safe code',
    },
    {
      group: ['../activities', '../activities/*', '../storage/*', '../ml/*', '../serving/*', '../workers/*'],
      message: 'workflow-safe code imports only common/ (and `import type` from activities/)',
      allowTypeImports: true,
    },
  ],
};

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

// Lint: typescript-eslint's recommended type-aware rules. Generated code is not ours to lint.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// What code without I/O must not import: Node's built-ins, gRPC, database and bus drivers.
const ioImports = [
  { group: ['node:*', ...builtinModules], message: 'No Node built-ins here: this code has no I/O.' },
  {
    group: ['@grpc/*', '@connectrpc/*', 'better-sqlite3', 'pg', 'pg-*', 'ioredis', 'redis', 'nats', 'pino'],
    message: 'No transport, driver or logger here: adapters live in their own folders.',
  },
];

export default tseslint.config(
  { ignores: ['dist/', '**/dist/', 'src/gen/', 'node_modules/', 'web/vendor/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.object.name='Object'][callee.property.name='freeze'] > ObjectExpression > SpreadElement",
          message:
            'A frozen spread copy gets a hidden class of its own in the old generation: use frozenCopy (src/core/frozen.ts).',
        },
      ],
    },
  },
  // The session engine and the text operations import no I/O.
  {
    files: ['src/core/**/*.ts', 'src/ot/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: ioImports }] },
  },
  // The SDK core runs in browsers: no I/O, no server code, no ts-proto output (it imports grpc-js),
  // no transport (transports plug in from outside).
  {
    files: ['src/client/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...ioImports,
            {
              group: [
                '**/src/core/**',
                '../../core/*',
                '../../server/*',
                '../../store/*',
                '../../transport/*',
              ],
              message: 'The SDK core shares only src/ot and src/gen/es with the server.',
            },
            {
              group: ['**/gen/codereview/**', '**/gen/google/**'],
              message: 'Use the protobuf-es messages (src/gen/es).',
            },
            { group: ['../transport/*'], message: 'Transports plug into the core, not the other way round.' },
          ],
        },
      ],
    },
  },
  // The browser transport, the browser entry and the web app run in browsers: no Node, no grpc-js.
  {
    files: [
      'src/client/browser.ts',
      'src/client/live-review-web-client.ts',
      'src/client/transport/connect.ts',
      'web/src/**/*.ts',
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', ...builtinModules], message: 'Browser code: no Node built-ins.' },
            {
              group: ['@grpc/*', '**/transport/grpc*', '**/client/index*'],
              message: 'Browser code: no grpc-js.',
            },
          ],
        },
      ],
    },
  },
  // node:test's describe()/it() return promises the runner tracks itself.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-floating-promises': 'off' } },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);

import tseslint from 'typescript-eslint';

const NO_VSCODE = { name: 'vscode', message: 'src/core, src/emulator and src/cli must not import vscode (ARCHITECTURE.md).' };
const NO_REQUIRE_VSCODE = {
  selector: "CallExpression[callee.name='require'][arguments.0.value='vscode']",
  message: 'src/core, src/emulator and src/cli must not require vscode.',
};
/** core is below every front door and the emulator. */
const CORE_NOT_UP = {
  regex: '^(\\.\\.?/)+(.*/)?(cli|extension|emulator)(/.*)?$',
  message: 'src/core never imports src/cli, src/extension or src/emulator (ARCHITECTURE.md, layers).',
};
/** Providers are handed their credentials; they never reach up to the credentials service or the services. */
const KMS_NOT_UP = {
  regex: '^(\\.\\.?/)+(.*/)?(credentials|services)(/.*)?$',
  message: 'src/core/kms never imports src/core/credentials or src/core/services: credentials are handed in (docs/providers.md).',
};
/** The envelope reads providers through the registry and descriptors, never a provider folder. */
const ENVELOPE_NO_PROVIDER = {
  regex: '^(\\.\\.?/)+(.*/)?kms/(?!(types|descriptor|registry)$).+$',
  message: 'src/core/envelope imports no provider folder: only kms/types, kms/descriptor and kms/registry (docs/providers.md).',
};
/** Where the environment may be read: the processes' entry points, which hand it down. */
const COMPOSITION_ROOTS = ['src/cli/main.ts', 'src/extension/extension.ts'];
const PROCESS_ENV_MESSAGE =
  'Read the environment at a composition root (src/cli/main.ts, src/extension/extension.ts) and hand it down (an `env` option).';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.cache/**', '.vscode-test/**', 'test-results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The house rule: core and emulator never import vscode, so the CLI and plain-Node tests can use them.
    files: ['src/core/**', 'src/emulator/**', 'src/cli/**'],
    rules: {
      'no-restricted-imports': ['error', { paths: [NO_VSCODE] }],
      'no-restricted-syntax': ['error', NO_REQUIRE_VSCODE],
    },
  },
  // ---- layers (GitLens's eslint.config.mjs is the model): each room imports only the rooms below it.
  {
    files: ['src/core/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [NO_VSCODE], patterns: [CORE_NOT_UP] }] },
  },
  {
    files: ['src/core/kms/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [NO_VSCODE], patterns: [CORE_NOT_UP, KMS_NOT_UP] }] },
  },
  {
    files: ['src/core/envelope/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [NO_VSCODE], patterns: [CORE_NOT_UP, ENVELOPE_NO_PROVIDER] }] },
  },
  {
    // The environment is read only where a front door starts (composition roots) and handed down;
    // `process.env`, `process['env']` and `const { env } = process` all count.
    files: ['src/**'],
    ignores: COMPOSITION_ROOTS,
    rules: { 'no-restricted-properties': ['error', { object: 'process', property: 'env', message: PROCESS_ENV_MESSAGE }] },
  },
  {
    // The emulator is the independent check of the cloud SDKs it serves: it shares no code with them
    // (its signature verifiers are written from the protocol sheets, pinned by their test vectors).
    files: ['src/emulator/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'src/emulator must not import vscode (ARCHITECTURE.md).' }],
          patterns: [
            {
              group: ['@aws-sdk/*', '@smithy/*', '@aws-crypto/*', 'tencentcloud-sdk-*', '@alicloud/*'],
              message: 'The emulator must share no code with the cloud SDKs it tests.',
            },
            {
              group: ['**/core/kms/**'],
              message: 'The emulator must share no code with our own KMS clients either (src/core/kms): it is their independent check.',
            },
          ],
        },
      ],
    },
  },
  {
    // Front doors stay readable: a command is a short function; tables and helpers take the rest
    // (src/cli/envelope.ts is the envelope helper's, being restructured with the envelope library).
    files: ['src/extension/**', 'src/cli/**'],
    ignores: ['src/cli/envelope.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);

import tseslint from 'typescript-eslint';

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
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'vscode', message: 'src/core, src/emulator and src/cli must not import vscode (ARCHITECTURE.md).' }] },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.name='require'][arguments.0.value='vscode']",
          message: 'src/core, src/emulator and src/cli must not require vscode.',
        },
      ],
    },
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
);

/**
 * What the CLI bundle gets for `import … from '@aws-crypto/client-node'` (esbuild.mjs aliases it
 * here for the CLI build only). The full client-node also loads the AWS KMS keyring, the AWS SDK
 * and the DynamoDB branch keystore at require time — about a third of the CLI's start-up for
 * `unseal` — none of which the envelope engine uses: it needs the material-management classes
 * (suites, CMM, keyring base classes, encrypt/decrypt helpers) and the stock raw-AES keyring.
 *
 * If the engine ever imports something else from client-node, add its package here; the CLI tests
 * (test/unit/cli*.test.ts) seal, unseal and inspect through the built bundle and would fail.
 */
export * from '@aws-crypto/material-management-node';
export * from '@aws-crypto/raw-aes-keyring-node';

/**
 * Config files first-class: the values of YAML, JSON/JSONC and .env files sealed in place by a policy
 * (`.kms-envelope.yaml`), one header entry and one KMS call per file, each value bound to its key path.
 * engine.ts (seal/unseal/session/rewrap), records.ts (crypto), formats/ (adapters), policy.ts, paths.ts.
 */
export * from './constants';
export * from './paths';
export * from './formats';
export * from './policy';
export { FileKey, parseHeader, recordAad } from './records';
export * from './engine';
export * from './env';

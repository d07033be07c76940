/**
 * The local provider (the embedded default: no account, no network): everything shared code needs
 * to know about it. Its blobs are opened with the stock raw-AES keyring over the key material it
 * hands out (keyring kind `raw-aes`). The implementation (./index.ts) loads when a provider is built.
 */
import type { ProviderDescriptor } from '../descriptor';

/** The opt-in key-file folder (headless machines): set, key material lives in files there (./file-store.ts). */
export const KEY_FILE_DIR_ENV = 'KMS_ENVELOPE_KEY_FILE_DIR';
/** The one region of local keys. */
export const LOCAL_REGION = 'local';
/** Aliases: 1–60 of [A-Za-z0-9_-], not starting with `local-` (so an alias never looks like an id). */
export const ALIAS_PATTERN = /^[A-Za-z0-9_-]{1,60}$/;

export const localProvider: ProviderDescriptor = {
  name: 'local',
  label: 'Local keys',
  vendor: 'Local',
  keyring: { providerId: 'local', kind: 'raw-aes' },
  regions: { fixed: [LOCAL_REGION], source: 'one region, local' },
  aliases: {
    rule: 'Local aliases are 1–60 letters, digits, "_" or "-", not starting with "local-".',
    check: (alias) => {
      const a = alias.startsWith('alias/') ? alias.slice(6) : alias;
      return ALIAS_PATTERN.test(a) && !a.startsWith('local-')
        ? undefined
        : 'Use 1–60 letters, digits, "_" or "-", not starting with "local-" (that prefix is for key ids).';
    },
  },
  deletionWindow: { min: 7, max: 30, default: 30, requiresDisabled: true },
  tree: {
    icon: 'device-desktop',
    profileIcon: 'vm',
    profileLabel: 'This machine',
    tooltip: 'Keys kept on this machine: key material in the OS keychain, no account and no network needed.',
  },
  keyFiles: { env: KEY_FILE_DIR_ENV },
  async create(ctx) {
    const { LocalKmsProvider, localSecretStore } = await import('./index.js');
    return new LocalKmsProvider({
      secretStore: ctx.secretStore ?? localSecretStore(ctx.env),
      configDir: ctx.configDir,
      logger: ctx.logger,
    });
  },
};

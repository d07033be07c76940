/**
 * Where the extension keeps secrets: the OS keychain through keytar (shared with the CLI), or,
 * where keytar cannot load or no Secret Service answers (remote SSH / WSL / container hosts,
 * headless Linux), VS Code's own SecretStorage, said ONCE to the user. The universal .vsix
 * (no native module, scripts/package.sh --target universal) uses SecretStorage by design.
 */
import * as vscode from 'vscode';
import { isCancelled } from '../core/errors';
import { KEYCHAIN_SERVICE, KeytarSecretStore, type SecretStore } from '../core/secrets';
import type { ExtensionLogger } from './log';
import { ui } from './ui';

/** SecretStorage has no listing; the accounts of each service are kept in an index entry beside them. */
export class VscodeSecretStore implements SecretStore {
  readonly description = "VS Code's SecretStorage";
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly secrets: vscode.SecretStorage) {}

  private key(service: string, account: string): string {
    return `secret:${service}/${account}`;
  }
  private indexKey(service: string): string {
    return `index:${service}`;
  }

  private async readIndex(service: string): Promise<string[]> {
    const raw = await this.secrets.get(this.indexKey(service));
    if (!raw) return [];
    try {
      const v = JSON.parse(raw) as unknown;
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
    } catch {
      return [];
    }
  }

  /** Serialises index updates (read-modify-write) within this extension host. */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => undefined);
    return run;
  }

  async get(service: string, account: string): Promise<string | undefined> {
    return (await this.secrets.get(this.key(service, account))) ?? undefined;
  }

  async set(service: string, account: string, secret: string): Promise<void> {
    await this.locked(async () => {
      await this.secrets.store(this.key(service, account), secret);
      const idx = await this.readIndex(service);
      if (!idx.includes(account)) await this.secrets.store(this.indexKey(service), JSON.stringify([...idx, account].sort()));
    });
  }

  async delete(service: string, account: string): Promise<boolean> {
    return this.locked(async () => {
      const existed = (await this.secrets.get(this.key(service, account))) !== undefined;
      await this.secrets.delete(this.key(service, account));
      const idx = await this.readIndex(service);
      if (idx.includes(account)) await this.secrets.store(this.indexKey(service), JSON.stringify(idx.filter((a) => a !== account)));
      return existed;
    });
  }

  async list(service: string): Promise<string[]> {
    return this.readIndex(service);
  }
}

/**
 * Set by esbuild.mjs: false in the universal .vsix, whose bundle carries no keytar at all (the OS
 * keychain behind VS Code is reached through SecretStorage instead). Undefined when run from source.
 */
declare const KMS_ENVELOPE_KEYCHAIN: boolean | undefined;
/** Whether this build ships keytar (every platform package and the source tree; not the universal package). */
export const KEYCHAIN_BUNDLED: boolean = typeof KMS_ENVELOPE_KEYCHAIN === 'boolean' ? KMS_ENVELOPE_KEYCHAIN : true;

const FALLBACK_SHOWN_KEY = 'kmsEnvelope.secretStorageFallbackShown';
/** Set to 1 to skip the keychain probe and use VS Code's SecretStorage (tests, locked-down hosts). */
export const FORCE_SECRET_STORAGE_ENV = 'KMS_ENVELOPE_FORCE_SECRET_STORAGE';

export interface ChosenSecretStore {
  store: SecretStore;
  kind: 'keychain' | 'secret-storage';
  /** Why the keychain was not used (when kind is secret-storage). */
  reason?: string;
}

/**
 * Probes keytar with one short read; falls back to SecretStorage when keytar cannot load or no
 * Secret Service answers. The fallback is logged on every activation and shown to the user once
 * per installation (globalState), naming where secrets are kept. A build without keytar (the
 * universal package) goes to SecretStorage without probing.
 */
export async function chooseSecretStore(
  context: vscode.ExtensionContext,
  log: Pick<ExtensionLogger, 'info' | 'warn' | 'show'>,
  opts: {
    probeTimeoutMs?: number;
    keychain?: SecretStore;
    env?: Readonly<Record<string, string | undefined>>;
    keychainBundled?: boolean;
  } = {},
): Promise<ChosenSecretStore> {
  const env = opts.env ?? {};
  if (!(opts.keychainBundled ?? KEYCHAIN_BUNDLED)) return universalSecretStore(context, log);
  let reason: string;
  if (env[FORCE_SECRET_STORAGE_ENV] === '1') {
    reason = `${FORCE_SECRET_STORAGE_ENV}=1 is set`;
  } else {
    const probe = opts.keychain ?? new KeytarSecretStore(opts.probeTimeoutMs ?? 3000);
    try {
      await probe.get(KEYCHAIN_SERVICE, '__kms-envelope-probe__');
      log.info('Secrets are kept in the OS keychain (keytar, service "kms-envelope"); the kms-envelope CLI shares them.');
      return { store: opts.keychain ?? new KeytarSecretStore(), kind: 'keychain' };
    } catch (err) {
      if (isCancelled(err)) throw err;
      reason = err instanceof Error ? err.message : String(err);
    }
  }
  const store = new VscodeSecretStore(context.secrets);
  const where =
    vscode.env.remoteName !== undefined
      ? `VS Code's SecretStorage on this ${vscode.env.remoteName} host`
      : "VS Code's SecretStorage (encrypted by VS Code; on Linux without a keyring that encryption is weak)";
  log.warn(
    `The OS keychain is not available (${reason}). Cloud secrets are kept in ${where}. The kms-envelope CLI cannot read them there.`,
  );
  if (!context.globalState.get<boolean>(FALLBACK_SHOWN_KEY)) {
    await context.globalState.update(FALLBACK_SHOWN_KEY, true);
    void ui.prompts
      .offer(
        `KMS Envelope: no OS keychain here, so cloud secrets are kept in ${where}. The command line cannot read them; use environment variables there.`,
        'Show Log',
      )
      .then((choice) => {
        if (choice === 'Show Log') log.show();
      });
  }
  return { store, kind: 'secret-storage', reason };
}

const UNIVERSAL_REASON = 'this is the universal KMS Envelope package, which has no native OS keychain module';

/** The universal package: SecretStorage by design, logged each time and said once, with the way to the shared keychain. */
function universalSecretStore(context: vscode.ExtensionContext, log: Pick<ExtensionLogger, 'info' | 'show'>): ChosenSecretStore {
  log.info(
    `Cloud secrets and local keys are kept in VS Code's SecretStorage (${UNIVERSAL_REASON}). The kms-envelope CLI cannot read them; ` +
      'the package for your platform keeps them in the OS keychain the CLI shares.',
  );
  if (!context.globalState.get<boolean>(FALLBACK_SHOWN_KEY)) {
    void context.globalState.update(FALLBACK_SHOWN_KEY, true);
    void ui.prompts
      .offer(
        "KMS Envelope (universal package) keeps cloud secrets and local keys in VS Code's SecretStorage. The kms-envelope command line cannot read them: " +
          'use environment variables there, or install the KMS Envelope package for your platform to share the OS keychain.',
        'Show Log',
      )
      .then((choice) => {
        if (choice === 'Show Log') log.show();
      });
  }
  return { store: new VscodeSecretStore(context.secrets), kind: 'secret-storage', reason: UNIVERSAL_REASON };
}

/** Picks keytar or SecretStorage on first use (the probe can take a moment; activation does not wait). */
export class LazySecretStore implements SecretStore {
  private chosen?: Promise<ChosenSecretStore>;
  private resolved?: ChosenSecretStore;
  constructor(private readonly choose: () => Promise<ChosenSecretStore>) {}
  get description(): string {
    return this.resolved?.store.description ?? 'the OS keychain';
  }
  get kind(): ChosenSecretStore['kind'] | undefined {
    return this.resolved?.kind;
  }
  private async store(): Promise<SecretStore> {
    this.chosen ??= this.choose().then((c) => (this.resolved = c));
    return (await this.chosen).store;
  }
  async get(service: string, account: string) {
    return (await this.store()).get(service, account);
  }
  async set(service: string, account: string, secret: string) {
    return (await this.store()).set(service, account, secret);
  }
  async delete(service: string, account: string) {
    return (await this.store()).delete(service, account);
  }
  async list(service: string) {
    return (await this.store()).list(service);
  }
}

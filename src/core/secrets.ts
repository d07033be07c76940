/**
 * SecretStore: the one door to the OS keychain. The CLI uses keytar directly
 * (KeytarSecretStore); the extension passes keytar, or VS Code's SecretStorage as a
 * fallback, through the same interface. Nothing else in the project stores secrets.
 */
import { credentialsError } from './errors';

export const KEYCHAIN_SERVICE = 'kms-envelope';
/** Service under which the local provider keeps its AES-256 key material (account = key id). */
export const LOCAL_KEYS_SERVICE = 'kms-envelope-local-keys';

export interface SecretStore {
  /** Human name of where secrets live, for messages ("the OS keychain (Secret Service)"). */
  readonly description: string;
  get(service: string, account: string): Promise<string | undefined>;
  set(service: string, account: string, secret: string): Promise<void>;
  delete(service: string, account: string): Promise<boolean>;
  /** Accounts stored under a service. */
  list(service: string): Promise<string[]>;
}

type Keytar = {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
  findCredentials(service: string): Promise<Array<{ account: string; password: string }>>;
};

let keytarModule: Keytar | undefined;
let keytarLoadError: unknown;

/** Loads keytar once. Returns undefined (and remembers why) when the native module cannot load. */
export function loadKeytar(): Keytar | undefined {
  if (keytarModule || keytarLoadError) return keytarModule;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    keytarModule = require('keytar') as Keytar;
  } catch (err) {
    keytarLoadError = err;
  }
  return keytarModule;
}

const KEYCHAIN_HINT =
  'Start or unlock the OS keychain (on Linux: gnome-keyring or KeePassXC with the Secret Service enabled), ' +
  'or set KMS_ENVELOPE_KEY_FILE_DIR to opt in to local key files (README, "Headless servers").';

/** The OS keychain through keytar, with a timeout so a missing Secret Service never hangs. */
export class KeytarSecretStore implements SecretStore {
  readonly description = 'the OS keychain';
  constructor(private readonly timeoutMs = 10_000) {}

  private async call<T>(what: string, fn: (k: Keytar) => Promise<T>): Promise<T> {
    const k = loadKeytar();
    if (!k) {
      throw credentialsError(
        `The OS keychain module (keytar) could not be loaded: ${(keytarLoadError as Error)?.message ?? 'unknown error'}.`,
        'Reinstall KMS Envelope for this platform, or ' + KEYCHAIN_HINT,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(credentialsError(`The OS keychain did not answer within ${this.timeoutMs / 1000} s (${what}).`, KEYCHAIN_HINT)),
        this.timeoutMs,
      );
      timer.unref?.();
    });
    try {
      return await Promise.race([fn(k), timeout]);
    } catch (err) {
      if ((err as { kind?: string }).kind) throw err;
      throw credentialsError(`The OS keychain refused ${what}: ${(err as Error).message}.`, KEYCHAIN_HINT, undefined, err);
    } finally {
      clearTimeout(timer);
    }
  }

  async get(service: string, account: string) {
    return (await this.call(`reading ${service}/${account}`, (k) => k.getPassword(service, account))) ?? undefined;
  }
  async set(service: string, account: string, secret: string) {
    await this.call(`storing ${service}/${account}`, (k) => k.setPassword(service, account, secret));
  }
  async delete(service: string, account: string) {
    return this.call(`deleting ${service}/${account}`, (k) => k.deletePassword(service, account));
  }
  async list(service: string) {
    const creds = await this.call(`listing ${service}`, (k) => k.findCredentials(service));
    return creds.map((c) => c.account);
  }
}

/** In-memory store for tests of code that is not about the keychain itself. */
export class MemorySecretStore implements SecretStore {
  readonly description = 'memory';
  private readonly map = new Map<string, string>();
  async get(service: string, account: string) {
    return this.map.get(`${service}\u0000${account}`);
  }
  async set(service: string, account: string, secret: string) {
    this.map.set(`${service}\u0000${account}`, secret);
  }
  async delete(service: string, account: string) {
    return this.map.delete(`${service}\u0000${account}`);
  }
  async list(service: string) {
    const prefix = `${service}\u0000`;
    return [...this.map.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }
}

/**
 * CredentialService: the one owner of cloud profiles and their secrets (ARCHITECTURE.md, "Credentials").
 *
 * - Stored profiles: metadata (provider, name, regions, endpoint, kind, masked key id, STS expiry;
 *   never a secret) in `<configDir>/profiles.json`, written atomically; the secret part as JSON
 *   `{accessKeyId, accessKeySecret, securityToken?, expiration?}` in the SecretStore under
 *   service `kms-envelope`, account `<provider>:<profile>`.
 * - Discovered profiles (read-only): environment variables and the clouds' CLI config files
 *   (see discovery.ts).
 * - Resolution (`resolve(provider, name?)`):
 *     explicit name → the stored profile of that name, else a discovered profile of that name;
 *     no name       → the stored `default` profile, then the `env` profile (environment variables),
 *                     then the CLI config's default (tccli `default`, aliyun `current`).
 * - `credentialsFor` returns a function that reads the secret at each call (through a short cache
 *   that this service clears on add / rotate / remove), so a rotation is picked up.
 *
 * No vscode here: the extension adapts SecretStorage / keytar to SecretStore and subscribes to
 * `onDidChange`.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../atomic';
import { credentialsError, KmsEnvelopeError, usageError } from '../errors';
import { resolveEndpoint } from '../kms/cloud-common';
import type { ProviderName } from '../kms/types';
import { nullLogger, type Logger } from '../log';
import { configDir as defaultConfigDir } from '../paths';
import { KEYCHAIN_SERVICE, type SecretStore } from '../secrets';
import { CREDENTIAL_ENV, discover, ENV_PROFILE, type DiscoveredProfile } from './discovery';
import { maskKeyId, type CloudCredentials, type CredentialsProvider, type ProfileInfo } from './types';

/** Providers that take cloud credentials (`local` keeps its keys itself). */
export type CredentialProviderName = Exclude<ProviderName, 'local'>;
export const CREDENTIAL_PROVIDERS: readonly CredentialProviderName[] = ['tencent', 'alibaba', 'aws'];

export const PROFILES_FILE = 'profiles.json';
export const DEFAULT_PROFILE = 'default';

const PROVIDER_TITLES: Record<CredentialProviderName, string> = {
  tencent: 'Tencent Cloud',
  alibaba: 'Alibaba Cloud',
  aws: 'AWS',
};

/** What addProfile takes: the profile's non-secret part; `kind` defaults from the presence of a token. */
export interface NewProfile {
  provider: CredentialProviderName;
  name: string;
  regions?: string[];
  endpoint?: string;
  kind?: 'long-term' | 'sts';
}

export interface ResolvedCredentials {
  profile: ProfileInfo;
  credentials: CredentialsProvider;
}

export type ProfileChange =
  | { type: 'add' | 'remove' | 'rotate' | 'update'; provider: CredentialProviderName; name: string }
  /** Profiles may have changed outside this process (profiles.json edited by the CLI): re-read everything. */
  | { type: 'reload' };

export interface Disposable {
  dispose(): void;
}

export interface CredentialServiceOptions {
  secretStore: SecretStore;
  /** Where profiles.json lives (default: paths.configDir(env)). */
  configDir?: string;
  /** Environment for discovery (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Home directory holding `.tccli` and `.aliyun` (default: os.homedir()). */
  homeDir?: string;
  logger?: Logger;
  /** How long a secret read from the store is reused (ms, default 30 000; 0 = read every call). */
  secretCacheMs?: number;
  /** Clock, for tests of STS expiry. */
  now?: () => number;
}

interface StoredProfile {
  provider: CredentialProviderName;
  name: string;
  regions?: string[];
  endpoint?: string;
  kind: 'long-term' | 'sts';
  keyIdHint?: string;
  expiration?: string;
  /** ISO time the secret was added or last rotated. */
  updatedAt?: string;
}

interface ProfilesFile {
  version: 1;
  profiles: StoredProfile[];
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const REGION_RE = /^[a-z0-9][a-z0-9-]{1,49}$/;
// Printable ASCII without spaces: every key id, secret and token of the supported clouds fits.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

export function accountFor(provider: string, name: string): string {
  return `${provider}:${name}`;
}

function isCredentialProvider(p: string): p is CredentialProviderName {
  return (CREDENTIAL_PROVIDERS as readonly string[]).includes(p);
}

/** Validates a provider name given by a user (CLI flag, quick pick). */
export function checkProvider(p: string | undefined): CredentialProviderName {
  if (!p || !isCredentialProvider(p)) {
    throw usageError(
      p ? `Unknown provider "${p}".` : 'No provider given.',
      `Use one of: ${CREDENTIAL_PROVIDERS.join(', ')} (the local provider needs no credentials).`,
    );
  }
  return p;
}

/** Validates a profile name: 1-64 letters, digits, `.`, `_`, `-`, starting with a letter or digit. */
export function checkProfileName(name: string | undefined): string {
  if (!name || !NAME_RE.test(name)) {
    throw usageError(
      name ? `The profile name "${name}" is not allowed.` : 'No profile name given.',
      'Use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (for example: default, prod, cn-dev).',
    );
  }
  return name;
}

function checkRegions(regions: string[] | undefined): string[] | undefined {
  if (!regions) return undefined;
  const out = [...new Set(regions.map((r) => r.trim()).filter((r) => r !== ''))];
  for (const r of out) {
    if (!REGION_RE.test(r)) {
      throw usageError(`"${r}" is not a region id.`, 'Write region ids like ap-guangzhou, cn-hangzhou or us-east-1.');
    }
  }
  return out.length ? out : undefined;
}

function checkEndpoint(endpoint: string | undefined): string | undefined {
  const e = endpoint?.trim();
  if (!e) return undefined;
  resolveEndpoint(e, 'region', 'kms.{region}.example'); // throws a usage error naming the problem
  return e;
}

/** Where the key parts are named per provider, for messages. */
function partNames(provider: CredentialProviderName): { id: string; secret: string; token: string } {
  switch (provider) {
    case 'tencent':
      return { id: 'SecretId', secret: 'SecretKey', token: 'session token' };
    case 'alibaba':
      return { id: 'AccessKey ID', secret: 'AccessKey secret', token: 'STS security token' };
    default:
      return { id: 'access key id', secret: 'secret access key', token: 'session token' };
  }
}

/** Checks the secret part without ever quoting it in a message. */
export function checkCredentials(provider: CredentialProviderName, creds: CloudCredentials, kind: 'long-term' | 'sts'): CloudCredentials {
  const names = partNames(provider);
  const field = (what: string, v: string | undefined, min: number, max: number): string => {
    const s = (v ?? '').trim();
    if (!s) throw usageError(`The ${what} is empty.`, `Paste the ${what} from the ${PROVIDER_TITLES[provider]} console.`);
    if (!TOKEN_CHARS.test(s)) {
      throw usageError(
        `The ${what} contains spaces or characters that cannot be part of it.`,
        `Paste the ${what} again, exactly as the console shows it.`,
      );
    }
    if (s.length < min || s.length > max) {
      throw usageError(
        `The ${what} has ${s.length} characters; expected ${min}-${max}.`,
        `Check that you pasted the ${what}, not another value.`,
      );
    }
    return s;
  };
  const accessKeyId = field(names.id, creds.accessKeyId, 8, 256);
  const accessKeySecret = field(names.secret, creds.accessKeySecret, 8, 256);
  if (accessKeyId === accessKeySecret) {
    throw usageError(
      `The ${names.id} and the ${names.secret} are the same value.`,
      `Enter the ${names.id} first, then the ${names.secret}.`,
    );
  }
  const out: CloudCredentials = { accessKeyId, accessKeySecret };
  if (kind === 'sts') {
    out.securityToken = field(names.token, creds.securityToken, 16, 16384);
    if (creds.expiration !== undefined && creds.expiration !== '') {
      const t = Date.parse(creds.expiration);
      if (Number.isNaN(t)) {
        throw usageError(`The expiry "${creds.expiration}" is not a date.`, 'Write it in ISO 8601, e.g. 2030-01-31T12:00:00Z.');
      }
      out.expiration = new Date(t).toISOString();
    }
  } else if (creds.securityToken) {
    throw usageError(`A ${names.token} was given for a long-term key.`, 'Mark the profile as temporary (STS) to store a token with it.');
  }
  return out;
}

function isExpired(expiration: string | undefined, now: number): boolean {
  if (!expiration) return false;
  const t = Date.parse(expiration);
  return !Number.isNaN(t) && t <= now;
}

export class CredentialService {
  readonly secretStore: SecretStore;
  readonly configDir: string;
  readonly profilesFile: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly homeDir: string;
  private readonly logger: Logger;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly listeners = new Set<(e: ProfileChange) => void>();
  private readonly cache = new Map<string, { at: number; creds: CloudCredentials | undefined }>();
  private writeChain: Promise<unknown> = Promise.resolve();

  constructor(opts: CredentialServiceOptions) {
    this.secretStore = opts.secretStore;
    this.env = opts.env ?? process.env;
    this.configDir = opts.configDir ?? defaultConfigDir(this.env);
    this.profilesFile = path.join(this.configDir, PROFILES_FILE);
    this.homeDir = opts.homeDir ?? os.homedir();
    this.logger = opts.logger ?? nullLogger;
    this.cacheMs = opts.secretCacheMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /** Subscribes to add / remove / rotate. VS Code style: returns a disposable. */
  onDidChange(listener: (e: ProfileChange) => void): Disposable {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  /** Drops cached secrets and tells listeners to re-read (call it when profiles.json changed on disk). */
  reload(): void {
    this.cache.clear();
    this.fire({ type: 'reload' });
  }

  private fire(e: ProfileChange): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.logger.warn(`A profile change listener failed: ${(err as Error).message}`);
      }
    }
  }

  // ---- profiles.json -------------------------------------------------------------------------

  private async readStored(): Promise<StoredProfile[]> {
    let text: string;
    try {
      text = await fsp.readFile(this.profilesFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw credentialsError(
        `Cannot read ${this.profilesFile}: ${(err as Error).message}.`,
        'Check the file permissions of the KMS Envelope config directory.',
        {
          file: this.profilesFile,
        },
      );
    }
    let root: unknown;
    try {
      root = JSON.parse(text);
    } catch {
      throw credentialsError(
        `${this.profilesFile} is not valid JSON.`,
        'Fix the file by hand, or move it away and add the profiles again (their secrets stay in the keychain).',
        { file: this.profilesFile },
      );
    }
    const list = (root as Partial<ProfilesFile>)?.profiles;
    if (!Array.isArray(list)) return [];
    return list.filter(
      (p): p is StoredProfile =>
        !!p && typeof p === 'object' && isCredentialProvider(String(p.provider)) && typeof p.name === 'string' && NAME_RE.test(p.name),
    );
  }

  private async writeStored(list: StoredProfile[]): Promise<void> {
    await fsp.mkdir(this.configDir, { recursive: true, mode: 0o700 });
    const sorted = [...list].sort((a, b) => a.provider.localeCompare(b.provider) || a.name.localeCompare(b.name));
    const body: ProfilesFile = { version: 1, profiles: sorted };
    await writeFileAtomic(this.profilesFile, JSON.stringify(body, null, 2) + '\n', 0o600);
  }

  /** Serialises read-modify-write of profiles.json within this process. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(fn, fn);
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  private toInfo(p: StoredProfile): ProfileInfo {
    return {
      provider: p.provider,
      name: p.name,
      kind: p.kind,
      source: 'keychain',
      ...(p.regions?.length ? { regions: [...p.regions] } : {}),
      ...(p.endpoint ? { endpoint: p.endpoint } : {}),
      ...(p.keyIdHint ? { keyIdHint: p.keyIdHint } : {}),
      ...(p.expiration ? { expiration: p.expiration } : {}),
    };
  }

  private discover(provider: string): Promise<DiscoveredProfile[]> {
    return discover(provider, { env: this.env, homeDir: this.homeDir, logger: this.logger });
  }

  // ---- queries -------------------------------------------------------------------------------

  /** Stored profiles first (source `keychain`), then discovered ones, per provider. No secrets. */
  async listProfiles(provider?: CredentialProviderName): Promise<ProfileInfo[]> {
    const stored = (await this.readStored()).filter((p) => !provider || p.provider === provider);
    const out: ProfileInfo[] = [];
    for (const prov of provider ? [provider] : CREDENTIAL_PROVIDERS) {
      out.push(...stored.filter((p) => p.provider === prov).map((p) => this.toInfo(p)));
      out.push(...(await this.discover(prov)).map((d) => ({ ...d.info })));
    }
    return out;
  }

  /** The stored profile of that name, else the first discovered one; undefined when neither exists. */
  async getProfile(provider: CredentialProviderName, name: string): Promise<ProfileInfo | undefined> {
    return (await this.find(provider, name))?.profile;
  }

  private async find(provider: CredentialProviderName, name: string): Promise<ResolvedCredentials | undefined> {
    const stored = (await this.readStored()).find((p) => p.provider === provider && p.name === name);
    if (stored) return { profile: this.toInfo(stored), credentials: this.storedCredentials(stored.provider, stored.name) };
    const d = (await this.discover(provider)).find((x) => x.info.name === name);
    return d ? { profile: { ...d.info }, credentials: this.discoveredCredentials(d) } : undefined;
  }

  /**
   * Resolves a profile and its credentials (precedence in the file comment). Throws a credentials
   * error naming the provider and how to fix it when nothing is found.
   */
  async resolve(provider: CredentialProviderName, name?: string): Promise<ResolvedCredentials> {
    const r = await this.tryResolve(provider, name);
    if (r) return r;
    const title = PROVIDER_TITLES[provider];
    const stored = (await this.listProfiles(provider)).map((p) => p.name);
    if (name) {
      throw credentialsError(
        `There is no ${title} profile named ${name}${stored.length ? ` (there is: ${[...new Set(stored)].join(', ')})` : ''}.`,
        `Add it: \`kms-envelope profiles add --provider ${provider} --name ${name}\`, or pick one of \`kms-envelope profiles list\`.`,
        { provider, profile: name },
      );
    }
    const env = provider === 'aws' ? undefined : CREDENTIAL_ENV[provider];
    const cli =
      provider === 'tencent'
        ? 'the tccli file ~/.tccli/default.credential'
        : provider === 'alibaba'
          ? 'the aliyun CLI file ~/.aliyun/config.json'
          : 'the AWS CLI files';
    throw credentialsError(
      `No ${title} credentials: there is no profile named default, no environment variables and no CLI config default.` +
        (stored.length ? ` Other profiles exist: ${[...new Set(stored)].join(', ')}; pass --profile <name>.` : ''),
      `Fix it one of three ways: (1) \`kms-envelope profiles add --provider ${provider} --name default\` (the secret goes to the OS keychain); ` +
        (env ? `(2) export ${env.id} and ${env.secret}; ` : "(2) export the provider's credential environment variables; ") +
        `(3) configure ${cli}.`,
      { provider },
    );
  }

  /** Like resolve, but undefined instead of an error when nothing is found. */
  async tryResolve(provider: CredentialProviderName, name?: string): Promise<ResolvedCredentials | undefined> {
    if (name) return this.find(provider, name);
    const stored = (await this.readStored()).find((p) => p.provider === provider && p.name === DEFAULT_PROFILE);
    if (stored) return { profile: this.toInfo(stored), credentials: this.storedCredentials(stored.provider, stored.name) };
    const found = await this.discover(provider);
    const pick =
      found.find((d) => d.info.source === 'env' && d.info.name === ENV_PROFILE) ??
      found.find((d) => d.info.source !== 'env' && d.isCliDefault);
    return pick ? { profile: { ...pick.info }, credentials: this.discoveredCredentials(pick) } : undefined;
  }

  /**
   * A credentials function for a provider/profile. Resolution happens at each call, so a profile
   * added, rotated or removed later is seen by the next request.
   */
  credentialsFor(provider: CredentialProviderName, name?: string): CredentialsProvider {
    return async () => (await this.resolve(provider, name)).credentials();
  }

  private discoveredCredentials(d: DiscoveredProfile): CredentialsProvider {
    const { provider, name, source } = d.info;
    return async () => {
      let c: CloudCredentials;
      try {
        c = await d.load();
      } catch (err) {
        throw credentialsError(
          `The ${provider} profile ${name} (from ${source}) cannot be read: ${(err as Error).message}.`,
          source === 'env'
            ? 'Set the environment variables again, or add a stored profile.'
            : `Check ${d.file ?? 'the CLI config file'}, or add a stored profile.`,
          { provider, profile: name, file: d.file },
        );
      }
      this.checkNotExpired(provider, name, c.expiration, source);
      return c;
    };
  }

  private checkNotExpired(provider: string, name: string, expiration: string | undefined, source: string): void {
    if (!isExpired(expiration, this.now())) return;
    throw credentialsError(
      `The temporary key of ${provider} profile ${name} expired at ${expiration}; rotate it.`,
      source === 'keychain'
        ? `Get a new STS key and run \`kms-envelope profiles rotate --provider ${provider} --name ${name} --sts\` (or "Rotate Secret" in the sidebar).`
        : `Refresh the temporary key where it comes from (${source}).`,
      { provider, profile: name },
    );
  }

  private storedCredentials(provider: CredentialProviderName, name: string): CredentialsProvider {
    return async () => {
      const account = accountFor(provider, name);
      const hit = this.cache.get(account);
      let creds: CloudCredentials | undefined;
      if (hit && this.cacheMs > 0 && this.now() - hit.at < this.cacheMs) {
        creds = hit.creds;
      } else {
        creds = await this.readSecret(provider, name);
        this.cache.set(account, { at: this.now(), creds });
      }
      if (!creds) {
        throw credentialsError(
          `The secret of ${provider} profile ${name} is not in ${this.secretStore.description} (account ${account}).`,
          `Store it again: \`kms-envelope profiles rotate --provider ${provider} --name ${name}\` (or "Rotate Secret" in the sidebar). ` +
            'A profile added in VS Code while it used its own SecretStorage is not visible to the command line.',
          { provider, profile: name },
        );
      }
      this.checkNotExpired(provider, name, creds.expiration, 'keychain');
      return { ...creds };
    };
  }

  private async readSecret(provider: CredentialProviderName, name: string): Promise<CloudCredentials | undefined> {
    const account = accountFor(provider, name);
    let raw: string | undefined;
    try {
      raw = await this.secretStore.get(KEYCHAIN_SERVICE, account);
    } catch (err) {
      throw this.storeError(err, `reading the secret of ${provider} profile ${name}`, provider, name);
    }
    if (raw === undefined) return undefined;
    try {
      const j = JSON.parse(raw) as Partial<CloudCredentials>;
      if (typeof j.accessKeyId !== 'string' || typeof j.accessKeySecret !== 'string') throw new Error('fields missing');
      return {
        accessKeyId: j.accessKeyId,
        accessKeySecret: j.accessKeySecret,
        ...(typeof j.securityToken === 'string' && j.securityToken ? { securityToken: j.securityToken } : {}),
        ...(typeof j.expiration === 'string' && j.expiration ? { expiration: j.expiration } : {}),
      };
    } catch {
      throw credentialsError(
        `The keychain entry ${KEYCHAIN_SERVICE}/${account} is not in the format KMS Envelope writes.`,
        `Store the secret again: \`kms-envelope profiles rotate --provider ${provider} --name ${name}\`.`,
        { provider, profile: name },
      );
    }
  }

  private storeError(err: unknown, what: string, provider: string, name: string): KmsEnvelopeError {
    const envHint =
      provider === 'tencent' || provider === 'alibaba'
        ? ` Without a keychain, export ${CREDENTIAL_ENV[provider].id} / ${CREDENTIAL_ENV[provider].secret} instead (read without the keychain).`
        : '';
    if (err instanceof KmsEnvelopeError) {
      return new KmsEnvelopeError(err.kind, `${err.message} (while ${what})`, {
        hint: `Start or unlock the OS keychain (on Linux: gnome-keyring, or KeePassXC with its Secret Service enabled).${envHint}`,
        details: { ...err.details, provider, profile: name },
        cause: err,
      });
    }
    return credentialsError(
      `${this.secretStore.description} failed while ${what}: ${(err as Error)?.message ?? String(err)}.`,
      envHint.trim() || undefined,
      { provider, profile: name },
      err,
    );
  }

  // ---- changes -------------------------------------------------------------------------------

  /**
   * Adds a stored profile: the secret to the SecretStore, the rest to profiles.json.
   * Refuses to overwrite an existing stored profile unless `replace` is set.
   */
  async addProfile(info: NewProfile, creds: CloudCredentials, opts: { replace?: boolean } = {}): Promise<ProfileInfo> {
    const provider = checkProvider(info.provider);
    const name = checkProfileName(info.name);
    const kind = info.kind ?? (creds.securityToken ? 'sts' : 'long-term');
    const regions = checkRegions(info.regions);
    const endpoint = checkEndpoint(info.endpoint);
    const clean = checkCredentials(provider, creds, kind);
    return this.exclusive(async () => {
      const list = await this.readStored();
      const existing = list.findIndex((p) => p.provider === provider && p.name === name);
      if (existing >= 0 && !opts.replace) {
        throw usageError(
          `A ${provider} profile named ${name} already exists.`,
          `Choose another name, rotate its secret (\`kms-envelope profiles rotate --provider ${provider} --name ${name}\`), or replace it (--replace).`,
          { provider, profile: name },
        );
      }
      const entry: StoredProfile = {
        provider,
        name,
        kind,
        ...(regions ? { regions } : {}),
        ...(endpoint ? { endpoint } : {}),
        keyIdHint: maskKeyId(clean.accessKeyId),
        ...(clean.expiration ? { expiration: clean.expiration } : {}),
        updatedAt: new Date(this.now()).toISOString(),
      };
      const account = accountFor(provider, name);
      const previous = existing >= 0 ? await this.secretStore.get(KEYCHAIN_SERVICE, account).catch(() => undefined) : undefined;
      try {
        await this.secretStore.set(KEYCHAIN_SERVICE, account, JSON.stringify(clean));
      } catch (err) {
        throw this.storeError(err, `storing the secret of ${provider} profile ${name}`, provider, name);
      }
      const next = existing >= 0 ? list.map((p, i) => (i === existing ? entry : p)) : [...list, entry];
      try {
        await this.writeStored(next);
      } catch (err) {
        // Keep the keychain and the file in step: undo the secret we just wrote.
        if (previous !== undefined) await this.secretStore.set(KEYCHAIN_SERVICE, account, previous).catch(() => undefined);
        else await this.secretStore.delete(KEYCHAIN_SERVICE, account).catch(() => undefined);
        throw credentialsError(
          `Cannot write ${this.profilesFile}: ${(err as Error).message}.`,
          'Check the permissions of the KMS Envelope config directory.',
          {
            file: this.profilesFile,
            provider,
            profile: name,
          },
          err,
        );
      }
      this.cache.delete(account);
      this.logger.info(
        `Added ${provider} profile ${name} (${kind}, key ${entry.keyIdHint}); the secret is in ${this.secretStore.description}.`,
      );
      this.fire({ type: 'add', provider, name });
      return this.toInfo(entry);
    });
  }

  private async storedOrRefuse(
    provider: CredentialProviderName,
    name: string,
    action: 'rotate' | 'remove',
  ): Promise<{ list: StoredProfile[]; index: number }> {
    const list = await this.readStored();
    const index = list.findIndex((p) => p.provider === provider && p.name === name);
    if (index >= 0) return { list, index };
    const d = (await this.discover(provider)).find((x) => x.info.name === name);
    if (d) {
      const where =
        d.info.source === 'env'
          ? `the environment variables (${Object.values(CREDENTIAL_ENV[provider as 'tencent' | 'alibaba'])
              .slice(0, 3)
              .join(', ')})`
          : (d.file ?? d.info.source);
      throw usageError(
        `The ${provider} profile ${name} is discovered from ${d.info.source} and is read-only here.`,
        action === 'rotate'
          ? `Change it in ${where}, or add a stored profile: \`kms-envelope profiles add --provider ${provider} --name <name>\`.`
          : `Remove it from ${where}; KMS Envelope only reads it.`,
        { provider, profile: name },
      );
    }
    throw usageError(
      `There is no stored ${provider} profile named ${name}.`,
      'See `kms-envelope profiles list` for the profiles that exist.',
      { provider, profile: name },
    );
  }

  /** Throws a usage error explaining why, unless a stored (writable) profile of that name exists. */
  async assertStored(provider: CredentialProviderName, name: string, action: 'rotate' | 'remove'): Promise<void> {
    await this.storedOrRefuse(checkProvider(provider), checkProfileName(name), action);
  }

  /** Replaces the secret of a stored profile (same kind unless the new credentials say otherwise). */
  async rotateSecret(
    provider: CredentialProviderName,
    name: string,
    creds: CloudCredentials,
    opts: { kind?: 'long-term' | 'sts' } = {},
  ): Promise<ProfileInfo> {
    checkProvider(provider);
    checkProfileName(name);
    return this.exclusive(async () => {
      const { list, index } = await this.storedOrRefuse(provider, name, 'rotate');
      const old = list[index];
      const kind = opts.kind ?? (creds.securityToken ? 'sts' : 'long-term');
      const clean = checkCredentials(provider, creds, kind);
      const account = accountFor(provider, name);
      try {
        await this.secretStore.set(KEYCHAIN_SERVICE, account, JSON.stringify(clean));
      } catch (err) {
        throw this.storeError(err, `storing the new secret of ${provider} profile ${name}`, provider, name);
      }
      const entry: StoredProfile = { ...old, kind, keyIdHint: maskKeyId(clean.accessKeyId), updatedAt: new Date(this.now()).toISOString() };
      if (clean.expiration) entry.expiration = clean.expiration;
      else delete entry.expiration;
      list[index] = entry;
      await this.writeStored(list);
      this.cache.delete(account);
      this.logger.info(`Rotated the secret of ${provider} profile ${name} (key ${entry.keyIdHint}).`);
      this.fire({ type: 'rotate', provider, name });
      return this.toInfo(entry);
    });
  }

  /** Removes a stored profile and its keychain entry. */
  async removeProfile(provider: CredentialProviderName, name: string): Promise<void> {
    checkProvider(provider);
    checkProfileName(name);
    await this.exclusive(async () => {
      const { list, index } = await this.storedOrRefuse(provider, name, 'remove');
      const account = accountFor(provider, name);
      // Keychain first: if it fails, nothing changed and the secret is not orphaned.
      try {
        await this.secretStore.delete(KEYCHAIN_SERVICE, account);
      } catch (err) {
        throw this.storeError(err, `removing the secret of ${provider} profile ${name}`, provider, name);
      }
      list.splice(index, 1);
      await this.writeStored(list);
      this.cache.delete(account);
      this.logger.info(`Removed ${provider} profile ${name} and its secret from ${this.secretStore.description}.`);
      this.fire({ type: 'remove', provider, name });
    });
  }

  /** Updates the non-secret part (regions, endpoint) of a stored profile. */
  async updateProfile(
    provider: CredentialProviderName,
    name: string,
    patch: { regions?: string[]; endpoint?: string | null },
  ): Promise<ProfileInfo> {
    return this.exclusive(async () => {
      const { list, index } = await this.storedOrRefuse(provider, name, 'rotate');
      const entry = { ...list[index] };
      if (patch.regions !== undefined) {
        const r = checkRegions(patch.regions);
        if (r) entry.regions = r;
        else delete entry.regions;
      }
      if (patch.endpoint !== undefined) {
        const e = checkEndpoint(patch.endpoint ?? undefined);
        if (e) entry.endpoint = e;
        else delete entry.endpoint;
      }
      list[index] = entry;
      await this.writeStored(list);
      this.fire({ type: 'update', provider, name });
      return this.toInfo(entry);
    });
  }
}

/**
 * CredentialService: the one owner of cloud profiles and their secrets (ARCHITECTURE.md, "Credentials").
 *
 * - Stored profiles: metadata (provider, name, regions, endpoint, kind, masked key id, STS expiry,
 *   the non-secret parts; never a secret) in `<configDir>/profiles.json`, written atomically; the
 *   secret parts as JSON (`{accessKeyId, accessKeySecret, securityToken?, expiration?}` for the
 *   access-key clouds; the part keys of the provider's descriptor) in the SecretStore under service
 *   `kms-envelope`, account `<provider>:<profile>`.
 * - Discovered profiles (read-only): environment variables and the clouds' CLI config files
 *   (see discovery.ts).
 * - Which parts a provider has, their names, checks and the words of its messages come from the
 *   provider's descriptor (src/core/kms/<provider>/descriptor.ts): nothing here names a provider.
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
import { credentialsError, KmsEnvelopeError, usageError, type HintPart } from '../errors';
import { envPartsText, maskKeyId, type CredentialSpec, type ProviderDescriptor } from '../kms/descriptor';
import { checkEndpoint } from '../kms/endpoint';
import { cloudProviders, findProvider, providers } from '../kms/registry';
import type { CloudCredentials, CredentialsProvider, Env, ProviderName } from '../kms/types';
import { nullLogger, type Logger } from '../log';
import { configDir as defaultConfigDir } from '../paths';
import { KEYCHAIN_SERVICE, type SecretStore } from '../secrets';
import { discover, ENV_PROFILE, type DiscoveredProfile } from './discovery';
import type { ProfileInfo } from './types';

export const PROFILES_FILE = 'profiles.json';
export const DEFAULT_PROFILE = 'default';

/** Names of the providers that take credentials (have profiles), in registry order. */
export function credentialProviders(): ProviderName[] {
  return cloudProviders().map((d) => d.name);
}

/** What addProfile takes: the profile's non-secret part; `kind` defaults from the presence of a token. */
export interface NewProfile {
  provider: ProviderName;
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
  | { type: 'add' | 'remove' | 'rotate' | 'update'; provider: ProviderName; name: string }
  /** Profiles may have changed outside this process (profiles.json edited by the CLI): re-read everything. */
  | { type: 'reload' };

export interface Disposable {
  dispose(): void;
}

export interface CredentialServiceOptions {
  secretStore: SecretStore;
  /** Where profiles.json lives (default: paths.configDir(env)). */
  configDir?: string;
  /** Environment for discovery, as the composition root hands it down (default: none). */
  env?: Env;
  /** Home directory holding `.tccli` and `.aliyun` (default: os.homedir()). */
  homeDir?: string;
  logger?: Logger;
  /** How long a secret read from the store is reused (ms, default 30 000; 0 = read every call). */
  secretCacheMs?: number;
  /** Clock, for tests of STS expiry. */
  now?: () => number;
}

interface StoredProfile {
  provider: ProviderName;
  name: string;
  regions?: string[];
  endpoint?: string;
  kind: 'long-term' | 'sts';
  keyIdHint?: string;
  expiration?: string;
  /** ISO time the secret was added or last rotated. */
  updatedAt?: string;
  /** Values of the provider's non-secret parts (CredentialPart.store = 'profile'). */
  settings?: Record<string, string>;
}

interface ProfilesFile {
  version: 1;
  profiles: StoredProfile[];
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const REGION_RE = /^[a-z0-9][a-z0-9-]{1,49}$/;
export function accountFor(provider: string, name: string): string {
  return `${provider}:${name}`;
}

/** The descriptor of a provider that takes credentials, or undefined. */
function cloud(p: string | undefined): (ProviderDescriptor & { credentials: CredentialSpec }) | undefined {
  const d = findProvider(p);
  return d?.credentials ? (d as ProviderDescriptor & { credentials: CredentialSpec }) : undefined;
}

/** Validates a provider name given by a user (CLI flag, quick pick). */
export function checkProvider(p: string | undefined): ProviderName {
  if (!p || !cloud(p)) {
    const keyless = providers().filter((d) => !d.credentials);
    throw usageError(
      p ? `Unknown provider "${p}".` : 'No provider given.',
      `Use one of: ${credentialProviders().join(', ')}${keyless.length ? ` (${keyless.map((d) => `the ${d.name} provider`).join(', ')} needs no credentials)` : ''}.`,
    );
  }
  return p;
}

function spec(provider: string): ProviderDescriptor & { credentials: CredentialSpec } {
  const d = cloud(provider);
  if (!d) checkProvider(provider);
  return d!;
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

/**
 * Checks the parts of a profile of this kind without ever quoting a value in a message; returns them
 * trimmed (temporary parts only for STS, plus the expiry).
 */
export function checkCredentials(provider: ProviderName, creds: CloudCredentials, kind: 'long-term' | 'sts'): CloudCredentials {
  const { credentials: cs } = spec(provider);
  const out: Record<string, string> = {};
  for (const part of cs.parts) {
    const v = (creds[part.key] ?? '').trim();
    if (part.temporary && kind !== 'sts') {
      if (v)
        throw usageError(`A ${part.label} was given for a long-term key.`, 'Mark the profile as temporary (STS) to store a token with it.');
      continue;
    }
    if (!v) {
      if (part.optional) continue;
      throw usageError(`The ${part.label} is empty.`, `Paste the ${part.label} from the ${cs.console}.`);
    }
    const problem = part.validate?.(v);
    if (problem) throw usageError(problem, `Paste the ${part.label} again, exactly as the ${cs.console} shows it.`);
    out[part.key] = v;
  }
  const cross = cs.check?.(out);
  if (cross) throw usageError(cross, 'Enter each value where it is asked for.');
  if (kind === 'sts' && creds.expiration !== undefined && creds.expiration !== '') {
    const t = Date.parse(creds.expiration);
    if (Number.isNaN(t)) {
      throw usageError(`The expiry "${creds.expiration}" is not a date.`, 'Write it in ISO 8601, e.g. 2030-01-31T12:00:00Z.');
    }
    out.expiration = new Date(t).toISOString();
  }
  return out;
}

/** Splits checked parts into what goes to the keychain (secret JSON) and what goes to profiles.json. */
function splitParts(cs: CredentialSpec, clean: CloudCredentials): { secret: Record<string, string>; settings: Record<string, string> } {
  const secret: Record<string, string> = {};
  const settings: Record<string, string> = {};
  for (const part of cs.parts) {
    const v = clean[part.key];
    if (v !== undefined) (part.store === 'profile' ? settings : secret)[part.key] = v;
  }
  if (clean.expiration) secret.expiration = clean.expiration;
  return { secret, settings };
}

/** STS when a temporary part (the session token) is given. */
function kindOf(cs: CredentialSpec, creds: CloudCredentials): 'long-term' | 'sts' {
  return cs.parts.some((p) => p.temporary && creds[p.key]) ? 'sts' : 'long-term';
}

function keyIdHintOf(cs: CredentialSpec, clean: CloudCredentials): string | undefined {
  const v = cs.maskedPart ? clean[cs.maskedPart] : undefined;
  return v ? maskKeyId(v) : undefined;
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
  private readonly env: Env;
  private readonly homeDir: string;
  private readonly logger: Logger;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly listeners = new Set<(e: ProfileChange) => void>();
  private readonly cache = new Map<string, { at: number; creds: CloudCredentials | undefined }>();
  private writeChain: Promise<unknown> = Promise.resolve();

  constructor(opts: CredentialServiceOptions) {
    this.secretStore = opts.secretStore;
    this.env = opts.env ?? {};
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
    // Profiles of providers this build does not know are kept (and written back), just never listed.
    return list.filter(
      (p): p is StoredProfile =>
        !!p && typeof p === 'object' && typeof p.provider === 'string' && typeof p.name === 'string' && NAME_RE.test(p.name),
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
      ...(p.settings && Object.keys(p.settings).length ? { settings: { ...p.settings } } : {}),
    };
  }

  private discover(provider: string): Promise<DiscoveredProfile[]> {
    return discover(provider, { env: this.env, homeDir: this.homeDir, logger: this.logger });
  }

  // ---- queries -------------------------------------------------------------------------------

  /** Stored profiles first (source `keychain`), then discovered ones, per provider. No secrets. */
  async listProfiles(provider?: ProviderName): Promise<ProfileInfo[]> {
    const stored = (await this.readStored()).filter((p) => !provider || p.provider === provider);
    const out: ProfileInfo[] = [];
    for (const prov of provider ? [provider] : credentialProviders()) {
      out.push(...stored.filter((p) => p.provider === prov).map((p) => this.toInfo(p)));
      out.push(...(await this.discover(prov)).map((d) => ({ ...d.info })));
    }
    return out;
  }

  /** The stored profile of that name, else the first discovered one; undefined when neither exists. */
  async getProfile(provider: ProviderName, name: string): Promise<ProfileInfo | undefined> {
    return (await this.find(provider, name))?.profile;
  }

  private async find(provider: ProviderName, name: string): Promise<ResolvedCredentials | undefined> {
    const stored = (await this.readStored()).find((p) => p.provider === provider && p.name === name);
    if (stored) return { profile: this.toInfo(stored), credentials: this.storedCredentials(stored) };
    const d = (await this.discover(provider)).find((x) => x.info.name === name);
    return d ? { profile: { ...d.info }, credentials: this.discoveredCredentials(d) } : undefined;
  }

  /**
   * Resolves a profile and its credentials (precedence in the file comment). Throws a credentials
   * error naming the provider and how to fix it when nothing is found.
   */
  async resolve(provider: ProviderName, name?: string): Promise<ResolvedCredentials> {
    const r = await this.tryResolve(provider, name);
    if (r) return r;
    const d = spec(provider);
    const title = d.vendor;
    const stored = (await this.listProfiles(provider)).map((p) => p.name);
    if (name) {
      throw credentialsError(
        `There is no ${title} profile named ${name}${stored.length ? ` (there is: ${[...new Set(stored)].join(', ')})` : ''}.`,
        ['Add it: ', { action: 'addProfile', provider, name }, ', or pick one of ', { action: 'listProfiles', provider }, '.'],
        { provider, profile: name },
      );
    }
    const vars = envPartsText(d.credentials)?.replaceAll(' / ', ' and ');
    const ways: HintPart[][] = [
      [{ action: 'addProfile', provider, name: 'default' }, ' (the secret goes to the OS keychain)'],
      ...(vars ? [[`export ${vars}`]] : []),
      ...(d.credentials.discoveryHint ? [[`configure ${d.credentials.discoveryHint}`]] : []),
    ];
    throw credentialsError(
      `No ${title} credentials: there is no profile named default, no environment variables and no CLI config default.` +
        (stored.length ? ` Other profiles exist: ${[...new Set(stored)].join(', ')}; name one of them.` : ''),
      ways.length === 1
        ? ['Add a profile: ', ...ways[0]!, '.']
        : [
            `Fix it one of ${ways.length === 2 ? 'two' : 'three'} ways: `,
            ...ways.flatMap((w, i) => [...(i ? ['; '] : []), `(${i + 1}) `, ...w]),
            '.',
          ],
      { provider },
    );
  }

  /** Like resolve, but undefined instead of an error when nothing is found. */
  async tryResolve(provider: ProviderName, name?: string): Promise<ResolvedCredentials | undefined> {
    if (name) return this.find(provider, name);
    const stored = (await this.readStored()).find((p) => p.provider === provider && p.name === DEFAULT_PROFILE);
    if (stored) return { profile: this.toInfo(stored), credentials: this.storedCredentials(stored) };
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
  credentialsFor(provider: ProviderName, name?: string): CredentialsProvider {
    return async () => (await this.resolve(provider, name)).credentials();
  }

  private discoveredCredentials(d: DiscoveredProfile): CredentialsProvider {
    const { provider, name, source } = d.info;
    return async () => {
      let c: CloudCredentials;
      try {
        c = await d.load();
      } catch (err) {
        // A provider's discovery that knows the remedy (an expired SSO login) says it itself.
        if (err instanceof KmsEnvelopeError) throw err;
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
        ? ['Get a new STS key and store it: ', { action: 'rotateSecret', provider, name, sts: true }, '.']
        : `Refresh the temporary key where it comes from (${source}).`,
      { provider, profile: name },
    );
  }

  private storedCredentials(p: StoredProfile): CredentialsProvider {
    const { provider, name } = p;
    const settings = p.settings ?? {};
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
          [
            'Store it again: ',
            { action: 'rotateSecret', provider, name },
            '. A profile added in VS Code while it used its own SecretStorage is not visible to the command line.',
          ],
          { provider, profile: name },
        );
      }
      this.checkNotExpired(provider, name, creds.expiration, 'keychain');
      return { ...settings, ...creds };
    };
  }

  private async readSecret(provider: ProviderName, name: string): Promise<CloudCredentials | undefined> {
    const account = accountFor(provider, name);
    let raw: string | undefined;
    try {
      raw = await this.secretStore.get(KEYCHAIN_SERVICE, account);
    } catch (err) {
      throw this.storeError(err, `reading the secret of ${provider} profile ${name}`, provider, name);
    }
    if (raw === undefined) return undefined;
    try {
      const j = JSON.parse(raw) as Record<string, unknown>;
      const cs = spec(provider).credentials;
      const keychainParts = cs.parts.filter((x) => x.store !== 'profile');
      if (!j || typeof j !== 'object') throw new Error('not an object');
      for (const x of keychainParts) if (!x.optional && !x.temporary && typeof j[x.key] !== 'string') throw new Error('fields missing');
      const out: Record<string, string> = {};
      for (const key of [...keychainParts.map((x) => x.key), 'expiration']) {
        const v = j[key];
        if (typeof v === 'string' && v) out[key] = v;
      }
      return out;
    } catch {
      throw credentialsError(
        `The keychain entry ${KEYCHAIN_SERVICE}/${account} is not in the format KMS Envelope writes.`,
        ['Store the secret again: ', { action: 'rotateSecret', provider, name }, '.'],
        { provider, profile: name },
      );
    }
  }

  private storeError(err: unknown, what: string, provider: string, name: string): KmsEnvelopeError {
    const vars = cloud(provider) && envPartsText(cloud(provider)!.credentials);
    const envHint = vars ? ` Without a keychain, export ${vars} instead (read without the keychain).` : '';
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
   * A new profile checked exactly as addProfile checks it, but not stored: what testing credentials
   * before saving them needs (`testCredentials`), so a wrong secret never has to be saved to be tried.
   */
  draftProfile(
    info: NewProfile,
    creds: CloudCredentials,
  ): { name: string; endpoint?: string; regions?: string[]; settings: Record<string, string>; credentials: CloudCredentials } {
    const provider = checkProvider(info.provider);
    const cs = spec(provider).credentials;
    const clean = checkCredentials(provider, creds, info.kind ?? kindOf(cs, creds));
    return {
      name: checkProfileName(info.name),
      endpoint: checkEndpoint(info.endpoint),
      regions: checkRegions(info.regions),
      settings: splitParts(cs, clean).settings,
      credentials: clean,
    };
  }

  /**
   * Adds a stored profile: the secret to the SecretStore, the rest to profiles.json.
   * Refuses to overwrite an existing stored profile unless `replace` is set.
   */
  async addProfile(info: NewProfile, creds: CloudCredentials, opts: { replace?: boolean } = {}): Promise<ProfileInfo> {
    const provider = checkProvider(info.provider);
    const name = checkProfileName(info.name);
    const cs = spec(provider).credentials;
    const kind = info.kind ?? kindOf(cs, creds);
    const regions = checkRegions(info.regions);
    const endpoint = checkEndpoint(info.endpoint);
    const clean = checkCredentials(provider, creds, kind);
    const { secret, settings } = splitParts(cs, clean);
    const keyIdHint = keyIdHintOf(cs, clean);
    return this.exclusive(async () => {
      const list = await this.readStored();
      const existing = list.findIndex((p) => p.provider === provider && p.name === name);
      if (existing >= 0 && !opts.replace) {
        throw usageError(
          `A ${provider} profile named ${name} already exists.`,
          [
            'Choose another name, rotate its secret (',
            { action: 'rotateSecret', provider, name },
            '), or replace it (',
            { action: 'addProfile', provider, name, replace: true },
            ').',
          ],
          { provider, profile: name },
        );
      }
      const entry: StoredProfile = {
        provider,
        name,
        kind,
        ...(regions ? { regions } : {}),
        ...(endpoint ? { endpoint } : {}),
        ...(keyIdHint ? { keyIdHint } : {}),
        ...(clean.expiration ? { expiration: clean.expiration } : {}),
        updatedAt: new Date(this.now()).toISOString(),
        ...(Object.keys(settings).length ? { settings } : {}),
      };
      const account = accountFor(provider, name);
      const previous = existing >= 0 ? await this.secretStore.get(KEYCHAIN_SERVICE, account).catch(() => undefined) : undefined;
      try {
        await this.secretStore.set(KEYCHAIN_SERVICE, account, JSON.stringify(secret));
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
    provider: ProviderName,
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
          ? `the environment variables (${Object.values(spec(provider).credentials.env?.parts ?? {}).join(', ')})`
          : (d.file ?? d.info.source);
      throw usageError(
        `The ${provider} profile ${name} is discovered from ${d.info.source} and is read-only here.`,
        action === 'rotate'
          ? [`Change it in ${where}, or add a stored profile: `, { action: 'addProfile', provider }, '.']
          : `Remove it from ${where}; KMS Envelope only reads it.`,
        { provider, profile: name },
      );
    }
    throw usageError(
      `There is no stored ${provider} profile named ${name}.`,
      ['See ', { action: 'listProfiles', provider }, ' for the profiles that exist.'],
      { provider, profile: name },
    );
  }

  /** Throws a usage error explaining why, unless a stored (writable) profile of that name exists. */
  async assertStored(provider: ProviderName, name: string, action: 'rotate' | 'remove'): Promise<void> {
    await this.storedOrRefuse(checkProvider(provider), checkProfileName(name), action);
  }

  /** Replaces the secret of a stored profile (same kind unless the new credentials say otherwise). */
  async rotateSecret(
    provider: ProviderName,
    name: string,
    creds: CloudCredentials,
    opts: { kind?: 'long-term' | 'sts' } = {},
  ): Promise<ProfileInfo> {
    checkProvider(provider);
    checkProfileName(name);
    return this.exclusive(async () => {
      const { list, index } = await this.storedOrRefuse(provider, name, 'rotate');
      const old = list[index];
      const cs = spec(provider).credentials;
      const kind = opts.kind ?? kindOf(cs, creds);
      const clean = checkCredentials(provider, creds, kind);
      const { secret, settings } = splitParts(cs, clean);
      const account = accountFor(provider, name);
      try {
        await this.secretStore.set(KEYCHAIN_SERVICE, account, JSON.stringify(secret));
      } catch (err) {
        throw this.storeError(err, `storing the new secret of ${provider} profile ${name}`, provider, name);
      }
      const entry: StoredProfile = { ...old, kind, updatedAt: new Date(this.now()).toISOString() };
      const keyIdHint = keyIdHintOf(cs, clean);
      if (keyIdHint) entry.keyIdHint = keyIdHint;
      else delete entry.keyIdHint;
      if (clean.expiration) entry.expiration = clean.expiration;
      else delete entry.expiration;
      if (Object.keys(settings).length) entry.settings = settings;
      else delete entry.settings;
      list[index] = entry;
      await this.writeStored(list);
      this.cache.delete(account);
      this.logger.info(`Rotated the secret of ${provider} profile ${name} (key ${entry.keyIdHint}).`);
      this.fire({ type: 'rotate', provider, name });
      return this.toInfo(entry);
    });
  }

  /** Removes a stored profile and its keychain entry. */
  async removeProfile(provider: ProviderName, name: string): Promise<void> {
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
  async updateProfile(provider: ProviderName, name: string, patch: { regions?: string[]; endpoint?: string | null }): Promise<ProfileInfo> {
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

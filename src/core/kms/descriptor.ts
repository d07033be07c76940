/**
 * What a provider IS, as plain data plus a lazily loaded factory: the contract between a provider
 * folder (`src/core/kms/<provider>/descriptor.ts`) and the shared code that must not know any
 * provider by name (cloudCall and the error mapping, credential discovery and the profile commands
 * of both front doors, key actions, the Keys tree, keyrefs, the envelope keyrings).
 *
 * A descriptor module imports no SDK and no provider implementation: the registry loads every
 * descriptor at start-up (the CLI's start-up time is benchmarked), and `create` imports the
 * implementation (and with it the cloud SDK) only when the provider is used.
 *
 * The credentials port lives here too: the shape of a profile (`ProfileInfo`), of a discovered
 * profile, and of the credential parts a provider asks for. `src/core/credentials` sits above
 * this layer and hands each provider its credentials through `ProviderContext.credentials`.
 */
import type { KeyringNode } from '@aws-crypto/material-management-node';
import { usageError } from '../errors';
import type { Logger } from '../log';
import type { SecretStore } from '../secrets';
import type { CloudProviderOptions } from './cloud-call';
import type { RetryPolicy } from './retry';
import type { CloudCredentials, CredentialsProvider, Env, KmsProvider, ProviderName } from './types';

export interface ProviderDescriptor {
  /** Short name in keyrefs, settings, CLI flags, profiles.json and keychain accounts (`tencent`). */
  readonly name: ProviderName;
  /** The service as users know it: tree rows, pickers, messages (`Tencent Cloud KMS`). */
  readonly label: string;
  /** The vendor, for sentences such as "the Tencent Cloud console" (`Tencent Cloud`). */
  readonly vendor: string;
  readonly keyring: KeyringRules;
  readonly regions: RegionRules;
  readonly aliases: AliasRules;
  readonly deletionWindow: DeletionWindow;
  /** Absent: the provider needs no account (local); it then has one implicit profile, `default`. */
  readonly credentials?: CredentialSpec;
  /** Absent: the provider makes no network calls (local). */
  readonly endpoint?: EndpointRules;
  /** The cloud's error codes and the provider's words in hints (cloud providers using cloudCall). */
  readonly errors?: ErrorRules;
  /** How the Keys view shows the provider. */
  readonly tree?: TreeLook;
  /** Opt-in key files for key material kept on this machine: the variable that names their folder. */
  readonly keyFiles?: { readonly env: string };
  /**
   * A way of reaching another provider's keys (an Alibaba KMS 3.0 instance for `alibaba`): the
   * front doors offer it with that provider, and `profiles add --provider <provider> --<flag> …`
   * means this one.
   */
  readonly variantOf?: { readonly provider: ProviderName; readonly flag: string };
  /** Identifiers of the cloud's own that name a key by themselves, accepted wherever a keyref is (AWS key ARNs). */
  readonly keyrefs?: KeyRefForms;
  /** Builds a provider instance (import the implementation here, lazily). */
  create(ctx: ProviderContext): Promise<KmsProvider>;
}

/** What a provider instance is built from; composed by the front doors and `src/core/credentials`. */
export interface ProviderContext {
  /** Profile name (`default` when none). */
  readonly profile: string;
  /** Called per attempt of a request; providers without a CredentialSpec get one returning `{}`. */
  readonly credentials: CredentialsProvider;
  /** The profile's non-secret parts (CredentialPart.store = 'profile'). */
  readonly settings: Readonly<Record<string, string>>;
  /** Endpoint override, already chosen (--endpoint → profile → EndpointRules.env); absent: public endpoint. */
  readonly endpoint?: string;
  /** Region for calls that are not about a region (region list). */
  readonly defaultRegion?: string;
  readonly logger: Logger;
  readonly env: Env;
  /** KMS Envelope's config directory (local key metadata). */
  readonly configDir: string;
  /** Where key material kept on this machine lives (the extension passes its own). */
  readonly secretStore?: SecretStore;
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
}

/** What a cloud provider is built with, from its context (the `create` of Tencent, Alibaba, AWS). */
export function cloudOptions(ctx: ProviderContext): CloudProviderOptions {
  const { profile, credentials, endpoint, logger, timeoutMs, retry, defaultRegion } = ctx;
  return { profile, credentials, endpoint, logger, timeoutMs, retry, defaultRegion };
}

// ---- keyrings --------------------------------------------------------------------------------

/**
 * How blobs name this provider and which keyring wraps their data keys (src/core/envelope).
 * - `kms` (default): the generic keyring over the provider's generateDataKey / encryptDataKey /
 *   decryptDataKey; providerInfo is UTF-8 `<region>/<keyId>`.
 * - `raw-aes`: the stock RawAesKeyringNode (namespace = providerId, key name = key id) over the key
 *   material the provider hands out (`RawAesKeySource`); region is `regions.fixed[0]`.
 * - `custom`: the provider supplies its own keyrings (the stock AWS KMS keyring) and reads its own
 *   providerInfo layout.
 * Several descriptors may share a providerId (a public gateway and an instance gateway of one
 * cloud): unseal then tries each of them, in registry order.
 */
export interface KeyringRules {
  /** Encryption SDK providerId written into each EDK on seal and recognised on unseal. */
  readonly providerId: string;
  readonly kind?: 'kms' | 'raw-aes';
  readonly custom?: CustomKeyringRules;
}

export interface CustomKeyringRules {
  /** Region and key id named by an EDK's providerInfo bytes; undefined when malformed. */
  parseInfo(info: Uint8Array): { region: string; keyId: string } | undefined;
  /** Loaded on first seal / unseal with this provider. */
  load(): Promise<CustomKeyrings>;
}

export interface CustomKeyrings {
  /** The keyring that wraps the data key for one recipient (the first recipient generates it). */
  seal(r: { provider: KmsProvider; region: string; key: string }, signal?: AbortSignal): Promise<KeyringNode>;
  /** The keyring that opens this provider's EDKs in `region` (key id as named by the EDK). */
  unseal(r: { provider: KmsProvider; region: string; keyId: string }, signal?: AbortSignal): Promise<KeyringNode>;
}

// ---- regions, aliases, deletion ----------------------------------------------------------------

export interface RegionRules {
  /** A provider with a fixed set of regions (local: `['local']`): no region list call, --region optional. */
  readonly fixed?: readonly string[];
  /** Region used for the region list and other calls that are not about a region. */
  readonly default?: string;
  /** Where the region list comes from, in words (README, help): `GetRegions`, `SDK partition data`. */
  readonly source: string;
}

export interface AliasRules {
  /** The rules in one sentence, for messages: `Tencent aliases are 1–60 characters of ...`. */
  readonly rule: string;
  /** What is wrong with an alias, or undefined when the provider accepts it (front doors check as the user types). */
  check(alias: string): string | undefined;
}

export interface DeletionWindow {
  readonly min: number;
  readonly max: number;
  readonly default: number;
  /** Whether only a disabled key can be scheduled for deletion. */
  readonly requiresDisabled?: boolean;
}

// ---- credentials (the port) --------------------------------------------------------------------

/** One thing a user types (or points at) to set up a profile. */
export interface CredentialPart {
  /** Key in CloudCredentials (`accessKeyId`); keychain JSON and profile settings use it too. */
  readonly key: string;
  /** As the vendor's console names it (`SecretId`); prompts capitalise it. */
  readonly label: string;
  /** Typed without echo, never shown or logged. */
  readonly secret: boolean;
  /** Where the value is kept: the OS keychain (default) or profiles.json (non-secret settings such as a CA path). */
  readonly store?: 'keychain' | 'profile';
  /** Asked for (and required) only for temporary credentials (STS). */
  readonly temporary?: boolean;
  readonly optional?: boolean;
  /** `file`: the user gives a path and the front door reads the file's text into the value. */
  readonly input?: 'line' | 'file';
  /** For `file` parts: what a file picker offers (`{ 'PEM certificate': ['pem', 'crt'] }`); all files are always offered too. */
  readonly fileTypes?: Readonly<Record<string, readonly string[]>>;
  /**
   * A command-line option that gives this part (`ca-file` → `--ca-file <path>`) instead of a line on
   * stdin. Only for parts that are not secret (a file part's path is not; its content may be).
   */
  readonly flag?: string;
  /** Where to find it, shown with the prompt (`from the Tencent Cloud console → CAM → API keys`). */
  readonly prompt?: string;
  /** What is wrong with a value (never quoting it), or undefined when it is acceptable. */
  validate?(value: string): string | undefined;
}

export interface CredentialSpec {
  readonly parts: readonly CredentialPart[];
  /** Whether temporary credentials (a part marked `temporary`) are offered besides long-term ones. */
  readonly temporary: boolean;
  /** Part whose masked value identifies the key in lists (`keyIdHint`). */
  readonly maskedPart?: string;
  /** A check across parts (the id and the secret must differ); a message, or undefined. */
  check?(c: CloudCredentials): string | undefined;
  /** Where users get the credentials: `Tencent Cloud console → CAM → API keys`. */
  readonly console: string;
  /** Environment variables read as the discovered profile `env`. */
  readonly env?: { readonly parts: Readonly<Record<string, string>>; readonly region?: string };
  /** Profiles of the vendor's own CLI / SDK configuration (read-only), in precedence order. */
  discover?(o: DiscoveryOptions): Promise<DiscoveredProfile[]>;
  /** Those files in words, for the no-credentials hint: `the tccli file ~/.tccli/default.credential`. */
  readonly discoveryHint?: string;
}

/** Where a profile came from: `keychain` (stored), `env`, or a discovery source named by the provider. */
export type ProfileSource = string;

/** A profile's non-secret part: safe to show, store in settings and print with --json. */
export interface ProfileInfo {
  provider: ProviderName;
  name: string;
  /** Regions to show / use by default; empty or absent = all the provider lists. */
  regions?: string[];
  /** Endpoint override: a private endpoint or the emulator (`http://127.0.0.1:PORT`). */
  endpoint?: string;
  kind: 'long-term' | 'sts';
  source: ProfileSource;
  /** Masked key id for display, e.g. `AKID…MPLE`. Never the secret. */
  keyIdHint?: string;
  /** For STS keys. */
  expiration?: string;
  /** Values of the non-secret parts (CredentialPart.store = 'profile'). */
  settings?: Record<string, string>;
}

/** A discovered profile together with its secret (kept in memory only). */
export interface DiscoveredProfile {
  info: ProfileInfo;
  /** Read at each call, so an edited CLI file or environment applies to the next request. */
  load: () => Promise<CloudCredentials>;
  /** Whether this is the source's own default (tccli `default`, aliyun `current`). */
  isCliDefault?: boolean;
  /** File it came from, for messages. */
  file?: string;
}

export interface DiscoveryOptions {
  env: Env;
  homeDir: string;
  logger: Logger;
}

/** Masks an access key id for display: first 4 and last 4 characters. */
export function maskKeyId(id: string): string {
  return id.length <= 8 ? '…' : `${id.slice(0, 4)}…${id.slice(-4)}`;
}

// ---- endpoints, errors, tree -------------------------------------------------------------------

export interface EndpointRules {
  /** Public host; `{region}` is replaced per call (`kms.{region}.aliyuncs.com`). */
  readonly template: string;
  /** Variables that set an endpoint override when neither --endpoint nor the profile does; the first set wins. */
  readonly env: readonly string[];
}

/** What the user is told about a failed cloud call (finer than retry.ts's FailureClass). */
export type ErrorCategory =
  | 'disabled'
  | 'pendingDeletion'
  | 'pendingImport'
  | 'mustBeDisabled'
  | 'notPendingDeletion'
  | 'stateConflict'
  | 'notFound'
  | 'aliasExists'
  | 'invalidAlias'
  | 'decryptRefused'
  | 'credentials'
  | 'clockSkew'
  | 'permission'
  | 'serviceNotEnabled'
  | 'region'
  | 'throttling'
  | 'server'
  | 'network'
  | 'timeout'
  | 'invalidParameter'
  | 'limit'
  | 'other';

export interface ErrorRules {
  /** The cloud's exact error codes. */
  readonly codes: Readonly<Record<string, ErrorCategory>>;
  /** Code prefixes, tried in order after the exact codes (`AuthFailure` → credentials). */
  readonly prefixes?: ReadonlyArray<readonly [string, ErrorCategory]>;
  /**
   * For clouds that tell failures apart only in the message: a code and a message pattern, tried
   * first (AWS: InvalidSignatureException "Signature expired: …" is clock skew).
   */
  readonly messages?: ReadonlyArray<readonly [string, RegExp, ErrorCategory]>;
  /** The provider's words in hints. */
  readonly words: {
    /** `Tencent accepts 5 minutes of skew`. */
    readonly clockSkew: string;
    /** The permission system: `a CAM policy`. */
    readonly policy: string;
  };
}

/** A provider's own identifiers that work as keyrefs (`arn:aws:kms:<region>:<account>:key/<id>`). */
export interface KeyRefForms {
  /** Region and key named by the text, or undefined when it is not such an identifier. */
  parse(text: string): { region: string; key: string } | undefined;
  /** One example, for help texts. */
  readonly example: string;
}

export interface TreeLook {
  /** Codicon of the provider row (default `cloud`). */
  readonly icon?: string;
  /** Codicon of its profile rows (default `account`). */
  readonly profileIcon?: string;
  /** Label of the implicit profile of a provider without credentials (`This machine`). */
  readonly profileLabel?: string;
  /** Markdown tooltip of the provider row (default `<label> profiles`). */
  readonly tooltip?: string;
}

// ---- helpers shared code uses on any descriptor ------------------------------------------------

/** Required parts of a profile of this kind (temporary parts only for STS), in order. */
export function requiredParts(spec: CredentialSpec, kind: 'long-term' | 'sts'): CredentialPart[] {
  return spec.parts.filter((p) => !p.optional && (!p.temporary || kind === 'sts'));
}

/** `SecretId/SecretKey`: the required long-term parts, for messages. */
export function partsText(spec: CredentialSpec): string {
  return requiredParts(spec, 'long-term')
    .map((p) => p.label)
    .join('/');
}

/** `TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY`: the variables of the required long-term parts. */
export function envPartsText(spec: CredentialSpec): string | undefined {
  const env = spec.env?.parts;
  if (!env) return undefined;
  const names = requiredParts(spec, 'long-term')
    .map((p) => env[p.key])
    .filter((n): n is string => !!n);
  return names.length ? names.join(' / ') : undefined;
}

/** Throws a usage error unless `days` fits the provider's deletion window. */
export function checkDeletionWindow(d: ProviderDescriptor, days: number): void {
  const { min, max } = d.deletionWindow;
  if (!Number.isInteger(days) || days < min || days > max) {
    throw usageError(
      `A ${d.vendor} key can be scheduled for deletion in ${min} to ${max} days, not ${days}.`,
      `Pass a whole number of days from ${min} to ${max}.`,
      { provider: d.name },
    );
  }
}

/**
 * Pieces shared by the Tencent and Alibaba providers: constructor options, endpoint resolution,
 * per-request credentials, the canonical EncryptionContext string, and the page-token planner
 * `listAllKeys` uses to fetch pages in parallel.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import * as http from 'node:http';
import * as https from 'node:https';
import { credentialsError, KmsEnvelopeError, usageError } from '../errors';
import type { Logger } from '../log';
import type { CloudCredentials, CredentialsProvider } from '../credentials/types';
import { failureClass, toKmsError, type CallContext } from './cloud-errors';
import { withRetry, type AttemptContext, type RetryPolicy } from './retry';
import type { EncryptionContext, ListKeysPage } from './types';

export interface CloudProviderOptions {
  /** Profile name, for messages (`default` when none). */
  profile: string;
  /** Called once per request, so a rotated or refreshed secret applies to the next call. */
  credentials: CredentialsProvider;
  /**
   * Endpoint override: a full URL such as `http://127.0.0.1:8443` (the emulator) or
   * `https://kms-vpc.{region}.aliyuncs.com` (`{region}` is replaced per call). Without a scheme,
   * https is assumed. Absent: the cloud's public endpoint.
   */
  endpoint?: string;
  logger?: Logger;
  /** Timeout of one HTTP attempt in ms (default 15 000). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Region used for calls that are not about a region (GetRegions / DescribeRegions). */
  defaultRegion?: string;
  /** Alibaba: DescribeKey calls in flight per listed page (default 8). */
  describeConcurrency?: number;
}

export interface ResolvedEndpoint {
  protocol: 'http' | 'https';
  /** host[:port] */
  host: string;
  /** protocol://host[:port] (for messages). */
  url: string;
  overridden: boolean;
  loopback: boolean;
}

/**
 * Resolves the endpoint for one region. `template` is the cloud's public host, with `{region}`.
 * An override may also contain `{region}`; without it, every region goes to the same host and the
 * region travels in the request (Tencent: X-TC-Region header; Alibaba: see its provider).
 */
export function resolveEndpoint(override: string | undefined, region: string, template: string): ResolvedEndpoint {
  const raw = (override ?? '').trim();
  const overridden = raw !== '';
  const text = (overridden ? raw : `https://${template}`).replaceAll('{region}', region);
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `https://${text}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw usageError(
      `The endpoint "${raw}" is not a URL.`,
      'Write it as https://host[:port] or http://127.0.0.1:PORT (the emulator); {region} is replaced by the region.',
    );
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw usageError(
      `The endpoint "${raw}" uses ${u.protocol}; only http and https work.`,
      'Write it as https://host[:port] or http://127.0.0.1:PORT.',
    );
  }
  if (u.username || u.password) {
    throw usageError(
      'The endpoint must not contain a user name or password.',
      'Credentials come from the profile, the keychain or the environment, never from the endpoint URL.',
    );
  }
  if (u.pathname !== '/' || u.search || u.hash) {
    throw usageError(`The endpoint "${raw}" has a path or query; KMS endpoints are a host only.`, 'Write it as https://host[:port].');
  }
  const protocol = u.protocol === 'http:' ? 'http' : 'https';
  const host = u.host;
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = hostname === 'localhost' || hostname === '::1' || /^127\./.test(hostname);
  return { protocol, host, url: `${protocol}://${host}`, overridden, loopback };
}

/** Keep-alive agents shared by the clients of one provider instance. */
export class AgentPool {
  private httpAgent?: http.Agent;
  private httpsAgent?: https.Agent;
  get(protocol: 'http' | 'https'): http.Agent {
    if (protocol === 'http') return (this.httpAgent ??= new http.Agent({ keepAlive: true, maxSockets: 64 }));
    return (this.httpsAgent ??= new https.Agent({ keepAlive: true, maxSockets: 64 }));
  }
  destroy(): void {
    this.httpAgent?.destroy();
    this.httpsAgent?.destroy();
    this.httpAgent = this.httpsAgent = undefined;
  }
}

/**
 * The SDK clients are cached per region and ask for credentials through a callback; the
 * credentials of the request being signed are put in this store by the provider just before the
 * call, so one cached client serves every request and each request uses freshly fetched secrets.
 */
export const requestCredentials = new AsyncLocalStorage<CloudCredentials>();

/** Fetches credentials for one request; failures become credentials errors naming the profile. */
export async function fetchCredentials(
  provider: 'tencent' | 'alibaba',
  profile: string,
  get: CredentialsProvider,
): Promise<CloudCredentials> {
  let c: CloudCredentials;
  try {
    c = await get();
  } catch (err) {
    if (err instanceof KmsEnvelopeError) throw err;
    throw credentialsError(
      `Could not get the credentials of ${provider} profile ${profile}: ${err instanceof Error ? err.message : String(err)}`,
      `Check the profile (\`kms-envelope profiles test --provider ${provider} --name ${profile}\`) or set the ${provider === 'tencent' ? 'TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY' : 'ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET'} environment variables.`,
      { provider, profile },
      err,
    );
  }
  if (!c || !c.accessKeyId || !c.accessKeySecret) {
    throw credentialsError(
      `The ${provider} profile ${profile} has no ${provider === 'tencent' ? 'SecretId/SecretKey' : 'AccessKey ID/secret'}.`,
      `Add the secret to the profile (\`kms-envelope profiles add --provider ${provider} --name ${profile}\`) or set the ${provider === 'tencent' ? 'TENCENTCLOUD_SECRET_ID / TENCENTCLOUD_SECRET_KEY' : 'ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET'} environment variables.`,
      { provider, profile },
    );
  }
  if (c.expiration && Date.parse(c.expiration) < Date.now()) {
    throw credentialsError(
      `The temporary (STS) credentials of ${provider} profile ${profile} expired at ${c.expiration}.`,
      'Get a new session token and update the profile, or use a long-term key.',
      { provider, profile },
    );
  }
  return c;
}

/**
 * The EncryptionContext as the KMS receives it: JSON of the map with keys sorted (by UTF-16 code
 * units, like the Encryption SDK sorts its context), no whitespace. Absent when the map is empty.
 * The envelope stores the same map in the blob header, so seal and unseal send identical strings.
 */
export function canonicalContext(ctx: EncryptionContext | undefined): string | undefined {
  if (!ctx) return undefined;
  const keys = Object.keys(ctx).sort();
  if (keys.length === 0) return undefined;
  const o: Record<string, string> = {};
  for (const k of keys) o[k] = String(ctx[k]);
  return JSON.stringify(o);
}

/** Providers that can name every page's token once the first page (with its total) is known. */
export interface PageTokenPlanner {
  remainingPageTokens(first: ListKeysPage): string[] | undefined;
}

export function isPageTokenPlanner(p: unknown): p is PageTokenPlanner {
  return typeof (p as PageTokenPlanner | undefined)?.remainingPageTokens === 'function';
}

/** Page tokens `<prefix>:<n>:<size>`; both clouds page by number/offset with a fixed size. */
export function encodePageToken(prefix: string, n: number, size: number): string {
  return `${prefix}:${n}:${size}`;
}

export function decodePageToken(prefix: string, token: string, provider: string): { n: number; size: number } {
  const m = new RegExp(`^${prefix}:(\\d+):(\\d+)$`).exec(token);
  if (!m)
    throw usageError(
      `"${token}" is not a ${provider} page token.`,
      'Pass the nextToken of the previous page unchanged, or omit it for the first page.',
    );
  return { n: Number(m[1]), size: Number(m[2]) };
}

export function clampPageSize(size: number | undefined, max: number, dflt: number): number {
  if (size === undefined || !Number.isFinite(size)) return dflt;
  return Math.max(1, Math.min(max, Math.floor(size)));
}

/** Unix seconds (number or numeric string) → ISO 8601; absent for 0/empty. */
export function unixToIso(v: unknown): string | undefined {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isFinite(n) || n <= 0) return undefined;
  return new Date(n * 1000).toISOString();
}

/** A cloud date string → ISO 8601 (passes unknown formats through). */
export function isoDate(v: unknown): string | undefined {
  if (typeof v !== 'string' || v === '') return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? new Date(t).toISOString() : v;
}

export function validateDeletionWindow(provider: 'tencent' | 'alibaba', days: number, min: number, max: number): void {
  if (!Number.isInteger(days) || days < min || days > max) {
    throw usageError(
      `A ${provider === 'tencent' ? 'Tencent Cloud' : 'Alibaba Cloud'} key can be scheduled for deletion in ${min} to ${max} days, not ${days}.`,
      `Pass a whole number of days from ${min} to ${max}.`,
      { provider },
    );
  }
}

/** Short TTL cache of promises (single flight per key). */
export class TtlCache<V> {
  private readonly m = new Map<string, { at: number; v: Promise<V> }>();
  constructor(private readonly ttlMs: number) {}
  get(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.m.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.v;
    const v = load();
    this.m.set(key, { at: Date.now(), v });
    v.catch(() => {
      if (this.m.get(key)?.v === v) this.m.delete(key);
    });
    return v;
  }
  set(key: string, value: V): void {
    this.m.set(key, { at: Date.now(), v: Promise.resolve(value) });
  }
  delete(prefix: string): void {
    for (const k of this.m.keys()) if (k.startsWith(prefix)) this.m.delete(k);
  }
}

/** What one cloud API call is about, for retries, logs and error messages. */
export interface CloudCallSpec {
  provider: 'tencent' | 'alibaba';
  profile: string;
  region: string;
  action: string;
  endpoint: ResolvedEndpoint;
  call: { idempotent: boolean; keyId?: string; alias?: string; signal?: AbortSignal };
  options: CloudProviderOptions;
  log: Logger;
  /** Turns what the SDK threw into what failureClass / toKmsError read. */
  normalize(err: unknown): unknown;
}

/**
 * One API call with retries (only when safe to repeat), per-attempt timeouts, cancellation, debug
 * logs and the mapping of the last error onto a KmsEnvelopeError. `attempt` makes one request; the
 * SDK reads the profile's credentials, fetched anew for each attempt, from `requestCredentials`.
 * It returns the answer with its request id.
 */
export function cloudCall<T>(spec: CloudCallSpec, attempt: (a: AttemptContext) => Promise<{ result: T; requestId?: string }>): Promise<T> {
  const { provider, profile, region, action, endpoint, call, options, log } = spec;
  const ctx: CallContext = {
    provider,
    profile,
    region,
    action,
    keyId: call.keyId,
    alias: call.alias,
    endpoint: endpoint.url,
    endpointOverridden: endpoint.overridden,
    idempotent: call.idempotent,
  };
  const what = `${provider} ${action} ${region}`;
  return withRetry<T>(
    async (a) => {
      const credentials = await fetchCredentials(provider, profile, options.credentials);
      const t0 = Date.now();
      try {
        const { result, requestId } = await requestCredentials.run(credentials, () => attempt(a));
        log.debug(`${what} ok in ${Date.now() - t0} ms (attempt ${a.attempt}, request ${requestId ?? '-'})`);
        return result;
      } catch (err) {
        const n = spec.normalize(err);
        log.debug(`${what} failed in ${Date.now() - t0} ms (attempt ${a.attempt}): ${n instanceof Error ? n.message : String(n)}`);
        throw n;
      }
    },
    {
      idempotent: call.idempotent,
      signal: call.signal,
      policy: { ...options.retry, ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) },
      classify: failureClass,
      onRetry: ({ attempt: n, delayMs, failure }) => log.info(`${what}: ${failure} on attempt ${n}, retrying in ${delayMs} ms`),
      finalize: (err, info) => toKmsError(err, ctx, info),
    },
  );
}

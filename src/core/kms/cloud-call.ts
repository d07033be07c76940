/**
 * The call wrapper of cloud providers: one API call with retries (only when safe to repeat),
 * per-attempt timeouts, cancellation, debug logs, error mapping (./cloud-errors.ts), and the
 * profile's credentials fetched for EACH attempt and handed to the attempt explicitly, so a rotated
 * secret or a refreshed temporary key applies to the next attempt.
 */
import { credentialsError, KmsEnvelopeError } from '../errors';
import type { Logger } from '../log';
import { envPartsText, requiredParts, type ProviderDescriptor } from './descriptor';
import { CloudCallError, failureClass, toKmsError, type CallContext } from './cloud-errors';
import type { ResolvedEndpoint } from './endpoint';
import { resolvePolicy, withRetry, type AttemptContext, type RetryPolicy } from './retry';
import type { CloudCredentials, CredentialsProvider } from './types';

/** What a cloud provider instance is built with (its descriptor's `create` maps ProviderContext onto it). */
export interface CloudProviderOptions {
  /** Profile name, for messages (`default` when none). */
  profile: string;
  /** Called once per attempt, so a rotated or refreshed secret applies to the next one. */
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
  /** Region used for calls that are not about a region (region list). */
  defaultRegion?: string;
  /** Alibaba: DescribeKey calls in flight per listed page (default 8). */
  describeConcurrency?: number;
}

/** One attempt's context: retry.ts's (attempt number, signal, timeout) plus the credentials to sign with. */
export interface CloudAttempt extends AttemptContext {
  credentials: CloudCredentials;
}

/** What one cloud API call is about, for retries, logs and error messages. */
export interface CloudCallSpec {
  provider: ProviderDescriptor;
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
 * Fetches the credentials of one attempt; failures and missing parts become credentials errors
 * naming the profile (never a value).
 */
export async function fetchCredentials(d: ProviderDescriptor, profile: string, get: CredentialsProvider): Promise<CloudCredentials> {
  // Built only for a message: this runs before every attempt.
  const orEnv = () => {
    const vars = d.credentials && envPartsText(d.credentials);
    return vars ? ` or set the ${vars} environment variables` : '';
  };
  let c: CloudCredentials;
  try {
    c = await get();
  } catch (err) {
    if (err instanceof KmsEnvelopeError) throw err;
    throw credentialsError(
      `Could not get the credentials of ${d.name} profile ${profile}: ${err instanceof Error ? err.message : String(err)}`,
      ['Check the profile (', { action: 'testProfile', provider: d.name, name: profile }, `)${orEnv()}.`],
      { provider: d.name, profile },
      err,
    );
  }
  const spec = d.credentials;
  if (spec && (!c || requiredParts(spec, 'long-term').some((p) => !c[p.key]))) {
    throw credentialsError(
      `The ${d.name} profile ${profile} has no ${requiredParts(spec, 'long-term')
        .map((p) => p.label)
        .join('/')}.`,
      ['Add the secret to the profile (', { action: 'addProfile', provider: d.name, name: profile }, `)${orEnv()}.`],
      { provider: d.name, profile },
    );
  }
  if (c.expiration && Date.parse(c.expiration) < Date.now()) {
    throw credentialsError(
      `The temporary (STS) credentials of ${d.name} profile ${profile} expired at ${c.expiration}.`,
      'Get a new session token and update the profile, or use a long-term key.',
      { provider: d.name, profile },
    );
  }
  return c;
}

/** The retry policy of a provider's options, resolved once per options object (not per call). */
const policies = new WeakMap<CloudProviderOptions, Readonly<RetryPolicy>>();
function policyOf(o: CloudProviderOptions): Readonly<RetryPolicy> {
  let p = policies.get(o);
  if (!p) {
    p = resolvePolicy({ ...o.retry, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
    policies.set(o, p);
  }
  return p;
}

/**
 * One API call with retries, per-attempt timeouts, cancellation, debug logs and the mapping of the
 * last error onto a KmsEnvelopeError. `attempt` makes one request with the credentials it is given
 * and returns the answer with its request id.
 */
export function cloudCall<T>(spec: CloudCallSpec, attempt: (a: CloudAttempt) => Promise<{ result: T; requestId?: string }>): Promise<T> {
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
  const what = `${provider.name} ${action} ${region}`;
  return withRetry<T>(
    async (a) => {
      const credentials = await fetchCredentials(provider, profile, options.credentials);
      const t0 = Date.now();
      try {
        // Not a spread: that would read (and so make) the attempt's signal, which runAttempt makes only
        // for SDKs that ask for it.
        const { result, requestId } = await attempt(Object.assign(a, { credentials }));
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
      policy: policyOf(options),
      classify: (err) => failureClass(err, provider.errors),
      retryAfter: (err) => (err instanceof CloudCallError ? err.retryAfterMs : undefined),
      onRetry: ({ attempt: n, delayMs, failure }) => log.info(`${what}: ${failure} on attempt ${n}, retrying in ${delayMs} ms`),
      finalize: (err, info) => toKmsError(err, ctx, info),
    },
  );
}

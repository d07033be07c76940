/**
 * Turns failures of cloud KMS calls into KmsEnvelopeErrors a user can act on: the cloud's code and
 * request id in `details`, and a next step in `hint`.
 *
 * Each provider first normalises what its SDK throws into a `CloudCallError` (code, HTTP status,
 * request id, network errno). This module then classes it for retrying (`failureClass`) and maps
 * it to a message + hint (`toKmsError`), reading the cloud's codes and words from the provider's
 * descriptor (`errors`, `aliases`, `credentials`). No secret ever reaches a message: only key ids,
 * aliases, regions, profile names, endpoints and the cloud's codes.
 */
import { CancelledError, KmsEnvelopeError, type ErrorKind, type Hint, type NextStep } from '../errors';
import { partsText, type ErrorCategory, type ErrorRules, type ProviderDescriptor } from './descriptor';
import { AttemptTimeoutError, type FailureClass, type RetryInfo } from './retry';

export type { ErrorCategory } from './descriptor';

/** A failed cloud call, normalised across SDKs. */
export class CloudCallError extends Error {
  /** The cloud's error code (e.g. `ResourceUnavailable.CmkDisabled`, `Rejected.Disabled`). */
  readonly code?: string;
  readonly status?: number;
  readonly requestId?: string;
  /** Node errno-style code of a transport failure (ECONNREFUSED, ETIMEDOUT, ...). */
  readonly networkCode?: string;
  /** The wait the cloud asked for before the next request (a `Retry-After` header), in ms. */
  readonly retryAfterMs?: number;
  constructor(
    message: string,
    f: { code?: string; status?: number; requestId?: string; networkCode?: string; retryAfterMs?: number; cause?: unknown },
  ) {
    super(message, f.cause !== undefined ? { cause: f.cause } : undefined);
    this.name = 'CloudCallError';
    this.code = f.code || undefined;
    this.status = f.status;
    this.requestId = f.requestId || undefined;
    this.networkCode = f.networkCode;
    this.retryAfterMs = f.retryAfterMs;
  }
}

/** A `Retry-After` header value (delay-seconds or an HTTP date) as ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  const v = value?.trim();
  if (!v) return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Data-plane actions (a seal or unseal makes them), named alike by every cloud: their throttling advice differs. */
const DATA_ACTIONS = /^(Encrypt|Decrypt|ReEncrypt|GenerateDataKey)/;

/** Transport failures that happened before the request was sent (safe to repeat), and all of them. */
export const NETWORK_UNSENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
export const NETWORK_ANY = new Set([
  ...NETWORK_UNSENT,
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
]);

/** Finds an errno-like code in an error or its message (SDKs often keep only the message). */
export function findNetworkCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e; depth++) {
    const o = e as { code?: unknown; errno?: unknown; message?: unknown; cause?: unknown };
    if (typeof o.code === 'string' && NETWORK_ANY.has(o.code)) return o.code;
    if (typeof o.errno === 'string' && NETWORK_ANY.has(o.errno)) return o.errno;
    const msg = typeof o.message === 'string' ? o.message : '';
    const m = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|ECONNRESET|EPIPE|ETIMEDOUT|ECONNABORTED)\b/.exec(
      msg,
    );
    if (m) return m[1];
    if (/socket hang up/i.test(msg)) return 'ECONNRESET';
    if (/network timeout|ReadTimeout|ConnectTimeout|RequestTimeout/i.test(msg)) return 'ETIMEDOUT';
    e = o.cause;
  }
  return undefined;
}

/** The category of a normalised failure: network errno, then the cloud's codes (descriptor), then the HTTP status. */
export function categorize(e: CloudCallError, rules?: ErrorRules): ErrorCategory {
  if (e.networkCode) return e.networkCode === 'ETIMEDOUT' || e.networkCode === 'ESOCKETTIMEDOUT' ? 'timeout' : 'network';
  const code = e.code ?? '';
  for (const [c, pattern, cat] of rules?.messages ?? []) if (c === code && pattern.test(e.message)) return cat;
  const exact = rules && Object.hasOwn(rules.codes, code) ? rules.codes[code] : undefined;
  if (exact) return exact;
  for (const [prefix, cat] of rules?.prefixes ?? []) if (code.startsWith(prefix)) return cat;
  if (e.status === 429) return 'throttling';
  if (e.status !== undefined && e.status >= 500) return 'server';
  return 'other';
}

/** Classes a normalised cloud failure of a provider for `withRetry`. */
export function failureClass(err: unknown, rules?: ErrorRules): FailureClass {
  if (err instanceof AttemptTimeoutError) return 'timeout';
  if (!(err instanceof CloudCallError)) return 'fatal';
  if (err.networkCode) {
    if (NETWORK_UNSENT.has(err.networkCode)) return 'unsent';
    return err.networkCode === 'ETIMEDOUT' ? 'timeout' : 'network';
  }
  switch (categorize(err, rules)) {
    case 'throttling':
      return 'throttling';
    case 'server':
      return 'server';
    default:
      return 'fatal';
  }
}

/** What the error mapping needs to know about the call. */
export interface CallContext {
  /** The provider whose call failed: its name, label, error codes and words. */
  provider: ProviderDescriptor;
  profile: string;
  region: string;
  action: string;
  /** Key id or alias the call was about, when there is one. */
  keyId?: string;
  /** Alias the call tried to set, when there is one. */
  alias?: string;
  /** The endpoint URL the call went to (never contains secrets). */
  endpoint: string;
  /** True when the endpoint comes from an override (--endpoint, profile, the provider's endpoint variables). */
  endpointOverridden: boolean;
  /** Whether the request was idempotent (changes the advice after an ambiguous failure). */
  idempotent: boolean;
}

/** A next step about the call's key (each front door words it: a CLI command, a VS Code command). */
function keyStep(action: 'enableKey' | 'disableKey' | 'cancelDeletion' | 'describeKey', c: CallContext): NextStep {
  return { action, key: { provider: c.provider.name, region: c.region, keyId: c.keyId ?? '<key>', profile: c.profile } };
}

const listKeys = (c: CallContext, region?: string): NextStep => ({
  action: 'listKeys',
  provider: c.provider.name,
  region,
  profile: c.profile,
});

/** Maps any error of a cloud call to a KmsEnvelopeError (CancelledError and KmsEnvelopeErrors pass through). */
export function toKmsError(err: unknown, c: CallContext, info?: RetryInfo): KmsEnvelopeError {
  if (err instanceof KmsEnvelopeError) return err;
  if (err instanceof Error && err.name === 'AbortError') return new CancelledError();
  const d = c.provider;
  const label = d.label;
  const details = { provider: d.name, region: c.region, keyId: c.keyId, profile: c.profile };
  const attempts = info && info.attempts > 1 ? ` after ${info.attempts} attempts in ${(info.elapsedMs / 1000).toFixed(1)} s` : '';
  if (err instanceof AttemptTimeoutError) {
    return new KmsEnvelopeError(
      'provider',
      `${label} ${c.action} in ${c.region}: no answer from ${c.endpoint} within ${err.timeoutMs} ms${attempts}.`,
      {
        cause: err,
        hint: timeoutHint(c),
        details: { ...details, providerCode: 'Timeout', retryable: true },
      },
    );
  }
  const e = err instanceof CloudCallError ? err : new CloudCallError(err instanceof Error ? err.message : String(err), { cause: err });
  const cat = categorize(e, d.errors);
  const key = c.keyId ? `key ${c.keyId}` : 'the key';
  const codeText = e.code ? ` (${e.code}${e.requestId ? `, request ${e.requestId}` : ''})` : e.status ? ` (HTTP ${e.status})` : '';
  const cloudMsg = e.code && e.message && !e.message.includes(e.code) ? `: ${oneLine(e.message)}` : '';
  let kind: ErrorKind = 'provider';
  let message: string;
  let hint: Hint | undefined;
  switch (cat) {
    case 'disabled':
      message = `${label}: ${key} in region ${c.region} is disabled${codeText}.`;
      hint = ['Enable it: ', keyStep('enableKey', c), ', or seal to another key.'];
      break;
    case 'pendingDeletion':
      message = `${label}: ${key} in region ${c.region} is scheduled for deletion${codeText}.`;
      hint = ['Cancel the deletion: ', keyStep('cancelDeletion', c), ', then enable the key: ', keyStep('enableKey', c), '.'];
      break;
    case 'pendingImport':
      message = `${label}: ${key} in region ${c.region} is waiting for imported key material${codeText}.`;
      hint = `Import the key material in the ${d.vendor} console, or use another key.`;
      break;
    case 'mustBeDisabled':
      message = `${label}: ${key} in region ${c.region} must be disabled before its deletion can be scheduled${codeText}.`;
      hint = [
        `${d.vendor} only schedules the deletion of a disabled key. Disable it first: `,
        keyStep('disableKey', c),
        ', then schedule the deletion again.',
      ];
      break;
    case 'notPendingDeletion':
      message = `${label}: ${key} in region ${c.region} is not scheduled for deletion${codeText}.`;
      hint = 'There is no deletion to cancel; describe the key to see its state.';
      break;
    case 'stateConflict':
      message = `${label}: ${c.action} is not allowed in the current state of ${key} in region ${c.region}${codeText}${cloudMsg}.`;
      hint = [
        'Describe the key to see its state: ',
        keyStep('describeKey', c),
        '. A key pending deletion must have its deletion cancelled first.',
      ];
      break;
    case 'notFound':
      message = `${label}: no ${key} in region ${c.region} for profile ${c.profile}${codeText}.`;
      hint = ['Keys live in one region: check the region and key in the keyref, or list the keys: ', listKeys(c, c.region), '.'];
      break;
    case 'aliasExists':
      message = `${label}: the alias ${c.alias ?? ''} is already used by another key in region ${c.region}${codeText}.`;
      hint = 'Aliases are unique per region: pick another alias, or move it from the other key first.';
      kind = 'provider';
      break;
    case 'invalidAlias':
      message = `${label}: the alias ${c.alias ?? ''} is not accepted${codeText}${cloudMsg}.`;
      hint = d.aliases.rule;
      kind = 'usage';
      break;
    case 'decryptRefused':
      message = `${label}: the KMS refused to decrypt with ${key} in region ${c.region}${codeText}.`;
      hint = [
        'The data key was not encrypted under this key in this region, was altered, or the encryption context differs. Unseal with the region and key named in the blob (',
        { action: 'inspect' },
        ').',
      ];
      kind = 'provider';
      break;
    case 'credentials':
      kind = 'credentials';
      message = `${label} rejected the credentials of profile ${c.profile}${codeText}${cloudMsg}.`;
      hint = [
        `Check profile ${c.profile} (`,
        { action: 'testProfile', provider: d.name, name: c.profile },
        `): the ${d.credentials ? partsText(d.credentials) : 'credentials'} may be mistyped, disabled or deleted, or a session token expired.`,
      ];
      break;
    case 'clockSkew':
      kind = 'credentials';
      message = `${label} rejected the request of profile ${c.profile} as expired${codeText}: the signed timestamp is too far from the cloud's clock.`;
      hint = `Compare the local clock with real time (\`date -u\`); ${d.errors?.words.clockSkew ?? 'the cloud accepts a few minutes of skew'}. Sync the clock (NTP) and retry.`;
      break;
    case 'permission':
      kind = 'credentials';
      message = `${label}: profile ${c.profile} may not call ${c.action} on ${key} in region ${c.region}${codeText}.`;
      hint = `Grant the identity of profile ${c.profile} the KMS permission for ${c.action} (${d.errors?.words.policy ?? 'a policy'}), or use another profile.`;
      break;
    case 'serviceNotEnabled':
      message = `${label} is not activated for this account in region ${c.region}${codeText}.`;
      hint = `Activate KMS in the ${d.vendor} console for this account, or use another profile.`;
      break;
    case 'region':
      message = `${label} does not know region ${c.region}${codeText}.`;
      hint = regionHint(c);
      break;
    case 'throttling': {
      message = `${label} throttled ${c.action} in region ${c.region}${codeText}${attempts}.`;
      const retried = info?.exhausted && info.attempts > 1 ? ` (retried with backoff for ${seconds(info.elapsedMs)})` : '';
      const asked =
        info?.retryAfterMs !== undefined ? ` ${d.vendor} asked to wait ${seconds(info.retryAfterMs)} before the next request.` : '';
      const quota = `ask ${d.vendor} to raise the account's KMS request quota (QPS) in ${c.region}`;
      hint = DATA_ACTIONS.test(c.action)
        ? `The account's KMS request rate in ${c.region} is used up${retried}.${asked} Wait a minute and run it again; run fewer seals or unseals at the same time (lower the job's concurrency); or ${quota}.`
        : `The account's KMS request rate in ${c.region} is used up${retried}.${asked} Wait a minute and run it again, work on fewer keys or regions at once, or ${quota}.`;
      break;
    }
    case 'server':
      message = `${label} failed with a server error on ${c.action} in region ${c.region}${codeText}${attempts}.`;
      hint = c.idempotent
        ? `Retry later${e.requestId ? `; the request id ${e.requestId} helps the cloud's support` : ''}.`
        : [`It is unknown whether ${c.action} took effect: list the keys (`, listKeys(c, c.region), ') before repeating it.'];
      break;
    case 'network':
    case 'timeout':
      message = `${label} ${c.action} in region ${c.region}: could not reach ${c.endpoint} (${e.networkCode ?? 'network error'})${attempts}.`;
      hint = e.networkCode === 'ENOTFOUND' && !c.endpointOverridden ? regionHint(c) : networkHint(c);
      if (!c.idempotent && e.networkCode && !NETWORK_UNSENT.has(e.networkCode)) {
        hint = [
          ...(typeof hint === 'string' ? [hint] : hint),
          ` It is unknown whether ${c.action} took effect: list the keys before repeating it.`,
        ];
      }
      break;
    case 'invalidParameter':
      message = `${label} rejected ${c.action} in region ${c.region}${codeText}${cloudMsg}.`;
      hint = c.keyId ? `Check the key id or alias "${c.keyId}" and the other values given.` : 'Check the values given.';
      break;
    case 'limit':
      message = `${label}: the account reached its key limit in region ${c.region}${codeText}.`;
      hint = 'Schedule unused keys for deletion or ask the cloud to raise the quota.';
      break;
    default:
      message = `${label} ${c.action} failed in region ${c.region}${codeText}${cloudMsg || (e.code ? '' : `: ${oneLine(e.message)}`)}${attempts}.`;
      hint = e.requestId ? `Quote the request id ${e.requestId} when asking the cloud's support.` : undefined;
  }
  const retryable = cat === 'throttling' || cat === 'server' || cat === 'network' || cat === 'timeout';
  return new KmsEnvelopeError(kind, message, {
    cause: err,
    hint,
    details: {
      ...details,
      providerCode: e.code ?? e.networkCode,
      requestId: e.requestId,
      status: e.status,
      retryable,
    },
  });
}

function regionHint(c: CallContext): Hint {
  return [`See the regions ${c.provider.label} offers: `, listKeys(c), ' (in every region), and use one of them in the keyref.'];
}

function networkHint(c: CallContext): string {
  const vars = (c.provider.endpoint?.env ?? ['KMS_ENVELOPE_ENDPOINT']).join(', ');
  return c.endpointOverridden
    ? `Check that ${c.endpoint} is up and reachable. It comes from an endpoint override (an endpoint given with the command, profile ${c.profile}'s endpoint, or ${vars}): check that too.`
    : `Check the network connection to ${c.endpoint} (proxy, firewall, DNS), or set an endpoint override for profile ${c.profile}.`;
}

function timeoutHint(c: CallContext): string {
  return `${networkHint(c)} Slow networks: raise the timeout.`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/** A cloud's message as one line of at most 300 characters without its final period (a sentence of ours ends it). */
export function oneLine(s: string): string {
  return s
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300)
    .replace(/[.\s]+$/, '');
}

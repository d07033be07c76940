/**
 * Failures of instance-gateway calls, and their mapping to KmsEnvelopeErrors with a next step.
 *
 * The gateway answers every 4xx/5xx with a protobuf `Error` (StatusCode, ErrorCode, ErrorMessage,
 * RequestId; PROTOCOLS-alibaba-instance.md §8). Transport failures keep Node's code: errno codes
 * (ECONNREFUSED, …) and TLS verification codes (SELF_SIGNED_CERT_IN_CHAIN, …), the latter meaning
 * the CA certificate of the profile is not the one that signed the gateway's certificate.
 */
import { CancelledError, KmsEnvelopeError, type ErrorKind, type Hint } from '../../errors';
import { CloudCallError, NETWORK_ANY, NETWORK_UNSENT, oneLine } from '../cloud-errors';
import { AttemptTimeoutError, type FailureClass, type RetryInfo } from '../retry';

/** A failed gateway call: the gateway's ErrorCode (`Forbidden.KeyNotFound`), status, request id, or a transport failure. */
export class InstanceCallError extends CloudCallError {
  /** Node's TLS verification code when the server's certificate was refused. */
  readonly tlsCode?: string;
  constructor(
    message: string,
    f: { code?: string; status?: number; requestId?: string; networkCode?: string; tlsCode?: string; cause?: unknown },
  ) {
    super(message, f);
    this.name = 'InstanceCallError';
    this.tlsCode = f.tlsCode;
  }
}

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'INVALID_CA',
]);

/** Wraps what node:https threw. */
export function transportError(err: unknown): InstanceCallError {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = e instanceof Error ? e.message : String(err);
  if (code && TLS_CODES.has(code)) return new InstanceCallError(message, { tlsCode: code, cause: err });
  if (code === 'EPROTO' || /wrong version number|ssl3_get_record|packet length too long/i.test(message))
    return new InstanceCallError(message, { tlsCode: 'NOT_TLS', cause: err });
  if (code && NETWORK_ANY.has(code)) return new InstanceCallError(message, { networkCode: code, cause: err });
  if (/socket hang up/i.test(message)) return new InstanceCallError(message, { networkCode: 'ECONNRESET', cause: err });
  return new InstanceCallError(message, { networkCode: code ?? 'ECONNRESET', cause: err });
}

type Category =
  | 'caMismatch'
  | 'notTls'
  | 'unknownClientKey'
  | 'signature'
  | 'clockSkew'
  | 'permission'
  | 'notFound'
  | 'disabled'
  | 'pendingDeletion'
  | 'decryptRefused'
  | 'throttling'
  | 'server'
  | 'bodyHash'
  | 'network'
  | 'timeout'
  | 'invalid'
  | 'other';

const CODES: Record<string, Category> = {
  Unauthorized: 'unknownClientKey',
  SignatureNotMatch: 'signature',
  RequestTimeTooSkewed: 'clockSkew',
  'Forbidden.NoPermission': 'permission',
  'Forbidden.KeyNotFound': 'notFound',
  'Forbidden.AliasNotFound': 'notFound',
  'Rejected.Disabled': 'disabled',
  'Rejected.PendingDeletion': 'pendingDeletion',
  InvalidCiphertext: 'decryptRefused',
  'Rejected.InvalidCiphertext': 'decryptRefused',
  'Rejected.Throttling': 'throttling',
  InternalFailure: 'server',
  ServiceUnavailableTemporary: 'server',
  InvalidApiName: 'invalid',
  InvalidApiVersion: 'invalid',
  InvalidParameter: 'invalid',
  MissingParameter: 'invalid',
  ParameterMissing: 'invalid',
  UnsupportedOperation: 'invalid',
};

function categorize(e: InstanceCallError): Category {
  if (e.tlsCode) return e.tlsCode === 'NOT_TLS' ? 'notTls' : 'caMismatch';
  if (e.networkCode) return e.networkCode === 'ETIMEDOUT' ? 'timeout' : 'network';
  const code = e.code ?? '';
  if (code === 'InvalidParam' && /Content-SHA256/i.test(e.message)) return 'bodyHash';
  if (code === 'InvalidParam' && /\bDate\b/.test(e.message)) return 'clockSkew';
  const exact = CODES[code];
  if (exact) return exact;
  if (code.startsWith('InvalidParam')) return 'invalid';
  if (e.status === 429) return 'throttling';
  if (e.status !== undefined && e.status >= 500) return 'server';
  return 'other';
}

/** Classes a failed attempt for withRetry (the Go SDK's retry set, plus transport failures). */
export function instanceFailureClass(err: unknown): FailureClass {
  if (err instanceof AttemptTimeoutError) return 'timeout';
  if (!(err instanceof InstanceCallError)) return 'fatal';
  if (err.networkCode) return NETWORK_UNSENT.has(err.networkCode) ? 'unsent' : err.networkCode === 'ETIMEDOUT' ? 'timeout' : 'network';
  switch (categorize(err)) {
    case 'throttling':
      return 'throttling';
    case 'server':
    case 'bodyHash':
      return 'server';
    default:
      return 'fatal';
  }
}

/** What the mapping needs to know about the call. */
export interface InstanceCallContext {
  /** Operation name (x-kms-apiname). */
  api: string;
  /** https://host:port of the instance gateway. */
  endpoint: string;
  /** The instance id when the endpoint names it (kst-…), else the endpoint. */
  instance: string;
  region: string;
  profile: string;
  keyId?: string;
  clientKeyId: string;
  idempotent: boolean;
}

const LABEL = 'Alibaba Cloud KMS instance';

/** Maps any failure of an instance call to a KmsEnvelopeError (cancellation and KmsEnvelopeErrors pass through). */
export function toInstanceError(err: unknown, c: InstanceCallContext, info?: RetryInfo): KmsEnvelopeError {
  if (err instanceof KmsEnvelopeError) return err;
  if (err instanceof Error && err.name === 'AbortError') return new CancelledError();
  const at = `${LABEL} ${c.instance} (${c.endpoint})`;
  const attempts = info && info.attempts > 1 ? ` after ${info.attempts} attempts in ${(info.elapsedMs / 1000).toFixed(1)} s` : '';
  const details = { provider: 'alibaba', region: c.region, keyId: c.keyId, profile: c.profile };
  if (err instanceof AttemptTimeoutError) {
    return new KmsEnvelopeError('provider', `${at}: no answer to ${c.api} within ${err.timeoutMs} ms${attempts}.`, {
      cause: err,
      hint: `The instance gateway is reachable only from its VPC: check that this machine is in it (or has a route to it), and the endpoint of profile ${c.profile}.`,
      details: { ...details, providerCode: 'Timeout', retryable: true },
    });
  }
  const e =
    err instanceof InstanceCallError ? err : new InstanceCallError(err instanceof Error ? err.message : String(err), { cause: err });
  const cat = categorize(e);
  const key = c.keyId ? `key ${c.keyId}` : 'the key';
  const codeText = e.code ? ` (${e.code}${e.requestId ? `, request ${e.requestId}` : ''})` : e.status ? ` (HTTP ${e.status})` : '';
  const cloudMsg = e.code && e.message ? `: ${oneLine(e.message)}` : '';
  let kind: ErrorKind = 'provider';
  let message: string;
  let hint: Hint;
  switch (cat) {
    case 'caMismatch':
      kind = 'credentials';
      message =
        e.tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID'
          ? `${at}: its certificate is not issued for this host name (${e.tlsCode}).`
          : e.tlsCode === 'CERT_HAS_EXPIRED' || e.tlsCode === 'CERT_NOT_YET_VALID'
            ? `${at}: its certificate is outside its validity (${e.tlsCode}); check the local clock.`
            : `${at}: its certificate is not signed by the CA certificate of profile ${c.profile} (${e.tlsCode}).`;
      hint =
        e.tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID'
          ? 'Use the instance endpoint exactly as the console shows it (<instance-id>.cryptoservice.kms.aliyuncs.com), not an IP address or another name.'
          : `Give the profile the instance's own CA certificate (PrivateKmsCA_${c.instance.startsWith('kst-') ? c.instance : '<instance-id>'}.pem, downloaded from the instance details in the KMS console); the certificate is never skipped.`;
      break;
    case 'notTls':
      message = `${at} does not answer with HTTPS${codeText}.`;
      hint = 'The instance gateway speaks HTTPS only: check the endpoint and its port (443 for a real instance).';
      break;
    case 'unknownClientKey':
      kind = 'credentials';
      message = `${at} does not accept client key ${c.clientKeyId}${codeText}${cloudMsg}.`;
      hint = `The client key was deleted, expired, or belongs to another instance. Create a client key for an application access point of instance ${c.instance} in the KMS console and put it into profile ${c.profile}.`;
      break;
    case 'signature':
      kind = 'credentials';
      message = `${at} refused the signature of client key ${c.clientKeyId}${codeText}.`;
      hint = `The key file of profile ${c.profile} does not match the client key the instance knows (a file of another client key with this id, or a changed file): put the clientKey_…json the console downloaded into the profile again.`;
      break;
    case 'clockSkew':
      kind = 'credentials';
      message = `${at} refused the request's date${codeText}: it is more than 15 minutes from the instance's clock.`;
      hint = 'Compare the local clock with real time (`date -u`), sync it (NTP) and retry.';
      break;
    case 'permission':
      kind = 'credentials';
      message = `${at}: client key ${c.clientKeyId} may not use ${key} for ${c.api}${codeText}.`;
      hint = `Allow ${key} in the permission policy of the client key's application access point (KMS console → Application Access), or seal with another key.`;
      break;
    case 'notFound':
      message = `${at}: no ${key} in this instance${codeText}.`;
      hint = `Instance keys are used through the instance that holds them: check the key id, and that profile ${c.profile}'s endpoint is the instance of this key.`;
      break;
    case 'disabled':
      message = `${at}: ${key} is disabled${codeText}.`;
      hint = 'Enable the key (it needs an AccessKey on the profile, or the KMS console), or seal to another key.';
      break;
    case 'pendingDeletion':
      message = `${at}: ${key} is scheduled for deletion${codeText}.`;
      hint = 'Cancel its deletion and enable it (an AccessKey on the profile, or the KMS console), or seal to another key.';
      break;
    case 'decryptRefused':
      message = `${at} refused to decrypt with ${key}${codeText}.`;
      hint = [
        'The data key was not encrypted under this key, was altered, or the encryption context differs. Unseal with the region and key named in the blob (',
        { action: 'inspect' },
        ').',
      ];
      break;
    case 'throttling':
      message = `${at} throttled ${c.api}${codeText}${attempts}.`;
      hint = info?.exhausted
        ? "Requests were retried with backoff and were still throttled: lower the request rate, or raise the instance's QPS quota."
        : 'Wait a moment and retry.';
      break;
    case 'server':
    case 'bodyHash':
      message = `${at} failed on ${c.api}${codeText}${attempts}${cat === 'bodyHash' ? ': the body it received does not match its hash (changed in transit)' : ''}.`;
      hint = `Retry later${e.requestId ? `; the request id ${e.requestId} helps Alibaba Cloud support` : ''}.`;
      break;
    case 'network':
    case 'timeout':
      message = `${at}: could not reach it for ${c.api} (${e.networkCode ?? 'network error'})${attempts}.`;
      hint = `The instance gateway is reachable only from its VPC: check that this machine is in it (or has a route to it), and the endpoint of profile ${c.profile}.`;
      break;
    case 'invalid':
      message = `${at} rejected ${c.api}${codeText}${cloudMsg}.`;
      hint = c.keyId ? `Check the key id "${c.keyId}" and the other values given.` : 'Check the values given.';
      break;
    default:
      message = `${at}: ${c.api} failed${codeText}${cloudMsg || (e.code ? '' : `: ${oneLine(e.message)}`)}${attempts}.`;
      hint = e.requestId ? `Quote the request id ${e.requestId} when asking Alibaba Cloud support.` : 'Check the endpoint of the profile.';
  }
  const retryable = cat === 'throttling' || cat === 'server' || cat === 'bodyHash' || cat === 'network' || cat === 'timeout';
  return new KmsEnvelopeError(kind, message, {
    cause: err,
    hint,
    details: { ...details, providerCode: e.code ?? e.tlsCode ?? e.networkCode, requestId: e.requestId, status: e.status, retryable },
  });
}

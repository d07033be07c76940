/**
 * AWS Signature Version 4 (AWS4-HMAC-SHA256) as the emulator verifies it, written from
 * PROTOCOLS-aws-kms.md §3 and pinned to its worked example and AWS's `get-vanilla` suite vector
 * (test/unit/emulator-sigv4.test.ts).
 *
 * Hand-written on node:crypto on purpose: @aws-sdk/client-kms (and the @smithy/signature-v4 it
 * signs with) is the client under test, so the verifier must not reuse its code.
 */
import { createHmac } from 'node:crypto';
import { sha256Hex } from './signatures';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

const hmac = (key: string | Uint8Array, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 percent-encoding as SigV4 wants it: unreserved kept, everything else %XX upper-case. */
export function sigv4Encode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/**
 * The canonical URI of a path as it arrived on the wire (services other than S3 encode each
 * segment once more, so an already-encoded `%2F` becomes `%252F`); "" → "/".
 */
export function sigv4CanonicalUri(path: string): string {
  if (!path) return '/';
  return path
    .split('/')
    .map((seg) => sigv4Encode(seg))
    .join('/');
}

/** The canonical query: parameters decoded, re-encoded, sorted by name then value. */
export function sigv4CanonicalQuery(query: string): string {
  if (!query) return '';
  const pairs = query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const dec = (s: string) => {
        try {
          return decodeURIComponent(s.replace(/\+/g, '%20'));
        } catch {
          return s;
        }
      };
      const k = eq >= 0 ? p.slice(0, eq) : p;
      const v = eq >= 0 ? p.slice(eq + 1) : '';
      return [sigv4Encode(dec(k)), sigv4Encode(dec(v))] as const;
    });
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/** A header value in canonical form: leading/trailing blanks removed, inner runs of blanks collapsed. */
export const sigv4HeaderValue = (v: string): string => v.trim().replace(/\s+/g, ' ');

export interface SigV4Request {
  method: string;
  /** Path as received ("/" for AWS KMS). */
  path: string;
  /** Raw query string without "?" ("" for AWS KMS). */
  query: string;
  /** Values of the signed headers by lower-case name, exactly as received (host WITH its port). */
  headers: Record<string, string>;
  /** The signed header names (from the Authorization header). */
  signedHeaders: string[];
  /** Hex SHA-256 of the body. */
  payloadHash: string;
}

export function sigv4CanonicalRequest(r: SigV4Request): string {
  const names = [...new Set(r.signedHeaders.map((h) => h.toLowerCase()))].sort();
  const canonicalHeaders = names.map((n) => `${n}:${sigv4HeaderValue(r.headers[n] ?? '')}\n`).join('');
  return [
    r.method.toUpperCase(),
    sigv4CanonicalUri(r.path),
    sigv4CanonicalQuery(r.query),
    canonicalHeaders,
    names.join(';'),
    r.payloadHash,
  ].join('\n');
}

export interface SigV4Scope {
  /** YYYYMMDD */
  date: string;
  region: string;
  service: string;
}

export const scopeString = (s: SigV4Scope) => `${s.date}/${s.region}/${s.service}/aws4_request`;

export function sigv4StringToSign(amzDate: string, scope: SigV4Scope, canonicalRequest: string): string {
  return `${SIGV4_ALGORITHM}\n${amzDate}\n${scopeString(scope)}\n${sha256Hex(canonicalRequest)}`;
}

/** The signing key: HMAC chain over date, region, service and "aws4_request". */
export function sigv4SigningKey(secret: string, scope: SigV4Scope): Buffer {
  const kDate = hmac('AWS4' + secret, scope.date);
  const kRegion = hmac(kDate, scope.region);
  const kService = hmac(kRegion, scope.service);
  return hmac(kService, 'aws4_request');
}

export function sigv4Signature(secret: string, amzDate: string, scope: SigV4Scope, r: SigV4Request): string {
  return hmac(sigv4SigningKey(secret, scope), sigv4StringToSign(amzDate, scope, sigv4CanonicalRequest(r))).toString('hex');
}

export interface SigV4Authorization extends SigV4Scope {
  accessKeyId: string;
  /** The last element of the credential scope (must be "aws4_request"). */
  terminator: string;
  signedHeaders: string[];
  signature: string;
}

/**
 * Parses `AWS4-HMAC-SHA256 Credential=<AKID>/<date>/<region>/<service>/aws4_request,
 * SignedHeaders=a;b, Signature=<hex>`. Returns a string naming what is wrong when it does not parse
 * (AWS answers IncompleteSignatureException with such a text).
 */
export function parseSigV4Authorization(value: string): SigV4Authorization | string {
  const v = value.trim();
  if (!v.startsWith(SIGV4_ALGORITHM + ' ')) return `Authorization header must start with "${SIGV4_ALGORITHM} "`;
  const fields = new Map<string, string>();
  for (const part of v.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const p = part.trim();
    const eq = p.indexOf('=');
    if (eq <= 0) return `Authorization header requires each component to be of the form key=value, not "${p}"`;
    fields.set(p.slice(0, eq), p.slice(eq + 1));
  }
  for (const name of ['Credential', 'SignedHeaders', 'Signature']) {
    if (!fields.get(name)) return `Authorization header requires '${name}' parameter`;
  }
  const cred = fields.get('Credential')!.split('/');
  if (cred.length !== 5 || cred.some((c) => c === '')) {
    return `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${fields.get('Credential')}'`;
  }
  const signature = fields.get('Signature')!;
  if (!/^[0-9a-f]{64}$/.test(signature)) return `Signature must be 64 lower-case hex characters`;
  return {
    accessKeyId: cred[0],
    date: cred[1],
    region: cred[2],
    service: cred[3],
    terminator: cred[4],
    signedHeaders: fields.get('SignedHeaders')!.split(';'),
    signature,
  };
}

/** Parses an ISO 8601 basic X-Amz-Date (YYYYMMDDTHHMMSSZ) to unix ms; undefined when malformed. */
export function parseAmzDate(v: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  const back = new Date(ms);
  if (back.getUTCDate() !== +m[3] || back.getUTCHours() !== +m[4]) return undefined;
  return ms;
}

/** Unix ms → YYYYMMDDTHHMMSSZ */
export const formatAmzDate = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

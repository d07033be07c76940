/**
 * The request-signing algorithms of Tencent Cloud API 3.0 (TC3-HMAC-SHA256) and Alibaba Cloud
 * OpenAPI (V3 ACS3-HMAC-SHA256 and V2 HMAC-SHA1 RPC), written from PROTOCOLS.md and pinned by its
 * test vectors (test/unit/emulator-signatures.test.ts). The emulator recomputes a signature
 * from what arrived on the wire and compares it with what the client sent.
 *
 * Hand-written on node:crypto on purpose: the official SDKs are the clients under test, so the
 * verifier must not reuse their code, and there is no maintained server-side verifier on npm.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

const hmac = (alg: 'sha1' | 'sha256', key: string | Uint8Array, data: string): Buffer => createHmac(alg, key).update(data, 'utf8').digest();

/** Constant-time comparison of two signature strings. */
export function signaturesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---------------------------------------------------------------- Tencent TC3-HMAC-SHA256

export interface Tc3Input {
  method: string;
  /** Path, `/` for the API. */
  path?: string;
  /** The raw query string ("" for POST). */
  query?: string;
  /** Every signed header, by lower-case name (the host WITHOUT port, trap 1). */
  headers: Record<string, string>;
  /** Names of the signed headers in the order of the Authorization header (sorted by the verifier). */
  signedHeaders: string[];
  /** The raw request body. */
  body: string | Uint8Array;
  /** X-TC-Timestamp, unix seconds. */
  timestamp: number;
  /** Service from the credential scope (trap 2: the SDK may say "127"). */
  service: string;
  secretKey: string;
}

/** YYYY-MM-DD (UTC) of a unix timestamp in seconds. */
export function tc3Date(timestamp: number): string {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

export function tc3CanonicalRequest(i: Tc3Input): string {
  const names = [...i.signedHeaders].map((h) => h.toLowerCase()).sort();
  const canonicalHeaders = names.map((n) => `${n}:${(i.headers[n] ?? '').trim().toLowerCase()}\n`).join('');
  return [i.method.toUpperCase(), i.path ?? '/', i.query ?? '', canonicalHeaders, names.join(';'), sha256Hex(i.body)].join('\n');
}

export function tc3StringToSign(i: Tc3Input): string {
  const scope = `${tc3Date(i.timestamp)}/${i.service}/tc3_request`;
  return `TC3-HMAC-SHA256\n${i.timestamp}\n${scope}\n${sha256Hex(tc3CanonicalRequest(i))}`;
}

export function tc3Signature(i: Tc3Input): string {
  const kDate = hmac('sha256', 'TC3' + i.secretKey, tc3Date(i.timestamp));
  const kService = hmac('sha256', kDate, i.service);
  const kSigning = hmac('sha256', kService, 'tc3_request');
  return hmac('sha256', kSigning, tc3StringToSign(i)).toString('hex');
}

export interface Tc3Authorization {
  secretId: string;
  date: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses `TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=a;b, Signature=<hex>`. */
export function parseTc3Authorization(value: string | undefined): Tc3Authorization | undefined {
  if (!value) return undefined;
  const m =
    /^TC3-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{4}-\d{2}-\d{2})\/([^/,\s]+)\/tc3_request\s*,\s*SignedHeaders=([a-z0-9;_-]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/i.exec(
      value.trim(),
    );
  if (!m) return undefined;
  return { secretId: m[1], date: m[2], service: m[3], signedHeaders: m[4].toLowerCase().split(';'), signature: m[5].toLowerCase() };
}

// ---------------------------------------------------------------- Alibaba shared

/**
 * Alibaba's canonical percent-encoding (RFC 3986 unreserved kept, everything else %XX with
 * uppercase hex, space → %20, `*` → %2A, `~` kept). Trap 4: values arrive encoded by Node's
 * querystring; the verifier decodes them first and re-encodes them here.
 */
export function acsPercentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

// ---------------------------------------------------------------- Alibaba V3 ACS3-HMAC-SHA256

export interface Acs3Input {
  method: string;
  path?: string;
  /** Decoded query parameters (re-encoded canonically here). */
  query: Record<string, string>;
  /** Every signed header, by lower-case name (host WITH port, trap 3). */
  headers: Record<string, string>;
  signedHeaders: string[];
  /** Hex SHA-256 of the body (x-acs-content-sha256). */
  payloadHash: string;
  secret: string;
}

export function acs3CanonicalQuery(query: Record<string, string>): string {
  return Object.keys(query)
    .sort()
    .map((k) => `${acsPercentEncode(k)}=${acsPercentEncode(query[k] ?? '')}`)
    .join('&');
}

export function acs3CanonicalRequest(i: Acs3Input): string {
  const names = [...i.signedHeaders].map((h) => h.toLowerCase()).sort();
  const canonicalHeaders = names.map((n) => `${n}:${(i.headers[n] ?? '').trim()}\n`).join('');
  return [i.method.toUpperCase(), i.path ?? '/', acs3CanonicalQuery(i.query), canonicalHeaders, names.join(';'), i.payloadHash].join('\n');
}

export function acs3StringToSign(i: Acs3Input): string {
  return `ACS3-HMAC-SHA256\n${sha256Hex(acs3CanonicalRequest(i))}`;
}

export function acs3Signature(i: Acs3Input): string {
  return hmac('sha256', i.secret, acs3StringToSign(i)).toString('hex');
}

export interface Acs3Authorization {
  accessKeyId: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=a;b,Signature=<hex>`. */
export function parseAcs3Authorization(value: string | undefined): Acs3Authorization | undefined {
  if (!value) return undefined;
  const m = /^ACS3-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([a-z0-9;_-]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/i.exec(
    value.trim(),
  );
  if (!m) return undefined;
  return { accessKeyId: m[1], signedHeaders: m[2].toLowerCase().split(';'), signature: m[3].toLowerCase() };
}

// ---------------------------------------------------------------- Alibaba V2 HMAC-SHA1 (RPC)

/** The canonical query of V2: every parameter except Signature, sorted, percent-encoded. */
export function acsV2CanonicalQuery(params: Record<string, string>): string {
  return Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${acsPercentEncode(k)}=${acsPercentEncode(params[k] ?? '')}`)
    .join('&');
}

export function acsV2StringToSign(method: string, params: Record<string, string>): string {
  return `${method.toUpperCase()}&${acsPercentEncode('/')}&${acsPercentEncode(acsV2CanonicalQuery(params))}`;
}

export function acsV2Signature(method: string, params: Record<string, string>, secret: string): string {
  return hmac('sha1', secret + '&', acsV2StringToSign(method, params)).toString('base64');
}

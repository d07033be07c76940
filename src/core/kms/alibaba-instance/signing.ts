/**
 * Request signing of the KMS 3.0 instance gateway (PROTOCOLS-alibaba-instance.md §4–5):
 * RSASSA-PKCS1-v1_5 with SHA-256, by the ClientKey's private key, over
 *
 *   METHOD \n content-sha256 \n content-type \n date \n (x-kms-* "name:value\n", sorted) /
 *
 * with `content-sha256` the UPPER-case hex SHA-256 of the body, and `authorization: Bearer <base64>`.
 * The access-key header really is spelled `x-kms-acccesskeyid` (three c). Pinned to the sheet's
 * worked examples by test/unit/alibaba-instance.test.ts.
 */
import { createHash, sign, type KeyObject } from 'node:crypto';

export const INSTANCE_API_VERSION = 'dkms-gcs-0.2';
export const INSTANCE_SIGNATURE_METHOD = 'RSA_PKCS1_SHA_256';
export const PROTOBUF_CONTENT_TYPE = 'application/x-protobuf';
/** Sic: three c, as every official SDK sends it. */
export const ACCESS_KEY_HEADER = 'x-kms-acccesskeyid';

export function contentSha256(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex').toUpperCase();
}

/** The string to sign from lower-case request headers. */
export function stringToSign(method: string, headers: Record<string, string>): string {
  const kms = Object.keys(headers)
    .filter((h) => h.startsWith('x-kms-'))
    .sort()
    .map((h) => `${h}:${headers[h].trim()}\n`)
    .join('');
  return `${method}\n${headers['content-sha256'] ?? ''}\n${headers['content-type'] ?? ''}\n${headers['date'] ?? ''}\n${kms}/`;
}

export interface SignInput {
  apiName: string;
  body: Buffer;
  /** ClientKey id (`KAAP.…`). */
  clientKeyId: string;
  privateKey: KeyObject;
  /** RFC 1123 date; a fresh one per attempt. */
  date: string;
  /** Further x-kms-* headers the caller sends (they are signed too). */
  extra?: Record<string, string>;
}

/** Every signed header of one request plus its authorization (lower-case names). */
export function signedHeaders(i: SignInput): Record<string, string> {
  const headers: Record<string, string> = {
    date: i.date,
    'content-type': PROTOBUF_CONTENT_TYPE,
    'content-sha256': contentSha256(i.body),
    'x-kms-apiversion': INSTANCE_API_VERSION,
    'x-kms-apiname': i.apiName,
    'x-kms-signaturemethod': INSTANCE_SIGNATURE_METHOD,
    [ACCESS_KEY_HEADER]: i.clientKeyId,
  };
  for (const [k, v] of Object.entries(i.extra ?? {})) headers[k.toLowerCase()] = v;
  const signature = sign('sha256', Buffer.from(stringToSign('POST', headers), 'utf8'), i.privateKey).toString('base64');
  headers.authorization = `Bearer ${signature}`;
  return headers;
}

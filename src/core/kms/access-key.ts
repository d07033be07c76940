/**
 * The credential parts of an access-key cloud (an id, a secret and, for temporary credentials, a
 * session token), with the checks every such cloud shares. Tencent (SecretId / SecretKey), Alibaba
 * (AccessKey ID / secret) and AWS (access key id / secret access key) differ only in words.
 */
import type { CredentialPart, CredentialSpec } from './descriptor';
import type { CloudCredentials } from './types';

// Printable ASCII without spaces: every key id, secret and token of these clouds fits.
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/** A check of one access-key part: empty, stray characters, length. */
export function tokenCheck(label: string, min: number, max: number): (value: string) => string | undefined {
  return (value) => {
    const s = value.trim();
    if (!s) return `The ${label} is empty.`;
    if (!TOKEN_CHARS.test(s)) return `The ${label} contains spaces or characters that cannot be part of it.`;
    if (s.length < min || s.length > max) return `The ${label} has ${s.length} characters; expected ${min}-${max}.`;
    return undefined;
  };
}

export interface AccessKeyWords {
  /** Labels as the vendor's console names them. */
  id: string;
  secret: string;
  token: string;
  /** Where users create the key: `Tencent Cloud console → CAM → API keys`. */
  console: string;
}

/** The three parts, keyed accessKeyId / accessKeySecret / securityToken (all kept in the keychain). */
export function accessKeyParts(w: AccessKeyWords): CredentialPart[] {
  return [
    { key: 'accessKeyId', label: w.id, secret: false, prompt: `from the ${w.console}`, validate: tokenCheck(w.id, 8, 256) },
    { key: 'accessKeySecret', label: w.secret, secret: true, validate: tokenCheck(w.secret, 8, 256) },
    { key: 'securityToken', label: w.token, secret: true, temporary: true, validate: tokenCheck(w.token, 16, 16384) },
  ];
}

/** A CredentialSpec of an access-key cloud; `extra` adds environment variables and discovery. */
export function accessKeyCredentials(w: AccessKeyWords, extra: Omit<CredentialSpec, 'parts' | 'temporary' | 'console'>): CredentialSpec {
  return {
    parts: accessKeyParts(w),
    temporary: true,
    maskedPart: 'accessKeyId',
    console: w.console,
    check: (c: CloudCredentials) =>
      c.accessKeyId && c.accessKeyId.trim() === c.accessKeySecret?.trim()
        ? `The ${w.id} and the ${w.secret} are the same value.`
        : undefined,
    ...extra,
  };
}

/** Credentials of an access-key cloud, typed (CloudCredentials with the access-key parts present). */
export interface AccessKeyCredentials extends CloudCredentials {
  accessKeyId: string;
  accessKeySecret: string;
}

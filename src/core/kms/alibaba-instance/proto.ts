/**
 * Protobuf bodies of the Alibaba Cloud KMS 3.0 instance gateway ("dkms-gcs-0.2" API), both ways,
 * errors included (PROTOCOLS-alibaba-instance.md §6). The schema below is the `.proto` text of the
 * messages this client sends and reads, written from the fact sheet's field table; protobufjs
 * parses it once and does the wire encoding (no hand-written varints).
 *
 * proto3 leaves fields at their default value off the wire; protobufjs writes every field that is
 * present on the object, so `encodeRequest` drops empty strings and buffers and zero numbers
 * first: the worked example of the sheet (only KeyId and Plaintext) is 34 bytes either way.
 */
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package api;

message EncryptRequest { string KeyId = 1; bytes Plaintext = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message EncryptResponse { string KeyId = 1; bytes CiphertextBlob = 2; bytes Iv = 3; string RequestId = 4; string Algorithm = 5; string PaddingMode = 6; }
message DecryptRequest { bytes CiphertextBlob = 1; string KeyId = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message DecryptResponse { string KeyId = 1; bytes Plaintext = 2; string RequestId = 3; string Algorithm = 4; string PaddingMode = 5; }
message GenerateDataKeyRequest { string KeyId = 1; string Algorithm = 2; int32 NumberOfBytes = 3; bytes Aad = 4; }
message GenerateDataKeyResponse { string KeyId = 1; bytes Iv = 2; bytes Plaintext = 3; bytes CiphertextBlob = 4; string RequestId = 5; string Algorithm = 6; }
message AdvanceEncryptRequest { string KeyId = 1; bytes Plaintext = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message AdvanceEncryptResponse { string KeyId = 1; bytes CiphertextBlob = 2; bytes Iv = 3; string RequestId = 4; string Algorithm = 5; string PaddingMode = 6; string KeyVersionId = 7; }
message AdvanceDecryptRequest { bytes CiphertextBlob = 1; string KeyId = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message AdvanceDecryptResponse { string KeyId = 1; bytes Plaintext = 2; string RequestId = 3; string Algorithm = 4; string PaddingMode = 5; string KeyVersionId = 6; }
message AdvanceGenerateDataKeyRequest { string KeyId = 1; int32 NumberOfBytes = 2; bytes Aad = 3; }
message AdvanceGenerateDataKeyResponse { string KeyId = 1; bytes Iv = 2; bytes Plaintext = 3; bytes CiphertextBlob = 4; string RequestId = 5; string Algorithm = 6; string KeyVersionId = 7; }
message GenerateRandomRequest { int32 Length = 1; }
message GenerateRandomResponse { bytes Random = 1; string RequestId = 2; }
message Error { int32 StatusCode = 1; string ErrorCode = 2; string ErrorMessage = 3; string RequestId = 4; }
`;

/** The operations this client calls (the value of the x-kms-apiname header). */
export type InstanceApiName =
  'Encrypt' | 'Decrypt' | 'GenerateDataKey' | 'AdvanceEncrypt' | 'AdvanceDecrypt' | 'AdvanceGenerateDataKey' | 'GenerateRandom';

export interface EncryptRequest {
  KeyId?: string;
  Plaintext?: Buffer;
  Algorithm?: string;
  Aad?: Buffer;
  Iv?: Buffer;
  PaddingMode?: string;
}
export interface DecryptRequest {
  CiphertextBlob?: Buffer;
  KeyId?: string;
  Algorithm?: string;
  Aad?: Buffer;
  Iv?: Buffer;
  PaddingMode?: string;
}
export interface GenerateDataKeyRequest {
  KeyId?: string;
  Algorithm?: string;
  NumberOfBytes?: number;
  Aad?: Buffer;
}
export interface AdvanceGenerateDataKeyRequest {
  KeyId?: string;
  NumberOfBytes?: number;
  Aad?: Buffer;
}
export interface GenerateRandomRequest {
  Length?: number;
}

export interface EncryptResponse {
  KeyId: string;
  CiphertextBlob: Buffer;
  Iv: Buffer;
  RequestId: string;
  Algorithm: string;
  PaddingMode: string;
  /** AdvanceEncrypt only. */
  KeyVersionId: string;
}
export interface DecryptResponse {
  KeyId: string;
  Plaintext: Buffer;
  RequestId: string;
  Algorithm: string;
  PaddingMode: string;
  /** AdvanceDecrypt only. */
  KeyVersionId: string;
}
export interface GenerateDataKeyResponse {
  KeyId: string;
  Iv: Buffer;
  Plaintext: Buffer;
  CiphertextBlob: Buffer;
  RequestId: string;
  Algorithm: string;
  /** AdvanceGenerateDataKey only. */
  KeyVersionId: string;
}
export interface GenerateRandomResponse {
  Random: Buffer;
  RequestId: string;
}
export interface ErrorBody {
  StatusCode: number;
  ErrorCode: string;
  ErrorMessage: string;
  RequestId: string;
}

export interface InstanceApi {
  Encrypt: [EncryptRequest, EncryptResponse];
  Decrypt: [DecryptRequest, DecryptResponse];
  GenerateDataKey: [GenerateDataKeyRequest, GenerateDataKeyResponse];
  AdvanceEncrypt: [EncryptRequest, EncryptResponse];
  AdvanceDecrypt: [DecryptRequest, DecryptResponse];
  AdvanceGenerateDataKey: [AdvanceGenerateDataKeyRequest, GenerateDataKeyResponse];
  GenerateRandom: [GenerateRandomRequest, GenerateRandomResponse];
}

let root: protobuf.Root | undefined;
const types = new Map<string, protobuf.Type>();

function type(name: string): protobuf.Type {
  let t = types.get(name);
  if (!t) {
    root ??= protobuf.parse(SCHEMA, { keepCase: true }).root;
    t = root.lookupType(`api.${name}`);
    types.set(name, t);
  }
  return t;
}

/** Drops proto3 defaults (empty strings and bytes, 0, false) so they stay off the wire. */
function withoutDefaults(msg: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(msg)) {
    if (v === undefined || v === null || v === '' || v === 0 || v === false) continue;
    if (v instanceof Uint8Array && v.length === 0) continue;
    out[k] = v;
  }
  return out;
}

export function encodeRequest<N extends InstanceApiName>(api: N, msg: InstanceApi[N][0]): Buffer {
  const t = type(`${api}Request`);
  const w = t.encode(t.fromObject(withoutDefaults(msg)));
  return Buffer.from(w.finish());
}

const DECODE_OPTIONS: protobuf.IConversionOptions = { defaults: true, longs: Number, bytes: Buffer };

function toBuffers(o: Record<string, unknown>): Record<string, unknown> {
  for (const [k, v] of Object.entries(o)) if (v instanceof Uint8Array && !Buffer.isBuffer(v)) o[k] = Buffer.from(v);
  return o;
}

/** Decodes a 200 answer of `api`; throws protobufjs's error on a body that is not that message. */
export function decodeResponse<N extends InstanceApiName>(api: N, body: Buffer): InstanceApi[N][1] {
  const t = type(`${api}Response`);
  const o = t.toObject(t.decode(body), DECODE_OPTIONS) as Record<string, unknown>;
  const out = toBuffers(o);
  // Fields a response type lacks (KeyVersionId outside Advance*) read as empty.
  if (!('KeyVersionId' in out)) out.KeyVersionId = '';
  return out as unknown as InstanceApi[N][1];
}

/** Decodes an error body (every 4xx/5xx); undefined when it is not a protobuf Error. */
export function decodeError(body: Buffer): ErrorBody | undefined {
  if (body.length === 0) return undefined;
  try {
    const t = type('Error');
    const e = t.toObject(t.decode(body), DECODE_OPTIONS) as ErrorBody;
    return e.ErrorCode ? e : undefined;
  } catch {
    return undefined;
  }
}

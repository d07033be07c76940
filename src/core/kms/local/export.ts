/**
 * The exchange format for local key material (`kms-envelope keys export` / `keys import`), so a
 * team can share a key and a lost machine can be recovered. One JSON document:
 *
 *   {"format":"kms-envelope-local-key","version":1,"keyId":"local-…","alias":"team-key",
 *    "description":"…","createdAt":"…","material":"<base64 of 32 bytes>"}
 *
 * The key id travels with the material because local blobs name their key by id (the raw-AES
 * keyName): importing under the same id is what lets old blobs open on the new machine.
 * Import also accepts bare material (32 raw bytes, or 32 bytes as base64 or hex text), e.g. from
 * another team's tooling; then `--key-id` says which id old blobs use (default: a new id).
 */
import { usageError, type Hint } from '../../errors';

export const EXPORT_FORMAT = 'kms-envelope-local-key';

export interface LocalKeyExport {
  format: typeof EXPORT_FORMAT;
  version: 1;
  keyId: string;
  alias?: string;
  description?: string;
  createdAt?: string;
  /** base64 of the 32-byte AES-256 key. */
  material: string;
}

export interface ParsedImport {
  material: Buffer;
  keyId?: string;
  alias?: string;
  description?: string;
}

export function serializeExport(e: Omit<LocalKeyExport, 'format' | 'version'>): string {
  const doc: LocalKeyExport = { format: EXPORT_FORMAT, version: 1, ...e };
  return JSON.stringify(doc, null, 2) + '\n';
}

/** Parses an export document or bare key material; `source` names the file for messages. */
export function parseImport(input: Buffer, source: string): ParsedImport {
  const hint: Hint = [
    'Give a file written by a key export (',
    { action: 'exportKey', provider: 'local' },
    '), or exactly 32 bytes of key material (raw, base64 or hex).',
  ];
  if (input.length === 32 && !/^[\s\x21-\x7e]*$/.test(input.toString('latin1'))) return { material: Buffer.from(input) };
  const text = input.toString('utf8').trim();
  if (text.startsWith('{')) {
    let doc: Partial<LocalKeyExport>;
    try {
      doc = JSON.parse(text) as Partial<LocalKeyExport>;
    } catch (err) {
      throw usageError(`${source} is not valid JSON (${(err as Error).message}).`, hint, { file: source });
    }
    if (doc.format !== EXPORT_FORMAT || doc.version !== 1 || typeof doc.material !== 'string' || typeof doc.keyId !== 'string') {
      throw usageError(`${source} is not a kms-envelope local key export (format ${EXPORT_FORMAT}, version 1).`, hint, { file: source });
    }
    const material = Buffer.from(doc.material, 'base64');
    if (material.length !== 32)
      throw usageError(`The key material in ${source} is ${material.length} bytes, not 32.`, hint, { file: source });
    return { material, keyId: doc.keyId, alias: doc.alias, description: doc.description };
  }
  if (/^[0-9a-fA-F]{64}$/.test(text)) return { material: Buffer.from(text, 'hex') };
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const material = Buffer.from(text, 'base64');
    if (material.length === 32) return { material };
  }
  if (input.length === 32) return { material: Buffer.from(input) };
  throw usageError(`${source} holds neither a local key export nor 32 bytes of key material (${input.length} bytes read).`, hint, {
    file: source,
  });
}

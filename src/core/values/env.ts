/**
 * The environment variables a config file gives a process (`kms-envelope exec --env <file>`), read from
 * its UNSEALED text:
 *
 * - `.env`: every variable, as dotenv reads it (empty values included; a later line wins);
 * - YAML / JSON: the top-level keys. A string becomes its value; a number or boolean its text as
 *   written (`1.10` stays `1.10`, `0x1F` stays `0x1F`); null the empty string; a map or list its JSON
 *   text.
 *
 * The `kms-envelope` header entry is never a variable. A key that cannot be an environment variable
 * name (empty, or with `=` or NUL in it) is refused, naming the key.
 */
import { parse as parseJsonc, parseTree, type Node as JsonNode } from 'jsonc-parser';
import { isMap, isScalar, parseDocument } from 'yaml';
import { formatError, usageError } from '../errors';
import { HEADER_KEY, dotenvEntries, type ValuesFormat } from './formats';

function checkName(name: string, file: string): void {
  if (!name || /[=\0]/.test(name)) {
    throw usageError(
      `${file}: ${JSON.stringify(name)} cannot be an environment variable name.`,
      'Rename the key, or leave this file out of the environment files.',
    );
  }
}

function yamlEnv(text: string, file: string): Map<string, string> {
  const doc = parseDocument(text);
  if (doc.errors.length)
    throw formatError(`${file}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`, 'Fix the YAML, then try again.');
  const out = new Map<string, string>();
  if (doc.contents == null) return out;
  if (!isMap(doc.contents))
    throw usageError(`${file}: the top level is not a mapping, so it gives no environment variables.`, 'Use a file of key: value lines.');
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (key === HEADER_KEY) continue;
    checkName(key, file);
    const v = pair.value;
    if (v == null || (isScalar(v) && v.value === null)) out.set(key, '');
    else if (isScalar(v)) out.set(key, typeof v.value !== 'string' && typeof v.source === 'string' ? v.source : String(v.value));
    else out.set(key, JSON.stringify((v as { toJSON(): unknown }).toJSON()));
  }
  return out;
}

function jsonEnv(text: string, file: string): Map<string, string> {
  const root = parseTree(text, [], { allowTrailingComma: true });
  if (!root || root.type !== 'object')
    throw usageError(`${file}: the top level is not an object, so it gives no environment variables.`, 'Use a JSON object.');
  const out = new Map<string, string>();
  for (const prop of root.children ?? []) {
    const [k, v] = prop.children as [JsonNode, JsonNode];
    const key = String(k.value);
    if (key === HEADER_KEY) continue;
    checkName(key, file);
    const raw = text.slice(v.offset, v.offset + v.length);
    if (v.type === 'null') out.set(key, '');
    else if (v.type === 'string') out.set(key, v.value as string);
    else if (v.type === 'number' || v.type === 'boolean') out.set(key, raw);
    else out.set(key, JSON.stringify(parseJsonc(raw, [], { allowTrailingComma: true })));
  }
  return out;
}

export function envFromText(text: string, format: ValuesFormat, file: string): Map<string, string> {
  if (format === 'yaml') return yamlEnv(text, file);
  if (format === 'json') return jsonEnv(text, file);
  const out = dotenvEntries(text);
  for (const k of out.keys()) checkName(k, file);
  return out;
}

/** Picks the adapter for a file: by the policy rule's `format`, else by the file name. */
import { basename } from 'node:path';
import { usageError } from '../../errors';
import { parseDotenvValues } from './dotenv';
import { parseJsonValues } from './json';
import { parseYamlValues } from './yaml';
import { formatFromName } from './names';
import type { ParsedValues, ValuesFormat } from './types';

export * from './types';
export { formatFromName } from './names';
export { dotenvEntries, envValue } from './dotenv';

export const VALUES_FORMATS: readonly ValuesFormat[] = ['yaml', 'json', 'dotenv'];

export function formatOf(file: string, override?: ValuesFormat): ValuesFormat {
  const f = override ?? formatFromName(file);
  if (!f) {
    throw usageError(
      `Cannot tell the format of ${basename(file)} from its name.`,
      'Name it *.yaml, *.yml, *.json, *.jsonc, .env or *.env, or set format: yaml | json | dotenv on its rule in .kms-envelope.yaml.',
    );
  }
  return f;
}

export function parseValues(text: string, format: ValuesFormat, name: string): ParsedValues {
  switch (format) {
    case 'yaml':
      return parseYamlValues(text, name);
    case 'json':
      return parseJsonValues(text, name);
    case 'dotenv':
      return parseDotenvValues(text, name);
  }
}

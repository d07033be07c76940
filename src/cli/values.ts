/**
 * Config files on the command line:
 *
 *   kms-envelope seal --values <file> [-o <out>|-] [--rewrap]    the values the nearest .kms-envelope.yaml selects
 *   kms-envelope unseal --values <file> [-o <out>|-] [--context k=v ...]
 *   kms-envelope unseal <text file with several kmsenv:v1: values>   every value unsealed in place in the text
 *
 * In place by default (atomically, the file's permissions kept); `-o <file>` writes elsewhere (an existing
 * file only with --force), `-o -` to stdout. Sealing calls no KMS and writes nothing when nothing is left
 * to seal. The policy and the values engine: src/core/values; the use-cases: core/services/values-service.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic';
import { usageError } from '../core/errors';
import { parseKeyRef } from '../core/keyref';
import type { ProviderResolver, Recipient } from '../core/envelope/types';
import type { KmsProvider, ProviderName } from '../core/kms/types';
import { displayPath } from '../core/paths';
import {
  CLI,
  PROVIDER_OPTIONS,
  buildProvider,
  makeLogger,
  parse,
  parseContext,
  providerOptions,
  providerResolverFor,
  type Io,
} from './common';
import { recipientLabel } from '../core/envelope/recipients';
import { readText } from '../core/read-file';

export const SEAL_VALUES_HELP = `Usage: kms-envelope seal --values <file> [-o <out>|-] [--force] [--rewrap]

Seals, in place, the values of a YAML, JSON/JSONC or .env file that the nearest .kms-envelope.yaml
(looked up from the file's folder upward) selects: keys, comments and formatting stay as they are,
each value becomes one short kmsenv:f1: record, and one header line holds the recipients. Values
already sealed are kept byte for byte, so replacing one sealed value by its new plaintext and
sealing again changes one line. One KMS call (GenerateDataKey, +1 Encrypt per further key) for a
new file, one Decrypt for a file that has a header; none when nothing is left to seal.

  -o, --output <out>     write to <out> instead (- for stdout); an existing <out> needs --force
  -f, --force            replace an existing <out>
  --rewrap               re-wrap the header for the policy's current keys and context instead:
                         only the header line changes (one Decrypt + one Encrypt per cloud key)
  --profile <name>, --endpoint <url>, -v, -h   as for seal
`;

export const UNSEAL_VALUES_HELP = `Usage: kms-envelope unseal --values <file> [-o <out>|-] [--force] [--context k=v ...]

Unseals every sealed value of a YAML, JSON/JSONC or .env file (one Decrypt for its kmsenv:f1:
records; one per standalone kmsenv:v1: value) and drops its header line, giving back the file as it
was before sealing, byte for byte. In place by default: the file then holds plaintext.

  -o, --output <out>     write to <out> instead (- for stdout); an existing <out> needs --force
  -c, --context <k=v>    require this entry in the header's encryption context (repeatable)
  --profile <name>, --endpoint <url>, -v, -h   as for unseal
`;

async function service(io: Io, values: { profile?: string; endpoint?: string; verbose?: boolean }) {
  const { ValuesService } = await import('../core/services/values-service.js');
  const popts = providerOptions(io, makeLogger(values.verbose), values);
  const providers = new Map<ProviderName, KmsProvider>();
  const recipients = async (refs: string[]): Promise<Recipient[]> => {
    const out: Recipient[] = [];
    for (const ref of refs) {
      const r = parseKeyRef(ref);
      let p = providers.get(r.provider);
      if (!p) providers.set(r.provider, (p = await buildProvider(io, r.provider, popts)));
      out.push({ provider: p, region: r.region, key: r.key });
    }
    return out;
  };
  return new ValuesService({ recipients, resolve: await providerResolverFor(io, popts) });
}

/** Where the text goes: stdout, the file itself, or another file (only replaced with --force). */
async function writeOut(io: Io, file: string, output: string | undefined, force: boolean, text: string): Promise<string> {
  if (output === '-') {
    io.stdout.write(text);
    return 'stdout';
  }
  const target = output ?? file;
  if (output !== undefined && path.resolve(output) !== path.resolve(file)) {
    const exists = await fsp.stat(output).then(
      () => true,
      () => false,
    );
    if (exists && !force)
      throw usageError(`${displayPath(output)} already exists.`, 'Pass --force to replace it, or choose another name with -o.', {
        file: output,
      });
  }
  const mode = await fsp.stat(target === file ? file : target).then(
    (s) => s.mode & 0o777,
    () => 0o600,
  );
  await writeFileAtomic(target, text, mode);
  return displayPath(target);
}

function one(positionals: string[], command: string): string {
  if (positionals.length !== 1 || positionals[0] === '-') {
    throw usageError(
      `${command} --values needs one file (the policy is found from its folder; stdin has none).`,
      `See \`${CLI} ${command} --help\`.`,
    );
  }
  return positionals[0]!;
}

/** The options both `seal --values` and `unseal --values` take. */
const VALUES_OPTIONS = {
  ...PROVIDER_OPTIONS,
  values: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  force: { type: 'boolean', short: 'f' },
} as const;

export async function sealValuesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { ...VALUES_OPTIONS, rewrap: { type: 'boolean' } }, 'seal');
  if (values.help) return (io.stdout.write(SEAL_VALUES_HELP), 0);
  const file = one(positionals, 'seal');
  const svc = await service(io, values);
  const name = displayPath(file);
  if (values.rewrap) {
    const r = await svc.rewrapText(file, await readText(file), { signal: io.signal });
    const where = await writeOut(io, file, values.output, !!values.force, r.text);
    io.stderr.write(`Re-wrapped the header of ${name} for ${r.keys.join(', ')} → ${where}; every value kept as it was.\n`);
    return 0;
  }
  const r = await svc.sealText(file, await readText(file), { signal: io.signal });
  if (!r.changed && values.output === undefined) {
    io.stderr.write(
      r.kept
        ? `Nothing to seal in ${name}: the ${r.kept} value${r.kept > 1 ? 's' : ''} the policy selects ${r.kept > 1 ? 'are' : 'is'} sealed already.\n`
        : `Nothing to seal in ${name}: the policy selects none of its values.\n`,
    );
    return 0;
  }
  const where = await writeOut(io, file, values.output, !!values.force, r.text);
  const keys = r.header?.recipients.map(recipientLabel).join(', ') ?? '';
  io.stderr.write(
    `Sealed ${r.sealed.length} value${r.sealed.length === 1 ? '' : 's'} of ${name}${r.sealed.length ? ` (${r.sealed.join(', ')})` : ''} for ${keys}${r.kept ? `; ${r.kept} already sealed, kept` : ''} → ${where}\n`,
  );
  return 0;
}

export async function unsealValuesCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      ...VALUES_OPTIONS,
      context: { type: 'string', short: 'c', multiple: true },
    },
    'unseal',
  );
  if (values.help) return (io.stdout.write(UNSEAL_VALUES_HELP), 0);
  const file = one(positionals, 'unseal');
  const svc = await service(io, values);
  const r = await svc.unsealText(file, await readText(file), { context: parseContext(values.context), signal: io.signal });
  const where = await writeOut(io, file, values.output, !!values.force, r.text);
  const n = r.records.length + r.standalone.length;
  io.stderr.write(`Unsealed ${n} value${n === 1 ? '' : 's'} of ${displayPath(file)} → ${where}\n`);
  if (where !== 'stdout' && (values.output === undefined || path.resolve(values.output) === path.resolve(file))) {
    io.stderr.write(`  ${displayPath(file)} now holds plaintext; seal it again with \`${CLI} seal --values ${file}\`.\n`);
  }
  return 0;
}

/** Largest text file searched for several sealed values by a plain `unseal`. */
const TEXT_LIMIT = 64 * 1024 * 1024;

/**
 * A plain `unseal` of a text file that holds several sealed values: standalone kmsenv:v1: values (one
 * Decrypt per distinct data key, through a cache made for this run: core/envelope/cache.ts) or values
 * sealed by policy (a kms-envelope header: one Decrypt). Returns the text with every value unsealed in
 * its place, or undefined when the file is something else (a blob, one armored value, stdin) for the
 * usual path to handle.
 */
export async function unsealTextValues(
  io: Io,
  file: string,
  label: string,
  resolve: ProviderResolver,
  context: Record<string, string>,
): Promise<{ bytes: Buffer; count: number } | undefined> {
  if (file === '-') return undefined;
  const st = await fsp.stat(file).catch(() => undefined);
  if (!st?.isFile() || st.size > TEXT_LIMIT) return undefined;
  const bytes = await fsp.readFile(file);
  const { sniffHead } = await import('../core/envelope/magic.js');
  if (sniffHead(bytes.subarray(0, 4096)) !== 'other') return undefined;
  const { HEADER_PREFIX, formatFromName, findPolicy, ruleFor } = await import('../core/values/index.js');
  if (bytes.includes(HEADER_PREFIX)) {
    const policy = formatFromName(file) ? undefined : await findPolicy(file);
    if (formatFromName(file) || (policy && ruleFor(policy, file)?.format)) {
      const { ValuesService } = await import('../core/services/values-service.js');
      const r = await new ValuesService({ resolve, recipients: async () => [] }).unsealText(file, bytes.toString('utf8'), {
        context,
        signal: io.signal,
      });
      return { bytes: Buffer.from(r.text, 'utf8'), count: r.records.length + r.standalone.length };
    }
  }
  const [{ scanArmored }, { dearmor }, { unsealBuffer }, { bulkUnsealMaterials }] = await Promise.all([
    import('../core/envelope/sniff.js'),
    import('../core/envelope/armor.js'),
    import('../core/envelope/engine.js'),
    import('../core/envelope/cache.js'),
  ]);
  const found = await scanArmored(
    (async function* () {
      yield bytes;
    })(),
    file,
  );
  if (found.length < 2) return undefined;
  const materials = bulkUnsealMaterials(resolve, io.signal);
  const parts: Buffer[] = [];
  let at = 0;
  for (const v of found) {
    const { plaintext } = await unsealBuffer(dearmor(v.text), { resolve, context, signal: io.signal, materials });
    parts.push(bytes.subarray(at, v.offset), plaintext);
    at = v.end;
  }
  parts.push(bytes.subarray(at));
  io.stderr.write(
    `${CLI}: unsealing ${found.length} armored values of ${displayPath(label)} (lines ${found.map((v) => v.line).join(', ')})\n`,
  );
  return { bytes: Buffer.concat(parts), count: found.length };
}

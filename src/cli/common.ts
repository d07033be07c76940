/**
 * Shared pieces of the `kms-envelope` command line: argument parsing on node:util's parseArgs,
 * error printing, provider construction and the one-time key-file warning.
 *
 * Why node:util parseArgs rather than commander/yargs: it is built into Node (no dependency, no
 * extra module to load, so `unseal` starts fast — the bench measures it), strict by default
 * (unknown options are errors) and supports repeated options (`--key`, `--context`).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KmsEnvelopeError, usageError } from '../core/errors';
import type { Logger } from '../core/log';
import { redactString, stderrLogger } from '../core/log';
import type { OpenOptions, ProviderResolver } from '../core/credentials/connect';
import type { CredentialService } from '../core/credentials/service';
import { displayPath, escapeControls } from '../core/paths';
import { cliStep } from './hints';

/** Text for a terminal: control and bidi characters escaped on each line, the line breaks kept. */
export function terminalSafe(s: string): string {
  return s
    .split('\n')
    .map((line) => escapeControls(line))
    .join('\n');
}
import { findProvider, providers } from '../core/kms/registry';
import type { EncryptionContext, KmsProvider, ProviderName } from '../core/kms/types';

export const CLI = 'kms-envelope';

/** Options every command accepts. */
export const GLOBAL_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  verbose: { type: 'boolean', short: 'v' },
  'key-file-dir': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** Options of every command that talks to a KMS. */
export const PROVIDER_OPTIONS = {
  profile: { type: 'string' },
  endpoint: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

type Options = NonNullable<ParseArgsConfig['options']>;

/** Unknown options that look like a secret being passed on the command line. */
const SECRETISH_OPTION = /secret|key|token|password|passwd|credential/i;

/**
 * parseArgs with our error style: unknown or malformed options are usage errors naming the command.
 * With `secretHint`, an unknown option that looks like a secret (`--secret-key=…`) is refused as
 * such, with that hint (how this command takes secrets instead); its value is never echoed.
 */
export function parse<O extends Options>(argv: string[], options: O, command: string, opts: { secretHint?: string } = {}) {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (err) {
    const opt = /'(-{1,2}[^'=\s]*)/.exec((err as Error).message)?.[1] ?? '';
    if (opts.secretHint && (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && SECRETISH_OPTION.test(opt))
      throw usageError(
        `${opt} is not an option: secrets are never taken from the command line (shell history, process list).`,
        opts.secretHint,
      );
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '.');
    throw usageError(msg, `See \`${CLI} ${command} --help\`.`);
  }
}

export interface Io {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
}

/** Prints an error as `kms-envelope: message` and `  → next step` (redacted); returns its exit code. */
export function printError(io: Io, err: unknown, verbose = false): number {
  if (err instanceof KmsEnvelopeError) {
    let message = err.message;
    const file = err.details.file;
    const shown = file && displayPath(file);
    // A raw name inside the message (a line break in it would forge a line) becomes its escaped form.
    if (file && shown !== file && message.includes(file)) message = message.split(file).join(shown);
    if (shown && !message.includes(shown) && err.kind !== 'credentials') message = `${shown}: ${message}`;
    io.stderr.write(`${CLI}: ${terminalSafe(redactString(message))}\n`);
    const hint = err.hintIn(cliStep);
    if (hint) io.stderr.write(`  → ${terminalSafe(redactString(hint))}\n`);
    if (verbose && err.cause instanceof Error) io.stderr.write(`  (cause: ${terminalSafe(err.cause.message)})\n`);
    return err.exitCode;
  }
  const e = err as Error;
  io.stderr.write(
    `${CLI}: internal error: ${terminalSafe(redactString(e?.message ?? String(err)))}\n  → Rerun with --verbose and report it with the command line you used (without secrets).\n`,
  );
  if (verbose && e?.stack) io.stderr.write(`${e.stack}\n`);
  return 1;
}

/** Logs on stderr, redacted: warnings always (an unreadable CLI config file, a key that could not be purged), debug with --verbose. */
export function makeLogger(verbose: boolean | undefined, out: NodeJS.WritableStream = process.stderr): Logger {
  return stderrLogger(verbose ? 'debug' : 'warn', out);
}

/** `--context k=v` (repeated) → a map; duplicates, empty keys and reserved names are usage errors. */
export function parseContext(values: string[] | undefined): EncryptionContext {
  const ctx: EncryptionContext = {};
  for (const v of values ?? []) {
    const eq = v.indexOf('=');
    if (eq <= 0)
      throw usageError(`--context "${v}" is not k=v.`, 'Write each context entry as --context key=value (repeat the option for more).');
    const k = v.slice(0, eq);
    if (k in ctx) throw usageError(`--context key "${k}" is given twice.`, 'Give each context key once.');
    if (k.startsWith('aws-crypto-'))
      throw usageError(`--context key "${k}" uses the reserved prefix aws-crypto-.`, 'Pick another key name.');
    ctx[k] = v.slice(eq + 1);
  }
  return ctx;
}

/** --provider: a registered provider name; without it, the first registered one (local). */
export function parseProviderName(v: string | undefined, fallback: ProviderName = providers()[0]!.name): ProviderName {
  if (v === undefined) return fallback;
  if (!findProvider(v))
    throw usageError(
      `Unknown provider "${v}".`,
      `Use --provider ${providers()
        .map((d) => d.name)
        .join(' | ')}.`,
    );
  return v;
}

/** Applies --key-file-dir: it sets the key-file variable (KMS_ENVELOPE_KEY_FILE_DIR) of every provider that has one. */
export function applyKeyFileDir(io: Io, dir: string | undefined): void {
  if (dir) for (const d of providers()) if (d.keyFiles) io.env[d.keyFiles.env] = path.resolve(dir);
}

const WARNED_MARKER = '.kms-envelope-key-files-warning-shown';

/**
 * When local key material lives in opt-in key files, say so on stderr once per key-file directory
 * (a marker file in the directory records that the warning was shown).
 */
export function warnKeyFilesOnce(io: Io, variable: string): void {
  const dir = io.env[variable];
  if (!dir) return;
  const marker = path.join(path.resolve(dir), WARNED_MARKER);
  if (existsSync(marker)) return;
  io.stderr.write(
    `${CLI}: warning: local key material is stored ON DISK in ${path.resolve(dir)} (${variable}), protected only by file permissions (0600).\n` +
      `  → Keep that directory out of backups and shared volumes; unset ${variable} to use the OS keychain. This warning is shown once.\n`,
  );
  try {
    mkdirSync(path.dirname(marker), { recursive: true, mode: 0o700 });
    writeFileSync(marker, 'The key-file warning was shown.\n', { mode: 0o600, flag: 'wx' });
  } catch {
    /* directory not created yet or read-only: warn again next time */
  }
}

export function providerOptions(io: Io, logger: Logger, values: { profile?: string; endpoint?: string }): OpenOptions {
  return { profile: values.profile, endpoint: values.endpoint, logger, env: io.env };
}

/**
 * The CLI's own credential service (OS keychain through keytar, profiles.json in the config
 * directory), built on first use: a local-only run never loads it.
 */
const credentialServices = new WeakMap<Io, Promise<CredentialService>>();
function cliCredentialService(io: Io, logger: Logger | undefined): Promise<CredentialService> {
  let s = credentialServices.get(io);
  if (!s) {
    s = import('../core/credentials/index.js').then((m) => m.createCliCredentialService({ env: io.env, logger }));
    credentialServices.set(io, s);
  }
  return s;
}

/** A provider for a command: its profile's credentials resolved here and handed to it. */
export async function buildProvider(io: Io, name: ProviderName, opts: OpenOptions): Promise<KmsProvider> {
  const keyFiles = findProvider(name)?.keyFiles;
  if (keyFiles) warnKeyFilesOnce(io, keyFiles.env);
  const { openProvider } = await import('../core/credentials/connect.js');
  return openProvider(() => cliCredentialService(io, opts.logger), name, opts);
}

/** The resolver `unseal` uses: each recipient's provider built once, through buildProvider. */
export async function providerResolverFor(io: Io, opts: OpenOptions): Promise<ProviderResolver> {
  const { providerResolver } = await import('../core/credentials/connect.js');
  return providerResolver((name) => buildProvider(io, name, opts));
}

export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** A plain text table: columns padded to their widest cell, no trailing spaces. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

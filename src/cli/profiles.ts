/**
 * `kms-envelope profiles …`: add, list, test, rotate and remove cloud profiles.
 *
 * Secrets are read from stdin (lines, when stdin is not a terminal) or prompted for without echo
 * (when it is); never from argv, where they would land in shell history and the process list.
 * Values given on the command line are never echoed back in errors unless they are known,
 * non-secret options (provider, name, region, endpoint).
 *
 * Exit codes: 0 ok, 1 usage, 3 provider, 4 credentials (src/core/errors.ts EXIT_CODES).
 */
import * as readline from 'node:readline';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { createCliCredentialService } from '../core/credentials/index';
import { checkProfileName, checkProvider, credentialProviders, type CredentialService } from '../core/credentials/service';
import type { CloudCredentials, ProfileInfo } from '../core/credentials/types';
import { providerDescriptor } from '../core/kms/registry';
import type { Env, ProviderName } from '../core/kms/types';
import { testProfile, type CreateProviderFn } from '../core/credentials/test-profile';
import { CancelledError, KmsEnvelopeError, usageError } from '../core/errors';
import { redact, redactString, type Logger } from '../core/log';

/** Injectable I/O, for tests and for embedding; every field defaults to the process's own. */
export interface ProfilesIo {
  stdin?: NodeJS.ReadableStream;
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Whether stdin is a terminal (prompt without echo) or a pipe (read lines). */
  isTTY?: boolean;
  env?: Env;
  service?: CredentialService;
  createProvider?: CreateProviderFn;
  logger?: Logger;
  /** Timeout of `profiles test` in ms (default 30 000). */
  testTimeoutMs?: number;
}

const USAGE = `Usage: kms-envelope profiles <command> [options]

Commands:
  add     --provider <${credentialProviders().join('|')}> --name <n> [--region <r> ...] [--endpoint <url>]
          [--sts [--expiration <iso-date>]] [--replace] [--test]
          Reads the key id and the secret (and with --sts the session token) as lines on
          stdin, or prompts for them without echo in a terminal. Never pass them as arguments.
  list    [--provider <p>] [--json]        Profiles (stored and discovered), without secrets.
  test    [--name <n>] [--provider <p>]    Calls the provider's region list with the profile.
  rotate  --provider <p> --name <n> [--sts [--expiration <iso-date>]]
          Replaces the secret of a stored profile (read like "add").
  remove  --name <n> [--provider <p>]      Removes a stored profile and its keychain entry.

--profile is accepted as a synonym of --name.
Secrets live only in the OS keychain (service "kms-envelope", account "<provider>:<name>").
Discovered profiles (environment variables, ~/.tccli, ~/.aliyun/config.json) are read-only.
Exit codes: 0 ok, 1 usage, 3 provider error, 4 credentials error.`;

const OPTIONS = {
  provider: { type: 'string' },
  name: { type: 'string' },
  profile: { type: 'string' },
  region: { type: 'string', multiple: true },
  endpoint: { type: 'string' },
  sts: { type: 'boolean' },
  expiration: { type: 'string' },
  replace: { type: 'boolean' },
  test: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const SECRETISH_OPTION = /secret|key|token|password|passwd|credential/i;

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const m = /'(-{1,2}[^'=\s]*)/.exec((err as Error).message);
    const opt = m?.[1] ?? '';
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && SECRETISH_OPTION.test(opt)) {
      throw usageError(
        `${opt} is not an option: secrets are never taken from the command line (shell history, process list).`,
        'Pipe them on stdin, one per line: printf \'%s\\n%s\\n\' "$ID" "$SECRET" | kms-envelope profiles add --provider <p> --name <n>, or run it in a terminal to be prompted.',
      );
    }
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw usageError(`Unknown option ${opt}.`, 'See `kms-envelope profiles --help`.');
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE')
      throw usageError(`Option ${opt} needs a value.`, 'See `kms-envelope profiles --help`.');
    throw usageError('The arguments could not be parsed.', 'See `kms-envelope profiles --help`.');
  }
}

function writerLogger(out: NodeJS.WritableStream, level: 'warn' | 'info' | 'debug'): Logger {
  const order = ['trace', 'debug', 'info', 'warn', 'error'];
  const min = order.indexOf(level);
  const emit =
    (lvl: string) =>
    (message: string | Error, ...args: unknown[]) => {
      if (order.indexOf(lvl) < min) return;
      const text = message instanceof Error ? message.message : message;
      const extra = args.length ? ' ' + args.map((a) => JSON.stringify(redact(a))).join(' ') : '';
      out.write(`[${lvl}] ${redactString(text)}${extra}\n`);
    };
  return { trace: emit('trace'), debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** Reads answers one after another from one readline interface (TTY: prompts, hidden when asked). */
class Asker {
  private rl: readline.Interface;
  private muted = false;
  private lines: string[] = [];
  private waiting?: { resolve: (s: string) => void; reject: (e: Error) => void };
  private closed = false;

  constructor(private readonly io: { stdin: NodeJS.ReadableStream; stderr: NodeJS.WritableStream; isTTY: boolean }) {
    const stderr = io.stderr;
    const isMuted = () => this.muted;
    const output = new Writable({
      write(chunk, _enc, cb) {
        if (!isMuted()) stderr.write(chunk);
        cb();
      },
    });
    this.rl = readline.createInterface({ input: io.stdin, output: io.isTTY ? output : undefined, terminal: io.isTTY });
    this.rl.on('line', (line) => {
      const w = this.waiting;
      if (w) {
        this.waiting = undefined;
        w.resolve(line);
      } else this.lines.push(line);
    });
    this.rl.on('close', () => {
      this.closed = true;
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(io.isTTY ? new CancelledError('Cancelled: the input was closed.') : new Error('eof'));
    });
    this.rl.on('SIGINT', () => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(new CancelledError());
      this.rl.close();
    });
  }

  async ask(prompt: string, hidden: boolean): Promise<string | undefined> {
    if (this.io.isTTY) {
      // Mute first: the prompt goes straight to stderr, and typed characters must never be echoed.
      this.muted = hidden;
      this.io.stderr.write(prompt);
    }
    try {
      const queued = this.lines.shift();
      if (queued !== undefined) return queued;
      if (this.closed) return undefined;
      return await new Promise<string>((resolve, reject) => (this.waiting = { resolve, reject }));
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      return undefined;
    } finally {
      if (this.io.isTTY && hidden) {
        this.muted = false;
        this.io.stderr.write('\n');
      }
    }
  }

  close(): void {
    this.rl.close();
  }
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** Reads the provider's credential parts (its descriptor's, in order), one line each; `file` parts are paths. */
async function readCredentials(
  io: { stdin: NodeJS.ReadableStream; stderr: NodeJS.WritableStream; isTTY: boolean },
  provider: ProviderName,
  sts: boolean,
  expiration: string | undefined,
): Promise<CloudCredentials> {
  const parts = providerDescriptor(provider).credentials!.parts.filter((p) => !p.temporary || sts);
  const asker = new Asker(io);
  try {
    const out: Record<string, string> = {};
    let got = 0;
    for (const p of parts) {
      const line = await asker.ask(
        `${capital(p.label)}${p.input === 'file' ? ' (path of the file)' : ''}${p.secret ? ' (hidden)' : ''}: `,
        p.secret,
      );
      if (line === undefined) break;
      got++;
      const v = line.trim();
      if (v) out[p.key] = p.input === 'file' ? await readPartFile(p.label, v) : v;
    }
    if (got < parts.length) {
      throw usageError(
        `Expected ${parts.length} lines on stdin (${parts.map((p) => capital(p.label)).join(', ')}), got ${got}.`,
        `Pipe them one per line, e.g. printf '%s\\n%s\\n' "$ID" "$SECRET" | kms-envelope profiles add --provider ${provider} --name <n>.`,
      );
    }
    return { ...out, ...(expiration ? { expiration } : {}) };
  } finally {
    asker.close();
  }
}

/** The text of a file a credential part names (never quoted back in a message). */
async function readPartFile(label: string, file: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw usageError(`Cannot read the ${label} file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}).`, 'Check the path.');
  }
}

function pad(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

function kindText(p: ProfileInfo, now: number): string {
  if (p.kind !== 'sts') return 'long-term';
  if (!p.expiration) return 'sts';
  return Date.parse(p.expiration) <= now ? `sts (EXPIRED ${p.expiration})` : `sts (until ${p.expiration})`;
}

function optionalProvider(p: string | undefined): ProviderName | undefined {
  return p === undefined ? undefined : checkProvider(p);
}

/** Entry point, dispatched from src/cli/main.ts for `kms-envelope profiles …`. Returns the exit code. */
export async function profilesMain(argv: string[], ioIn: ProfilesIo = {}): Promise<number> {
  const stdout = ioIn.stdout ?? process.stdout;
  const stderr = ioIn.stderr ?? process.stderr;
  const env = ioIn.env ?? {};
  const logger = ioIn.logger ?? writerLogger(stderr, env.KMS_ENVELOPE_DEBUG ? 'debug' : 'warn');
  try {
    const { values, positionals } = parse(argv);
    const [command, ...rest] = positionals;
    if (values.help || command === 'help' || command === undefined) {
      (command === undefined && !values.help ? stderr : stdout).write(USAGE + '\n');
      return command === undefined && !values.help ? 1 : 0;
    }
    if (rest.length) {
      // Never echo stray arguments: one of them may be a secret typed by mistake.
      throw usageError(
        `Unexpected argument #${positionals.length} after "profiles ${command}".`,
        'Options start with --; secrets are read from stdin. See `kms-envelope profiles --help`.',
      );
    }
    if (values.name !== undefined && values.profile !== undefined && values.name !== values.profile) {
      throw usageError('--name and --profile name different profiles.', 'Give one of them.');
    }
    const name = values.name ?? values.profile;
    const service = ioIn.service ?? createCliCredentialService({ env, logger });
    const io = { stdin: ioIn.stdin ?? process.stdin, stderr, isTTY: ioIn.isTTY ?? !!(process.stdin as { isTTY?: boolean }).isTTY };

    switch (command) {
      case 'add': {
        const provider = checkProvider(values.provider);
        const profileName = checkProfileName(name);
        if (values.expiration && !values.sts) throw usageError('--expiration applies to temporary keys only.', 'Add --sts.');
        const existing = (await service.listProfiles(provider)).find((p) => p.name === profileName && p.source === 'keychain');
        if (existing && !values.replace) {
          throw usageError(
            `A ${provider} profile named ${profileName} already exists.`,
            `Rotate its secret (\`kms-envelope profiles rotate --provider ${provider} --name ${profileName}\`), or pass --replace.`,
            { provider, profile: profileName },
          );
        }
        const creds = await readCredentials(io, provider, !!values.sts, values.expiration);
        const info = await service.addProfile(
          { provider, name: profileName, regions: values.region, endpoint: values.endpoint, kind: values.sts ? 'sts' : 'long-term' },
          creds,
          { replace: !!values.replace },
        );
        stdout.write(
          `Saved ${provider} profile ${info.name} (key ${info.keyIdHint}); the secret is in ${service.secretStore.description}.\n`,
        );
        if (values.test) return await testProfiles(service, ioIn, logger, env, stdout, stderr, provider, info.name);
        stdout.write(`Check it: kms-envelope profiles test --provider ${provider} --name ${info.name}\n`);
        return 0;
      }
      case 'rotate': {
        const provider = checkProvider(values.provider);
        const profileName = checkProfileName(name);
        if (values.expiration && !values.sts) throw usageError('--expiration applies to temporary keys only.', 'Add --sts.');
        // Explains a read-only (discovered) or missing profile before asking for a secret.
        await service.assertStored(provider, profileName, 'rotate');
        const creds = await readCredentials(io, provider, !!values.sts, values.expiration);
        const info = await service.rotateSecret(provider, profileName, creds, { kind: values.sts ? 'sts' : 'long-term' });
        stdout.write(`Rotated the secret of ${provider} profile ${info.name} (key ${info.keyIdHint}).\n`);
        return 0;
      }
      case 'list': {
        const provider = optionalProvider(values.provider);
        const list = await service.listProfiles(provider);
        if (values.json) {
          stdout.write(JSON.stringify(list, null, 2) + '\n');
          return 0;
        }
        if (!list.length) {
          stdout.write(
            `No profiles${provider ? ` for ${provider}` : ''}. Add one: kms-envelope profiles add --provider ${provider ?? `<${credentialProviders().join('|')}>`} --name default\n`,
          );
          return 0;
        }
        const now = Date.now();
        const rows = [['PROVIDER', 'NAME', 'SOURCE', 'KIND', 'KEY ID', 'REGIONS', 'ENDPOINT']];
        for (const p of list)
          rows.push([p.provider, p.name, p.source, kindText(p, now), p.keyIdHint ?? '', p.regions?.join(',') ?? '', p.endpoint ?? '']);
        stdout.write(pad(rows));
        return 0;
      }
      case 'test': {
        const provider = optionalProvider(values.provider);
        if (name !== undefined) checkProfileName(name);
        return await testProfiles(service, ioIn, logger, env, stdout, stderr, provider, name);
      }
      case 'remove': {
        const profileName = checkProfileName(name);
        let provider = optionalProvider(values.provider);
        if (!provider) {
          const stored = (await service.listProfiles()).filter((p) => p.name === profileName && p.source === 'keychain');
          if (stored.length !== 1) {
            throw usageError(
              stored.length
                ? `Profiles named ${profileName} exist for ${stored.map((p) => p.provider).join(' and ')}.`
                : `There is no stored profile named ${profileName}.`,
              stored.length ? 'Say which: --provider <p>.' : 'See `kms-envelope profiles list`.',
            );
          }
          provider = stored[0].provider;
        }
        await service.removeProfile(provider, profileName);
        stdout.write(`Removed ${provider} profile ${profileName} and its secret from ${service.secretStore.description}.\n`);
        return 0;
      }
      default:
        throw usageError(
          `Unknown command "profiles ${command}".`,
          'Commands: add, list, test, rotate, remove (kms-envelope profiles --help).',
        );
    }
  } catch (err) {
    return report(err, stderr);
  }
}

function report(err: unknown, stderr: NodeJS.WritableStream): number {
  if (err instanceof KmsEnvelopeError) {
    stderr.write(`kms-envelope: ${redactString(err.describe())}\n`);
    return err.exitCode;
  }
  stderr.write(`kms-envelope: ${redactString(err instanceof Error ? err.message : String(err))}\n`);
  return 1;
}

async function testProfiles(
  service: CredentialService,
  ioIn: ProfilesIo,
  logger: Logger,
  env: Env,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
  provider: ProviderName | undefined,
  name: string | undefined,
): Promise<number> {
  // Which profiles: the one resolved per provider (explicit name, or the default precedence).
  const providers = provider ? [provider] : credentialProviders();
  const targets: Array<{ provider: ProviderName; name?: string }> = [];
  for (const p of providers) {
    if (name === undefined) {
      if (provider) targets.push({ provider: p });
      else
        for (const info of await service.listProfiles(p)) {
          if (!targets.some((t) => t.provider === p && t.name === info.name)) targets.push({ provider: p, name: info.name });
        }
    } else if (provider || (await service.getProfile(p, name))) targets.push({ provider: p, name });
  }
  if (!targets.length) {
    throw usageError(
      name ? `There is no profile named ${name}.` : 'There are no profiles to test.',
      'See `kms-envelope profiles list`, or add one: `kms-envelope profiles add --provider <p> --name <n>`.',
    );
  }
  const create = ioIn.createProvider ?? (await import('../core/kms/registry.js')).createProvider;
  let code = 0;
  for (const t of targets) {
    const rc = await testOne(service, create, logger, env, stdout, stderr, t.provider, t.name, ioIn.testTimeoutMs ?? 30_000);
    if (rc !== 0 && code === 0) code = rc;
  }
  return code;
}

async function testOne(
  service: CredentialService,
  create: CreateProviderFn,
  logger: Logger,
  env: Env,
  stdout: NodeJS.WritableStream,
  stderr: NodeJS.WritableStream,
  provider: ProviderName,
  name: string | undefined,
  timeoutMs: number,
): Promise<number> {
  const r = await testProfile(service, create, provider, name, { logger, env, timeoutMs });
  const label = `${provider}/${r.profile?.name ?? name ?? 'default'}${r.profile ? ` (${r.profile.source})` : ''}`;
  if (r.ok) {
    const where = r.profile?.endpoint ? ` at ${r.profile.endpoint}` : '';
    stdout.write(`OK    ${label}: answered with ${r.regions!.length} regions${where}.\n`);
    return 0;
  }
  const e = r.error;
  if (e instanceof KmsEnvelopeError) {
    stderr.write(`FAIL  ${label}: ${redactString(e.describe())}\n`);
    return e.exitCode;
  }
  const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
  stderr.write(
    `FAIL  ${label}: ${timedOut ? `no answer within ${timeoutMs / 1000} s` : redactString(e instanceof Error ? e.message : String(e))}\n` +
      `  → Check the endpoint${r.profile?.endpoint ? ` (${r.profile.endpoint})` : ''} and the network, then run the test again.\n`,
  );
  return 3;
}

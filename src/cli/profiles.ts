/**
 * `kms-envelope profiles …`: add, list, test, rotate and remove cloud profiles. Parsed, helped,
 * tabled and reported through common.ts like every other subcommand (errors are thrown to the
 * caller, which prints them with printError and exits with their code).
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
import { createCliCredentialService } from '../core/credentials/index';
import { checkProfileName, checkProvider, credentialProviders, type CredentialService, type NewProfile } from '../core/credentials/service';
import type { CloudCredentials, ProfileInfo } from '../core/credentials/types';
import { providerDescriptor, providers } from '../core/kms/registry';
import type { ProviderName } from '../core/kms/types';
import { testCredentials, testProfile, type CreateProviderFn } from '../core/credentials/test-profile';
import { CancelledError, KmsEnvelopeError, usageError } from '../core/errors';
import { redactString, type Logger } from '../core/log';
import { CLI, makeLogger, parse, table, type Io } from './common';
import { cliStep } from './hints';
import { HELP } from './help';

/** What tests and embedders may hand in instead of the defaults (keychain service, registry, 30 s). */
export interface ProfilesDeps {
  service?: CredentialService;
  createProvider?: CreateProviderFn;
  /** Timeout of `profiles test` in ms (default 30 000). */
  testTimeoutMs?: number;
}

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
  'save-anyway': { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

const SECRET_HINT = `Pipe them on stdin, one per line: printf '%s\\n%s\\n' "$ID" "$SECRET" | ${CLI} profiles add --provider <p> --name <n>, or run it in a terminal to be prompted.`;

/** Options that give a credential part on the command line (`--ca-file`), from every provider's parts. */
function partFlags(): Record<string, { type: 'string' }> {
  const out: Record<string, { type: 'string' }> = {};
  for (const d of providers()) for (const p of d.credentials?.parts ?? []) if (p.flag && !p.secret) out[p.flag] = { type: 'string' };
  return out;
}

type Values = ReturnType<typeof parse<typeof OPTIONS>>['values'] & Record<string, unknown>;

/** `--provider alibaba --instance-endpoint …` names the provider that is that variant of alibaba. */
function providerOf(values: Values): ProviderName {
  const variant = providers().find((d) => d.variantOf?.provider === values.provider && values[d.variantOf?.flag ?? ''] !== undefined);
  return checkProvider(variant?.name ?? values.provider);
}

/** One run of a profiles action: parsed options, the service, and where output goes. */
interface Run {
  io: Io;
  values: Values;
  /** --name or --profile. */
  name?: string;
  service: CredentialService;
  deps: ProfilesDeps;
  logger: Logger;
}

interface AskerIo {
  stdin: NodeJS.ReadableStream;
  stderr: NodeJS.WritableStream;
  isTTY: boolean;
  /** Ctrl-C outside a terminal (SIGINT, from main.ts): stop waiting for input. */
  signal?: AbortSignal;
}

/** Reads answers one after another from one readline interface (TTY: prompts, hidden when asked). */
class Asker {
  private rl: readline.Interface;
  private muted = false;
  private lines: string[] = [];
  private waiting?: { resolve: (s: string) => void; reject: (e: Error) => void };
  private closed = false;

  constructor(private readonly io: AskerIo) {
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
    const cancel = () => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.reject(new CancelledError());
      this.rl.close();
    };
    this.rl.on('SIGINT', cancel);
    io.signal?.addEventListener('abort', cancel, { once: true });
    this.rl.on('close', () => io.signal?.removeEventListener('abort', cancel));
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
  io: AskerIo,
  provider: ProviderName,
  sts: boolean,
  expiration: string | undefined,
  flags: Record<string, unknown> = {},
): Promise<CloudCredentials> {
  const all = providerDescriptor(provider).credentials!.parts.filter((p) => !p.temporary || sts);
  // Parts given as options (--ca-file …) are not asked for.
  const given: Record<string, string> = {};
  for (const p of all) {
    const v = p.flag ? flags[p.flag] : undefined;
    if (typeof v === 'string') given[p.key] = p.input === 'file' ? await readPartFile(p.label, v) : v;
  }
  const parts = all.filter((p) => given[p.key] === undefined);
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
    // Trailing optional parts may be left out (stdin ends first).
    const needed = parts.length - [...parts].reverse().findIndex((p) => !p.optional);
    if (got < Math.min(parts.length, needed)) {
      throw usageError(
        `Expected ${parts.length} lines on stdin (${parts.map((p) => capital(p.label)).join(', ')}), got ${got}.`,
        `Pipe them one per line, e.g. printf '%s\\n%s\\n' "$ID" "$SECRET" | ${CLI} profiles add --provider ${provider} --name <n>.`,
      );
    }
    return { ...given, ...out, ...(expiration ? { expiration } : {}) };
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

function kindText(p: ProfileInfo, now: number): string {
  if (p.kind !== 'sts') return 'long-term';
  if (!p.expiration) return 'sts';
  return Date.parse(p.expiration) <= now ? `sts (EXPIRED ${p.expiration})` : `sts (until ${p.expiration})`;
}

function optionalProvider(p: string | undefined): ProviderName | undefined {
  return p === undefined ? undefined : checkProvider(p);
}

const stdinOf = (io: Io): AskerIo => ({ stdin: io.stdin, stderr: io.stderr, isTTY: !!io.stdin.isTTY, signal: io.signal });

function checkExpiration(values: Values): void {
  if (values.expiration && !values.sts) throw usageError('--expiration applies to temporary keys only.', 'Add --sts.');
}

async function add(r: Run): Promise<number> {
  const { io, values, service } = r;
  const provider = providerOf(values);
  const profileName = checkProfileName(r.name);
  checkExpiration(values);
  const existing = (await service.listProfiles(provider)).find((p) => p.name === profileName && p.source === 'keychain');
  if (existing && !values.replace) {
    throw usageError(
      `A ${provider} profile named ${profileName} already exists.`,
      `Rotate its secret (\`${CLI} profiles rotate --provider ${provider} --name ${profileName}\`), or pass --replace.`,
      { provider, profile: profileName },
    );
  }
  if (values['save-anyway'] && !values.test)
    throw usageError('--save-anyway applies to --test only.', 'Add --test, or drop --save-anyway.');
  const creds = await readCredentials(stdinOf(io), provider, !!values.sts, values.expiration, values);
  const draft = {
    provider,
    name: profileName,
    regions: values.region,
    endpoint: values.endpoint,
    kind: values.sts ? 'sts' : 'long-term',
  } as const;
  // --test tries the credentials BEFORE anything is stored: a mistyped secret is not saved.
  const failed = values.test ? await testDraft(r, draft, creds) : 0;
  if (failed && !values['save-anyway']) {
    io.stderr.write(
      `Not saved: the test of ${provider} profile ${profileName} failed, so nothing was stored.\n` +
        `  → Fix what the test names, then run the same \`${CLI} profiles add\` again; --save-anyway keeps a profile whose test fails.\n`,
    );
    return failed;
  }
  const info = await service.addProfile(draft, creds, { replace: !!values.replace });
  io.stdout.write(
    `Saved ${provider} profile ${info.name}${info.keyIdHint ? ` (key ${info.keyIdHint})` : ''}${failed ? ' although its test failed (--save-anyway)' : ''}; the secret is in ${service.secretStore.description}.\n`,
  );
  if (!values.test) io.stdout.write(`Check it: ${CLI} profiles test --provider ${provider} --name ${info.name}\n`);
  return failed;
}

/** `profiles add --test`: the region list with credentials not stored yet; prints OK/FAIL like `profiles test`. */
async function testDraft(r: Run, draft: NewProfile & { provider: ProviderName }, creds: CloudCredentials): Promise<number> {
  const d = r.service.draftProfile(draft, creds);
  const create = r.deps.createProvider ?? (await import('../core/kms/registry.js')).createProvider;
  const timeoutMs = r.deps.testTimeoutMs ?? 30_000;
  const t = await testCredentials(create, draft.provider, d, async () => d.credentials, {
    logger: r.logger,
    env: r.io.env,
    timeoutMs,
    signal: r.io.signal,
  });
  return printTest(r, `${draft.provider}/${d.name} (not saved yet)`, { ...t, profile: { endpoint: d.endpoint } }, timeoutMs);
}

async function rotate(r: Run): Promise<number> {
  const { io, values, service } = r;
  const provider = providerOf(values);
  const profileName = checkProfileName(r.name);
  checkExpiration(values);
  // Explains a read-only (discovered) or missing profile before asking for a secret.
  await service.assertStored(provider, profileName, 'rotate');
  const creds = await readCredentials(stdinOf(io), provider, !!values.sts, values.expiration, values);
  const info = await service.rotateSecret(provider, profileName, creds, { kind: values.sts ? 'sts' : 'long-term' });
  io.stdout.write(`Rotated the secret of ${provider} profile ${info.name} (key ${info.keyIdHint}).\n`);
  return 0;
}

async function list(r: Run): Promise<number> {
  const { io, values } = r;
  const provider = optionalProvider(values.provider);
  const profiles = await r.service.listProfiles(provider);
  if (values.json) {
    io.stdout.write(JSON.stringify(profiles, null, 2) + '\n');
  } else if (!profiles.length) {
    io.stdout.write(
      `No profiles${provider ? ` for ${provider}` : ''}. Add one: ${CLI} profiles add --provider ${provider ?? `<${credentialProviders().join('|')}>`} --name default\n`,
    );
  } else {
    const now = Date.now();
    const rows = profiles.map((p) => [
      p.provider,
      p.name,
      p.source,
      kindText(p, now),
      p.keyIdHint ?? '',
      p.regions?.join(',') ?? '',
      p.endpoint ?? '',
    ]);
    io.stdout.write(table(['PROVIDER', 'NAME', 'SOURCE', 'KIND', 'KEY ID', 'REGIONS', 'ENDPOINT'], rows));
  }
  return 0;
}

async function test(r: Run): Promise<number> {
  const provider = optionalProvider(r.values.provider);
  if (r.name !== undefined) checkProfileName(r.name);
  return testProfiles(r, provider, r.name);
}

async function remove(r: Run): Promise<number> {
  const profileName = checkProfileName(r.name);
  let provider = optionalProvider(r.values.provider);
  if (!provider) {
    const stored = (await r.service.listProfiles()).filter((p) => p.name === profileName && p.source === 'keychain');
    if (stored.length !== 1) {
      throw usageError(
        stored.length
          ? `Profiles named ${profileName} exist for ${stored.map((p) => p.provider).join(' and ')}.`
          : `There is no stored profile named ${profileName}.`,
        stored.length ? 'Say which: --provider <p>.' : `See \`${CLI} profiles list\`.`,
      );
    }
    provider = stored[0].provider;
  }
  await r.service.removeProfile(provider, profileName);
  r.io.stdout.write(`Removed ${provider} profile ${profileName} and its secret from ${r.service.secretStore.description}.\n`);
  return 0;
}

const ACTIONS: Record<string, (r: Run) => Promise<number>> = { add, list, test, rotate, remove };

/** Entry point, dispatched from src/cli/main.ts for `kms-envelope profiles …`. Returns the exit code; throws usage/other errors. */
export async function profilesCommand(argv: string[], io: Io, deps: ProfilesDeps = {}): Promise<number> {
  const action = argv[0];
  if (!action || action === '--help' || action === '-h' || action === 'help') {
    (action ? io.stdout : io.stderr).write(HELP.profiles);
    return action ? 0 : 1;
  }
  const run = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
  if (!run)
    throw usageError(`Unknown command "profiles ${action}".`, `Commands: ${Object.keys(ACTIONS).join(', ')} (\`${CLI} profiles --help\`).`);
  const { values, positionals } = parse(argv.slice(1), { ...OPTIONS, ...partFlags() }, `profiles ${action}`, { secretHint: SECRET_HINT });
  if (values.help) return (io.stdout.write(HELP.profiles), 0);
  if (positionals.length) {
    // Never echo stray arguments: one of them may be a secret typed by mistake.
    throw usageError(
      `Unexpected argument #${positionals.length + 1} after "profiles ${action}".`,
      `Options start with --; secrets are read from stdin. See \`${CLI} profiles --help\`.`,
    );
  }
  if (values.name !== undefined && values.profile !== undefined && values.name !== values.profile)
    throw usageError('--name and --profile name different profiles.', 'Give one of them.');
  const logger = makeLogger(values.verbose, io.stderr);
  const service = deps.service ?? createCliCredentialService({ env: io.env, logger });
  return run({ io, values, name: values.name ?? values.profile, service, deps, logger });
}

/** Tests the profile resolved per provider (explicit name, or the default precedence), or every profile. */
async function testProfiles(r: Run, provider: ProviderName | undefined, name: string | undefined): Promise<number> {
  const providers = provider ? [provider] : credentialProviders();
  const targets: Array<{ provider: ProviderName; name?: string }> = [];
  for (const p of providers) {
    if (name === undefined) {
      if (provider) targets.push({ provider: p });
      else
        for (const info of await r.service.listProfiles(p)) {
          if (!targets.some((t) => t.provider === p && t.name === info.name)) targets.push({ provider: p, name: info.name });
        }
    } else if (provider || (await r.service.getProfile(p, name))) targets.push({ provider: p, name });
  }
  if (!targets.length) {
    throw usageError(
      name ? `There is no profile named ${name}.` : 'There are no profiles to test.',
      `See \`${CLI} profiles list\`, or add one: \`${CLI} profiles add --provider <p> --name <n>\`.`,
    );
  }
  const create = r.deps.createProvider ?? (await import('../core/kms/registry.js')).createProvider;
  let code = 0;
  for (const t of targets) {
    const rc = await testOne(r, create, t.provider, t.name);
    if (rc !== 0 && code === 0) code = rc;
  }
  return code;
}

/** One profile: `OK    provider/name (source): …` on stdout, or `FAIL  …` and the next step on stderr. */
async function testOne(r: Run, create: CreateProviderFn, provider: ProviderName, name: string | undefined): Promise<number> {
  const timeoutMs = r.deps.testTimeoutMs ?? 30_000;
  const t = await testProfile(r.service, create, provider, name, { logger: r.logger, env: r.io.env, timeoutMs, signal: r.io.signal });
  const label = `${provider}/${t.profile?.name ?? name ?? 'default'}${t.profile ? ` (${t.profile.source})` : ''}`;
  return printTest(r, label, t, timeoutMs);
}

/** `OK    label: …` on stdout, or `FAIL  label: …` and the next step on stderr; the exit code. */
function printTest(
  r: Run,
  label: string,
  t: { ok: boolean; regions?: string[]; error?: unknown; profile?: { endpoint?: string } },
  timeoutMs: number,
): number {
  if (t.ok) {
    const where = t.profile?.endpoint ? ` at ${t.profile.endpoint}` : '';
    r.io.stdout.write(`OK    ${label}: answered with ${t.regions!.length} regions${where}.\n`);
    return 0;
  }
  const e = t.error;
  if (r.io.signal.aborted) throw new CancelledError();
  if (e instanceof KmsEnvelopeError) {
    r.io.stderr.write(`FAIL  ${label}: ${redactString(e.describe(cliStep))}\n`);
    return e.exitCode;
  }
  const timedOut = e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError');
  r.io.stderr.write(
    `FAIL  ${label}: ${timedOut ? `no answer within ${timeoutMs / 1000} s` : redactString(e instanceof Error ? e.message : String(e))}\n` +
      `  → Check the endpoint${t.profile?.endpoint ? ` (${t.profile.endpoint})` : ''} and the network, then run the test again.\n`,
  );
  return 3;
}

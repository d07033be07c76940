/**
 * `kms-envelope exec --env <file> [--env <file> ...] -- <command> [args]`: runs a command with the
 * unsealed values of config files in its environment.
 *
 * - The plaintext exists only in this process's memory and in the child's environment: no temp file,
 *   no argument list (the process list shows `exec --env app.env -- node server.js`).
 * - Each file: one Decrypt for its sealed values (`.env`: every variable; YAML/JSON: the top-level keys;
 *   core/values/env.ts); later files win over earlier ones, and both over the inherited environment.
 * - The command's exit code is passed through; a command killed by a signal gives 128 + its number.
 * - SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 received here are forwarded to the command;
 *   before it runs, SIGINT/SIGTERM cancel the unsealing (exit 130).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { CancelledError, KmsEnvelopeError, usageError } from '../core/errors';
import { CLI, PROVIDER_OPTIONS, makeLogger, parse, parseContext, providerOptions, providerResolverFor, type Io } from './common';

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export const EXEC_HELP = `Usage: kms-envelope exec --env <file> [--env <file> ...] [--context k=v ...] -- <command> [args ...]

Runs <command> with the values of config files in its environment, their sealed values unsealed in
memory: nothing decrypted is written to disk or put on a command line.

  -e, --env <file>       a .env, YAML or JSON file (repeatable; later files win). .env: every
                         variable as dotenv reads it; YAML/JSON: the top-level keys (strings as
                         they are, numbers as written, maps and lists as JSON)
  -c, --context <k=v>    require this encryption context entry in every file's header (repeatable)
  --profile <name>, --endpoint <url>, -v, -h  as for unseal

One KMS call (Decrypt) per file. The exit code is the command's (128 + n if it was killed by signal n);
SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 are passed on to it.
Example:
  kms-envelope exec --env config/app.env --env config/values.yaml -- node server.js
`;

export async function execCommand(argv: string[], io: Io): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const { values, positionals } = parse(
    own,
    { ...PROVIDER_OPTIONS, env: { type: 'string', short: 'e', multiple: true }, context: { type: 'string', short: 'c', multiple: true } },
    'exec',
  );
  if (values.help) return (io.stdout.write(EXEC_HELP), 0);
  const command = dash < 0 ? [] : argv.slice(dash + 1);
  if (positionals.length) {
    throw usageError(
      `exec takes its command after "--" (got ${JSON.stringify(positionals[0])} before it).`,
      `e.g. \`${CLI} exec --env app.env -- node server.js\`.`,
    );
  }
  if (!command.length) throw usageError('exec needs a command after "--".', `e.g. \`${CLI} exec --env app.env -- node server.js\`.`);
  if (!values.env?.length)
    throw usageError('exec needs at least one --env <file>.', `e.g. \`${CLI} exec --env app.env -- ${command.join(' ')}\`.`);
  const context = parseContext(values.context);

  // Until the command runs, a signal cancels the unsealing; afterwards it goes to the command.
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  io.signal.addEventListener('abort', onAbort);
  const cancel = () => ctl.abort(new CancelledError());
  for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, cancel);
  let env: NodeJS.ProcessEnv;
  try {
    env = { ...io.env, ...(await unsealedEnv(io, values, values.env, context, ctl.signal)) };
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, cancel);
  }
  if (ctl.signal.aborted) throw new CancelledError();
  return run(command, env);
}

async function unsealedEnv(
  io: Io,
  values: { profile?: string; endpoint?: string; verbose?: boolean },
  files: string[],
  context: Record<string, string>,
  signal: AbortSignal,
): Promise<Record<string, string>> {
  const { ValuesService } = await import('../core/services/values-service.js');
  const resolve = await providerResolverFor(io, providerOptions(io, makeLogger(values.verbose), values));
  const service = new ValuesService({ resolve, recipients: async () => [] });
  return service.env(files, { context, signal });
}

/** Runs the command with `env`; resolves with its exit code, forwarding signals meanwhile. */
function run(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env });
    const forward = (sig: NodeJS.Signals) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    for (const s of FORWARDED) process.on(s, forward);
    const done = () => {
      for (const s of FORWARDED) process.off(s, forward);
    };
    child.on('error', (err: NodeJS.ErrnoException) => {
      done();
      reject(
        err.code === 'ENOENT'
          ? usageError(`${command[0]}: command not found.`, 'Check the command after "--" (and the PATH).')
          : new KmsEnvelopeError('io', `Cannot run ${command[0]}: ${err.message}.`, { hint: 'Check the command after "--".', cause: err }),
      );
    });
    child.on('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    });
  });
}

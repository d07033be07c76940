/**
 * `kms-envelope`: the command line. A stable contract for scripts and CI:
 *
 *   kms-envelope seal <file|-> [-o <out>] --key <keyref> [--key <keyref> ...] [--context k=v ...] [--armor]
 *   kms-envelope unseal <file|-> [-o <out>] [--context k=v ...]
 *   kms-envelope inspect <file|-> [--json]
 *   kms-envelope keys <action> --provider <p> [--profile <name>] [--region <r>] [--endpoint <url>] [--json] ...
 *   kms-envelope profiles add|list|test|rotate|remove ...
 *   kms-envelope bench --key <keyref> [--case …] [--concurrency N] [--duration S] [--json] ...   (src/cli/bench.ts)
 *   kms-envelope emulator ...    (src/emulator)
 *   exit: 0 ok, 1 usage, 2 format/crypto, 3 KMS/provider, 4 credentials, 130 cancelled
 *
 * Startup speed matters (`unseal` of a small blob is benchmarked against bare `node`): this file
 * imports only node:util-based helpers; each command, the envelope engine (Encryption SDK), the
 * cloud SDKs, keytar and the emulator are loaded on demand with dynamic imports.
 */
import { CancelledError, isCancelled } from '../core/errors';
import { CLI, applyKeyFileDir, printError, type Io } from './common';
import { HELP } from './help';
import { version } from '../../package.json';

/** Pulls `--key-file-dir <dir>` / `--key-file-dir=<dir>` out of argv early (any command may need it). */
function keyFileDirOf(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a === '--key-file-dir') return argv[i + 1];
    if (a.startsWith('--key-file-dir=')) return a.slice('--key-file-dir='.length);
  }
  return undefined;
}

export async function main(argv: string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  let verbose = rest.includes('--verbose') || rest.includes('-v');
  try {
    switch (command) {
      case undefined:
        io.stderr.write(HELP.main);
        return 1;
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(HELP.main);
        return 0;
      case '-V':
      case '--version':
      case 'version':
        io.stdout.write(`${CLI} ${version}\n`);
        return 0;
      case 'emulator':
        verbose = false;
        return await (await import('../emulator/index.js')).emulatorMain(rest);
    }
    applyKeyFileDir(io, keyFileDirOf(rest));
    switch (command) {
      case 'seal':
        return await (await import('./envelope.js')).sealCommand(rest, io);
      case 'unseal':
        return await (await import('./envelope.js')).unsealCommand(rest, io);
      case 'inspect':
        return await (await import('./envelope.js')).inspectCommand(rest, io);
      case 'keys':
        return await (await import('./keys.js')).keysCommand(rest, io);
      case 'profiles':
        return await (await import('./profiles.js')).profilesCommand(rest, io);
      case 'exec':
        return await (await import('./exec.js')).execCommand(rest, io);
      case 'bench':
        return await (await import('./bench.js')).benchCommand(rest, io);
      default:
        io.stderr.write(
          `${CLI}: unknown command "${command}".\n  → Commands: seal, unseal, inspect, exec, keys, bench, profiles, emulator (\`${CLI} --help\`).\n`,
        );
        return 1;
    }
  } catch (err) {
    if (isCancelled(err) || io.signal.aborted) {
      io.stderr.write(`${CLI}: cancelled; no output was written.\n`);
      return new CancelledError().exitCode;
    }
    return printError(io, err, verbose);
  }
}

/** Process entry: wires stdio, Ctrl-C (first: clean abort; second: immediate exit) and the exit code. */
function run(): void {
  const ctl = new AbortController();
  const command = process.argv[2];
  // exec handles its own signals: before the command starts they cancel, afterwards they go to it.
  if (command !== 'emulator' && command !== 'exec') {
    const onSignal = (sig: NodeJS.Signals) => {
      if (ctl.signal.aborted) process.exit(130);
      ctl.abort(new CancelledError(`Interrupted (${sig}).`));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  // A closed stdout (`kms-envelope … | head`) is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const io: Io = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, signal: ctl.signal };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.exitCode = printError(io, err, true);
    },
  );
}

if (typeof module !== 'undefined' && require.main === module) run();
else if (typeof module === 'undefined') run();

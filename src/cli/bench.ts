/**
 * `kms-envelope bench`: a load test of one key of any provider (src/core/bench.ts measures).
 *
 *   kms-envelope bench --key <keyref> [--profile <name>] [--endpoint <url>] [--case <case>]
 *     [--concurrency N] [--duration S] [--data-size B] [--rate R] [--json] [--yes]
 *
 * A live line per second on a terminal (stderr), then a table (stdout) or `--json`. KMS calls cost
 * money and quota: against an endpoint that is not on this machine it first says how many requests it
 * may send and asks (a terminal) or needs `--yes`. The provider is built with one attempt per
 * request, so throttling and errors are counted, not retried away.
 */
import * as readline from 'node:readline/promises';
import { BENCH_CASES, checkPlan, formatResult, formatTick, prepareCase, runLoad, type BenchCase, type BenchPlan } from '../core/bench';
import { usageError } from '../core/errors';
import { parseKeyRef } from '../core/keyref';
import { findProvider } from '../core/kms/registry';
import type { KmsProvider } from '../core/kms/types';
import { CLI, PROVIDER_OPTIONS, buildProvider, makeLogger, parse, providerOptions, type Io } from './common';
import { HELP } from './help';

const OPTIONS = {
  ...PROVIDER_OPTIONS,
  key: { type: 'string', short: 'k' },
  case: { type: 'string' },
  concurrency: { type: 'string', short: 'c' },
  duration: { type: 'string', short: 'd' },
  'data-size': { type: 'string' },
  rate: { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
} as const;

const num = (flag: string, v: string | undefined, dflt: number): number => {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw usageError(`${flag} ${v} is not a number.`, `See \`${CLI} bench --help\`.`);
  return n;
};

/** Where the provider's calls for `region` go, when it makes any: its URL and whether it is this machine. */
function endpointOf(provider: KmsProvider, name: string, region: string): { url: string; loopback: boolean } | undefined {
  const p = provider as { endpointFor?: (r: string) => { url: string; loopback: boolean } };
  if (typeof p.endpointFor === 'function') return p.endpointFor(region);
  if (!findProvider(name)?.endpoint) return undefined;
  return { url: `the ${findProvider(name)?.label ?? name} endpoint`, loopback: false };
}

function estimate(plan: BenchPlan): string {
  const seconds = plan.durationMs / 1000;
  // One untimed request goes before the clock starts (core/bench.ts prepareCase).
  if (plan.rate) {
    const n = Math.ceil(plan.rate * seconds);
    return `at most ${(n + 1).toLocaleString('en-US')} requests (${n.toLocaleString('en-US')} at --rate ${plan.rate} for ${seconds} s, and 1 before the clock starts)`;
  }
  const at50ms = Math.round(plan.concurrency * seconds * 20 + 1).toLocaleString('en-US');
  return `as many requests as it answers in ${seconds} s with ${plan.concurrency} in flight, and 1 before the clock starts: about ${at50ms} at 50 ms per request (no --rate cap)`;
}

async function confirm(io: Io, question: string): Promise<boolean> {
  const rl = readline.createInterface({ input: io.stdin, output: io.stderr });
  try {
    const a = await rl.question(question, { signal: io.signal });
    return /^y(es)?$/i.test(a.trim());
  } finally {
    rl.close();
  }
}

export async function benchCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, OPTIONS, 'bench');
  if (values.help) {
    io.stdout.write(HELP.bench);
    return 0;
  }
  if (positionals.length) throw usageError(`Unexpected argument "${positionals[0]}".`, `See \`${CLI} bench --help\`.`);
  if (!values.key)
    throw usageError('bench needs --key <keyref>.', `e.g. \`${CLI} bench --key alibaba:cn-hangzhou:alias/app --duration 10\`.`);
  const ref = parseKeyRef(values.key);
  const plan: BenchPlan = {
    case: (values.case ?? 'encrypt') as BenchCase,
    concurrency: num('--concurrency', values.concurrency, 32),
    durationMs: num('--duration', values.duration, 10) * 1000,
    dataSize: num('--data-size', values['data-size'], 32),
    ...(values.rate !== undefined ? { rate: num('--rate', values.rate, 0) } : {}),
  };
  if (!(BENCH_CASES as readonly string[]).includes(plan.case))
    throw usageError(`--case ${plan.case} is not one of ${BENCH_CASES.join(', ')}.`, `See \`${CLI} bench --help\`.`);
  checkPlan(plan);
  const logger = makeLogger(values.verbose);
  const provider = await buildProvider(io, ref.provider, {
    ...providerOptions(io, logger, values),
    region: ref.region,
    retry: { maxAttempts: 1 },
  });
  const target = `${values.key}${values.profile ? ` (profile ${values.profile})` : ''}`;
  const ep = endpointOf(provider, ref.provider, ref.region);
  if (ep && !ep.loopback && !values.yes) {
    const what = `${CLI} bench will send ${estimate(plan)} to ${ep.url} with ${target}. KMS calls cost money and count against the account's quota.`;
    if (!io.stdin.isTTY) throw usageError(what, 'Pass --yes to run it without asking (and --rate to cap the requests).');
    io.stderr.write(`${what}\n`);
    if (!(await confirm(io, 'Send them? [y/N] '))) {
      io.stderr.write('Not sent.\n');
      return 1;
    }
  }
  const live = !!io.stderr.isTTY && !values.json;
  const op = await prepareCase({ provider, region: ref.region, key: ref.key }, plan, io.signal);
  if (live) io.stderr.write(`${plan.case} on ${target}: ${plan.concurrency} in flight for ${plan.durationMs / 1000} s\n`);
  const result = await runLoad(op, plan, {
    signal: io.signal,
    onTick: live ? (t) => io.stderr.write(`\r\x1b[2K${formatTick(t)}`) : undefined,
  });
  if (live) io.stderr.write('\r\x1b[2K');
  (provider as { dispose?: () => void }).dispose?.();
  if (values.json) io.stdout.write(JSON.stringify({ key: values.key, profile: values.profile ?? null, ...result }, null, 2) + '\n');
  else io.stdout.write(formatResult(result, target) + '\n');
  return result.ok > 0 ? 0 : 3;
}

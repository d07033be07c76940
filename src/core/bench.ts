/**
 * `kms-envelope bench`'s engine: a bounded load against one key of any provider, the way Alibaba's
 * KMS benchmark tool drives an instance (case, concurrency, duration, data size), done properly:
 * latency percentiles, errors by code, an optional request-rate cap, cancellation, and a tick per
 * second for a live line. The front door builds the provider and prints; this module only measures.
 *
 * Cases (each request is one operation; `decrypt` and `unseal` prepare one ciphertext first, the
 * others send one untimed warm-up request, so that every run starts its clock after one request):
 *   encrypt            encryptDataKey of `dataSize` bytes           (1 KMS call)
 *   decrypt            decryptDataKey of one such ciphertext        (1 KMS call)
 *   generate-data-key  generateDataKey                              (1 KMS call; 2 on a KMS 3.0 instance)
 *   seal               an envelope seal of `dataSize` bytes         (1 GenerateDataKey + local crypto)
 *   unseal             an envelope unseal of one such blob          (1 Decrypt + local crypto)
 * The encryption context is the one of Alibaba's tool (`{"this":"is","encryption":"context"}`), and
 * the plaintext is `dataSize` ASCII "1" bytes, as there. No retries: a failed request is counted
 * under its code (the provider is built with one attempt per request by the front door).
 */
import { setMaxListeners } from 'node:events';
import { CancelledError, KmsEnvelopeError, usageError } from './errors';
import type { EncryptionContext, KmsProvider } from './kms/types';

export const BENCH_CASES = ['encrypt', 'decrypt', 'generate-data-key', 'seal', 'unseal'] as const;
export type BenchCase = (typeof BENCH_CASES)[number];

export const BENCH_CONTEXT: EncryptionContext = { this: 'is', encryption: 'context' };

export interface BenchPlan {
  case: BenchCase;
  /** Requests in flight. */
  concurrency: number;
  durationMs: number;
  /** Plaintext bytes per request (encrypt, seal, and what decrypt/unseal open). */
  dataSize: number;
  /** Cap on requests started per second (all workers together); absent: as fast as answers come. */
  rate?: number;
}

export interface BenchTarget {
  provider: KmsProvider;
  region: string;
  key: string;
}

export interface LatencySummary {
  min: number;
  avg: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface BenchResult {
  case: BenchCase;
  concurrency: number;
  durationS: number;
  dataSize: number;
  rate?: number;
  /** Seconds from the first request to the last answer. */
  elapsedS: number;
  requests: number;
  ok: number;
  errors: number;
  /** Successful requests per second. */
  requestsPerSecond: number;
  /** Of successful requests, in ms; absent when none succeeded. */
  latencyMs?: LatencySummary;
  /** Failed requests by the provider's error code (else the error kind). */
  errorsByCode: Record<string, number>;
  /** Each whole second of the run (the live line's figures): how the rate moved, e.g. while warming up. */
  perSecond: Array<{ second: number; ok: number; errors: number; p50?: number }>;
  /**
   * CPU time (user + system) this process spent per request during the run, in µs, and as a share of
   * one core: near 1 core, the load tool itself limits the rate it measures.
   */
  clientCpu: { usPerRequest: number; cores: number };
}

export interface BenchTick {
  /** Seconds since the start (1, 2, ...). */
  second: number;
  /** Successes and errors answered in this second. */
  ok: number;
  errors: number;
  totalOk: number;
  totalErrors: number;
  /** Median latency of this second's successes, ms. */
  p50?: number;
}

/** Checks a plan's numbers; a usage error naming the flag otherwise. */
export function checkPlan(p: BenchPlan): void {
  const bad = (flag: string, what: string) => usageError(`${flag} must be ${what}.`, `Run \`kms-envelope bench --help\` for the options.`);
  if (!BENCH_CASES.includes(p.case)) throw bad('--case', `one of ${BENCH_CASES.join(', ')}`);
  if (!Number.isInteger(p.concurrency) || p.concurrency < 1 || p.concurrency > 1024)
    throw bad('--concurrency', 'a whole number from 1 to 1024');
  if (!Number.isFinite(p.durationMs) || p.durationMs < 100 || p.durationMs > 3_600_000) throw bad('--duration', 'from 0.1 to 3600 seconds');
  const maxData = p.case === 'seal' || p.case === 'unseal' ? 64 * 1024 * 1024 : 4096;
  if (!Number.isInteger(p.dataSize) || p.dataSize < 1 || p.dataSize > maxData)
    throw bad('--data-size', `a whole number of bytes from 1 to ${maxData} for --case ${p.case}`);
  if (p.rate !== undefined && (!Number.isFinite(p.rate) || p.rate <= 0 || p.rate > 1_000_000))
    throw bad('--rate', 'a positive number of requests per second');
}

/**
 * One untimed request before the clock starts, for the cases that prepare nothing: it loads the
 * provider's SDK (lazily imported) and opens the first connection, so the measured window holds
 * requests, not the tool's start-up. Its failure is not the run's (a failing key is measured as
 * errors by code); only cancellation ends the run.
 */
async function warmUp(op: () => Promise<void>, signal?: AbortSignal): Promise<() => Promise<void>> {
  await op().catch((err: unknown) => {
    if (signal?.aborted) throw err;
  });
  return op;
}

/**
 * Builds the operation of one request, after one untimed KMS call: the preparation the case needs
 * (decrypt, unseal) or a warm-up request (see warmUp).
 */
export async function prepareCase(t: BenchTarget, p: BenchPlan, signal?: AbortSignal): Promise<() => Promise<void>> {
  const data = Buffer.alloc(p.dataSize, 0x31);
  const ctx = BENCH_CONTEXT;
  // Every request in flight listens to the caller's signal (a few listeners each, in seal/unseal):
  // that many is the plan, not a leak.
  if (signal) setMaxListeners(p.concurrency * 4 + 16, signal);
  switch (p.case) {
    case 'encrypt':
      return warmUp(async () => {
        await t.provider.encryptDataKey(t.region, t.key, data, ctx, { signal });
      }, signal);
    case 'decrypt': {
      const { ciphertext, keyId } = await t.provider.encryptDataKey(t.region, t.key, data, ctx, { signal });
      return async () => {
        const r = await t.provider.decryptDataKey(t.region, keyId, ciphertext, ctx, { signal });
        r.plaintext.fill(0);
      };
    }
    case 'generate-data-key':
      return warmUp(async () => {
        const dk = await t.provider.generateDataKey(t.region, t.key, ctx, { signal });
        dk.plaintext.fill(0);
      }, signal);
    case 'seal':
    case 'unseal': {
      const { sealBuffer, unsealBuffer } = await import('./envelope/engine.js');
      const recipients = [{ provider: t.provider, region: t.region, key: t.key }];
      if (p.case === 'seal')
        return warmUp(async () => {
          await sealBuffer(data, { recipients, context: ctx, signal });
        }, signal);
      const blob = await sealBuffer(data, { recipients, context: ctx, signal });
      const resolve = async () => t.provider;
      return async () => {
        (await unsealBuffer(blob, { resolve, signal })).plaintext.fill(0);
      };
    }
  }
}

/** A growable array of doubles (latencies), cheap to append to at thousands per second. */
class Samples {
  private buf = new Float64Array(4096);
  length = 0;
  push(v: number): void {
    if (this.length === this.buf.length) {
      const b = new Float64Array(this.buf.length * 2);
      b.set(this.buf);
      this.buf = b;
    }
    this.buf[this.length++] = v;
  }
  sorted(): Float64Array {
    return this.buf.slice(0, this.length).sort();
  }
}

const pct = (s: Float64Array, q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];

export function summarize(sorted: Float64Array): LatencySummary | undefined {
  if (sorted.length === 0) return undefined;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    min: sorted[0],
    avg: sum / sorted.length,
    p50: pct(sorted, 0.5),
    p90: pct(sorted, 0.9),
    p99: pct(sorted, 0.99),
    max: sorted[sorted.length - 1],
  };
}

function errorCode(err: unknown): string {
  if (err instanceof KmsEnvelopeError) return err.details.providerCode ?? err.kind;
  const e = err as { code?: unknown; name?: unknown };
  return typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'Error';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `op` with `concurrency` workers for the plan's duration; ticks once a second. */
export async function runLoad(
  op: () => Promise<void>,
  p: BenchPlan,
  o: { signal?: AbortSignal; onTick?: (t: BenchTick) => void; now?: () => number } = {},
): Promise<BenchResult> {
  const now = o.now ?? (() => performance.now());
  const all = new Samples();
  let second = new Samples();
  let ok = 0;
  let errors = 0;
  let tickOk = 0;
  let tickErrors = 0;
  let started = 0;
  const byCode: Record<string, number> = {};
  const t0 = now();
  const cpu0 = process.cpuUsage();
  const end = t0 + p.durationMs;
  const interval = p.rate ? 1000 / p.rate : 0;
  let tickNo = 0;
  const perSecond: BenchResult['perSecond'] = [];
  const timer = setInterval(() => {
    tickNo++;
    const s = second.sorted();
    const p50 = s.length ? pct(s, 0.5) : undefined;
    perSecond.push({ second: tickNo, ok: tickOk, errors: tickErrors, ...(p50 !== undefined ? { p50 } : {}) });
    o.onTick?.({
      second: tickNo,
      ok: tickOk,
      errors: tickErrors,
      totalOk: ok,
      totalErrors: errors,
      p50,
    });
    tickOk = tickErrors = 0;
    second = new Samples();
  }, 1000);
  const worker = async () => {
    while (!o.signal?.aborted) {
      let t = now();
      if (t >= end) return;
      if (interval) {
        const slot = t0 + started * interval;
        started++;
        if (slot > t) {
          if (slot >= end) return;
          await sleep(slot - t);
          t = now();
        }
      } else started++;
      try {
        await op();
        const ms = now() - t;
        all.push(ms);
        second.push(ms);
        ok++;
        tickOk++;
      } catch (err) {
        if (o.signal?.aborted) return;
        const code = errorCode(err);
        byCode[code] = (byCode[code] ?? 0) + 1;
        errors++;
        tickErrors++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: p.concurrency }, worker));
  } finally {
    clearInterval(timer);
  }
  if (o.signal?.aborted) throw new CancelledError();
  const elapsedS = (now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  return {
    case: p.case,
    concurrency: p.concurrency,
    durationS: p.durationMs / 1000,
    dataSize: p.dataSize,
    ...(p.rate ? { rate: p.rate } : {}),
    elapsedS,
    requests: ok + errors,
    ok,
    errors,
    requestsPerSecond: ok / elapsedS,
    latencyMs: summarize(all.sorted()),
    errorsByCode: byCode,
    perSecond,
    clientCpu: { usPerRequest: ok + errors ? cpuUs / (ok + errors) : 0, cores: elapsedS > 0 ? cpuUs / 1e6 / elapsedS : 0 },
  };
}

const n0 = (v: number) => Math.round(v).toLocaleString('en-US');
const ms = (v: number) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

/** The live line of one second (a terminal rewrites it in place). */
export function formatTick(t: BenchTick): string {
  return `${String(t.second).padStart(4)} s  ${n0(t.ok).padStart(7)} req/s  ${n0(t.errors).padStart(5)} errors  p50 ${t.p50 === undefined ? '-' : `${ms(t.p50)} ms`}  (total ${n0(t.totalOk)} ok, ${n0(t.totalErrors)} errors)`;
}

/** The final table. */
export function formatResult(r: BenchResult, what: string): string {
  const rows: Array<[string, string]> = [
    ['target', what],
    ['case', `${r.case}, ${r.concurrency} in flight, ${r.durationS} s, ${r.dataSize} bytes${r.rate ? `, at most ${r.rate} req/s` : ''}`],
    ['requests', `${n0(r.requests)} (${n0(r.ok)} ok, ${n0(r.errors)} errors) in ${r.elapsedS.toFixed(2)} s`],
    ['requests/s', r.requestsPerSecond.toFixed(1)],
  ];
  const l = r.latencyMs;
  if (l) {
    rows.push(['latency ms', `min ${ms(l.min)}  avg ${ms(l.avg)}  p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)}`]);
  } else rows.push(['latency ms', '- (no request succeeded)']);
  rows.push(['client CPU', `${n0(r.clientCpu.usPerRequest)} µs per request (${r.clientCpu.cores.toFixed(2)} of a core)`]);
  const codes = Object.entries(r.errorsByCode).sort((a, b) => b[1] - a[1]);
  if (codes.length)
    for (const [i, [code, count]] of codes.entries()) rows.push([i === 0 ? 'errors' : '', `${n0(count).padStart(7)}  ${code}`]);
  else rows.push(['errors', 'none']);
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

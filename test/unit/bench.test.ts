// The load engine behind `kms-envelope bench`: bounded by duration, concurrency and an optional
// rate cap, latency percentiles, errors by code, cancellation, and every case against a real
// provider (local keys: the real envelope engine, no network).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_CASES, checkPlan, formatResult, formatTick, prepareCase, runLoad, summarize, type BenchPlan } from '../../src/core/bench';
import { CancelledError, KmsEnvelopeError } from '../../src/core/errors';
import { LocalKmsProvider } from '../../src/core/kms/local/index';
import { MemorySecretStore } from '../../src/core/secrets';

const plan = (o: Partial<BenchPlan> = {}): BenchPlan => ({ case: 'encrypt', concurrency: 4, durationMs: 400, dataSize: 32, ...o });
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bench engine', () => {
  it('percentiles are nearest-rank over the sorted latencies', () => {
    const s = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual(summarize(s), { min: 1, avg: 50.5, p50: 50, p90: 90, p99: 99, max: 100 });
    assert.equal(summarize(new Float64Array(0)), undefined);
    assert.deepEqual(summarize(Float64Array.of(7)), { min: 7, avg: 7, p50: 7, p90: 7, p99: 7, max: 7 });
  });

  it('keeps `concurrency` requests in flight for the duration, and stops', async () => {
    let inFlight = 0;
    let peak = 0;
    const r = await runLoad(
      async () => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await wait(10);
        inFlight--;
      },
      plan({ concurrency: 4, durationMs: 400 }),
    );
    assert.equal(peak, 4);
    assert.equal(inFlight, 0, 'nothing runs after it resolved');
    assert.ok(r.ok >= 8 && r.ok <= 4 * 42, `at most 4 × 400/10 requests (fewer on a loaded machine), got ${r.ok}`);
    assert.equal(r.errors, 0);
    assert.ok(r.elapsedS >= 0.4 && r.elapsedS < 5, String(r.elapsedS));
    assert.ok(r.latencyMs!.min >= 9, 'latency measured per request');
    assert.ok(Math.abs(r.requestsPerSecond - r.ok / r.elapsedS) < 1e-9);
  });

  it('a rate cap bounds the requests started', async () => {
    const r = await runLoad(async () => undefined, plan({ concurrency: 8, durationMs: 500, rate: 40 }));
    assert.ok(r.requests >= 5 && r.requests <= 21, `at most 40/s × 0.5 s (+1), got ${r.requests}`);
  });

  it('counts failures by the provider code (else the error kind) and ticks once a second', async () => {
    let i = 0;
    const ticks: string[] = [];
    const r = await runLoad(
      async () => {
        await wait(2);
        i++;
        if (i % 3 === 0) throw new KmsEnvelopeError('provider', 'throttled', { details: { providerCode: 'Rejected.Throttling' } });
        if (i % 5 === 0) throw new KmsEnvelopeError('credentials', 'no');
      },
      plan({ concurrency: 2, durationMs: 1150 }),
      { onTick: (t) => ticks.push(formatTick(t)) },
    );
    assert.ok(r.errorsByCode['Rejected.Throttling'] > 0);
    assert.ok(r.errorsByCode.credentials > 0);
    assert.equal(r.errors, r.errorsByCode['Rejected.Throttling'] + r.errorsByCode.credentials);
    assert.equal(ticks.length, 1);
    assert.match(ticks[0], /^ {3}1 s .* req\/s .* errors {2}p50 \d/);
    assert.equal(r.perSecond.length, 1, 'the result keeps each whole second (--json)');
    assert.equal(r.perSecond[0].second, 1);
    assert.ok(r.perSecond[0].ok > 0 && r.perSecond[0].ok + r.perSecond[0].errors <= r.requests);
    const table = formatResult(r, 'local:local:k');
    assert.match(table, /^target +local:local:k$/m);
    assert.match(table, /^latency ms +min .* p50 .* p90 .* p99 .* max /m);
    assert.match(table, /^errors +\d+ {2}Rejected\.Throttling$/m);
    // The load tool's own CPU, so a user sees when it, not the KMS, limits the rate.
    assert.ok(r.clientCpu.usPerRequest > 0 && r.clientCpu.cores > 0 && r.clientCpu.cores < 8, JSON.stringify(r.clientCpu));
    assert.match(table, /^client CPU +[\d,]+ µs per request \(\d+\.\d\d of a core\)$/m);
  });

  it('cancels', async () => {
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 50);
    await assert.rejects(
      runLoad(async () => void (await wait(5)), plan({ durationMs: 10_000 }), { signal: ctl.signal }),
      CancelledError,
    );
  });

  it('checks the plan', () => {
    checkPlan(plan());
    assert.throws(() => checkPlan(plan({ concurrency: 0 })), /--concurrency must be/);
    assert.throws(() => checkPlan(plan({ dataSize: 5000 })), /--data-size must be .* 1 to 4096 for --case encrypt/);
    checkPlan(plan({ case: 'seal', dataSize: 1 << 20 }));
    assert.throws(() => checkPlan(plan({ rate: -1 })), /--rate/);
    assert.throws(() => checkPlan(plan({ case: 'nope' as BenchPlan['case'] })), /--case must be one of encrypt, decrypt/);
  });

  it('runs every case against a real provider (local keys, the real envelope engine)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kms-bench-'));
    try {
      const provider = new LocalKmsProvider({ secretStore: new MemorySecretStore(), configDir: dir });
      const key = (await provider.createKey('local', { alias: 'bench' })).keyId;
      for (const c of BENCH_CASES) {
        const p = plan({ case: c, concurrency: 2, durationMs: 150, dataSize: 100 });
        const op = await prepareCase({ provider, region: 'local', key }, p);
        const r = await runLoad(op, p);
        assert.ok(r.ok > 0, `${c}: ${JSON.stringify(r.errorsByCode)}`);
        assert.equal(r.errors, 0, `${c}: ${JSON.stringify(r.errorsByCode)}`);
      }
      await provider.disableKey('local', key);
      const p = plan({ case: 'encrypt', concurrency: 1, durationMs: 100 });
      const r = await runLoad(await prepareCase({ provider, region: 'local', key }, p), p);
      assert.equal(r.ok, 0);
      assert.ok(Object.keys(r.errorsByCode).length === 1 && r.errors > 0, JSON.stringify(r.errorsByCode));
      assert.match(formatResult(r, 'x'), /no request succeeded/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

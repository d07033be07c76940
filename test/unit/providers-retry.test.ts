// Retry policy, timeouts, cancellation and bounded concurrency of src/core/kms/retry.ts and list-all.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError } from '../../src/core/errors';
import {
  AttemptTimeoutError,
  backoffDelay,
  isRetryable,
  mapLimit,
  resolvePolicy,
  withRetry,
  type FailureClass,
} from '../../src/core/kms/retry';
import { Limiter } from '../../src/core/kms/list-all';

class Fail extends Error {
  constructor(readonly cls: FailureClass) {
    super(cls);
  }
}
const classify = (e: unknown): FailureClass => (e instanceof Fail ? e.cls : 'fatal');
const fast = { baseDelayMs: 1, maxDelayMs: 4, timeoutMs: 1000 };

test('retries throttling until success, with full-jitter backoff bounded by the cap', async () => {
  let calls = 0;
  const delays: number[] = [];
  const out = await withRetry(
    async () => {
      calls++;
      if (calls < 3) throw new Fail('throttling');
      return 'ok';
    },
    {
      idempotent: true,
      classify,
      policy: { ...fast, baseDelayMs: 10, maxDelayMs: 15 },
      random: () => 0.999,
      onRetry: (i) => delays.push(i.delayMs),
    },
  );
  assert.equal(out, 'ok');
  assert.equal(calls, 3);
  // retry 1: cap 10 → 9; retry 2: cap min(15, 20) = 15 → 14
  assert.deepEqual(delays, [9, 14]);
});

test('backoff is full jitter: 0 with random 0, cap·random otherwise', () => {
  const p = resolvePolicy({ baseDelayMs: 100, maxDelayMs: 1000 });
  assert.equal(
    backoffDelay(p, 1, () => 0),
    0,
  );
  assert.equal(
    backoffDelay(p, 1, () => 0.5),
    50,
  );
  assert.equal(
    backoffDelay(p, 3, () => 0.5),
    200,
  );
  assert.equal(
    backoffDelay(p, 10, () => 0.5),
    500,
  );
});

test('gives up after maxAttempts and hands the last error and counts to finalize', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new Fail('server');
      },
      {
        idempotent: true,
        classify,
        policy: { ...fast, maxAttempts: 4 },
        finalize: (err, info) => new Error(`final ${(err as Fail).cls} attempts=${info.attempts} exhausted=${info.exhausted}`),
      },
    ),
    /final server attempts=4 exhausted=true/,
  );
  assert.equal(calls, 4);
});

test('fatal failures are not retried', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new Fail('fatal');
      },
      { idempotent: true, classify, policy: fast },
    ),
    /fatal/,
  );
  assert.equal(calls, 1);
});

test('non-idempotent requests retry only throttling and unsent failures', async () => {
  assert.equal(isRetryable('throttling', false), true);
  assert.equal(isRetryable('unsent', false), true);
  assert.equal(isRetryable('server', false), false);
  assert.equal(isRetryable('network', false), false);
  assert.equal(isRetryable('timeout', false), false);
  assert.equal(isRetryable('server', true), true);
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new Fail('server');
      },
      { idempotent: false, classify, policy: fast },
    ),
  );
  assert.equal(calls, 1, 'a 5xx on CreateKey is not repeated');
  calls = 0;
  await withRetry(
    async () => {
      if (++calls === 1) throw new Fail('unsent');
    },
    { idempotent: false, classify, policy: fast },
  );
  assert.equal(calls, 2, 'a refused connection is repeated even for CreateKey');
});

test('each attempt has its own timeout; a hung attempt is abandoned and retried', async () => {
  let calls = 0;
  const signals: AbortSignal[] = [];
  const t0 = Date.now();
  const out = await withRetry(
    async ({ signal }) => {
      calls++;
      signals.push(signal);
      if (calls === 1) return new Promise<string>(() => undefined); // never settles
      return 'second';
    },
    { idempotent: true, classify, policy: { ...fast, timeoutMs: 50 } },
  );
  assert.equal(out, 'second');
  assert.equal(calls, 2);
  assert.ok(signals[0].aborted, 'the timed-out attempt signal was aborted');
  assert.ok(signals[0].reason instanceof AttemptTimeoutError);
  assert.ok(Date.now() - t0 < 1000);
});

test('total time budget stops retries', async () => {
  let calls = 0;
  const t0 = Date.now();
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 30));
        throw new Fail('throttling');
      },
      {
        idempotent: true,
        classify,
        policy: { maxAttempts: 100, baseDelayMs: 20, maxDelayMs: 20, totalTimeMs: 150, timeoutMs: 1000 },
        random: () => 1,
      },
    ),
  );
  assert.ok(calls >= 2 && calls <= 5, `calls=${calls}`);
  assert.ok(Date.now() - t0 < 400);
});

test('cancellation during an attempt rejects at once with CancelledError and aborts the attempt', async () => {
  const ctl = new AbortController();
  let seen: AbortSignal | undefined;
  const p = withRetry(
    async ({ signal }) => {
      seen = signal;
      return new Promise<string>(() => undefined);
    },
    { idempotent: true, classify, signal: ctl.signal, policy: { ...fast, timeoutMs: 10_000 } },
  );
  setTimeout(() => ctl.abort(), 20);
  const t0 = Date.now();
  await assert.rejects(p, CancelledError);
  assert.ok(Date.now() - t0 < 500);
  assert.ok(seen?.aborted);
});

test('cancellation during the backoff wait rejects with CancelledError', async () => {
  const ctl = new AbortController();
  let calls = 0;
  const p = withRetry(
    async () => {
      calls++;
      throw new Fail('throttling');
    },
    {
      idempotent: true,
      classify,
      signal: ctl.signal,
      policy: { maxAttempts: 5, baseDelayMs: 5000, maxDelayMs: 5000, timeoutMs: 1000 },
      random: () => 1,
    },
  );
  setTimeout(() => ctl.abort(), 30);
  const t0 = Date.now();
  await assert.rejects(p, CancelledError);
  assert.equal(calls, 1);
  assert.ok(Date.now() - t0 < 1000);
});

test('an already aborted signal never starts the op', async () => {
  const ctl = new AbortController();
  ctl.abort();
  let calls = 0;
  await assert.rejects(
    withRetry(async () => void calls++, { idempotent: true, classify, signal: ctl.signal }),
    CancelledError,
  );
  assert.equal(calls, 0);
});

test('mapLimit keeps order and never exceeds the limit', async () => {
  let active = 0;
  let peak = 0;
  const out = await mapLimit([...Array(40).keys()], 5, async (n) => {
    active++;
    peak = Math.max(peak, active);
    await new Promise((r) => setTimeout(r, 2 + (n % 3)));
    active--;
    return n * 2;
  });
  assert.deepEqual(
    out,
    [...Array(40).keys()].map((n) => n * 2),
  );
  assert.equal(peak, 5);
});

test('mapLimit stops on the first failure', async () => {
  let started = 0;
  await assert.rejects(
    mapLimit([...Array(50).keys()], 2, async (n) => {
      started++;
      await new Promise((r) => setTimeout(r, 2));
      if (n === 3) throw new Error('boom');
      return n;
    }),
    /boom/,
  );
  assert.ok(started < 10, `started=${started}`);
});

test('Limiter hands slots over without overshooting', async () => {
  const lim = new Limiter(3);
  let active = 0;
  let peak = 0;
  await Promise.all(
    [...Array(30).keys()].map(() =>
      lim.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setImmediate(r));
        active--;
      }),
    ),
  );
  assert.equal(peak, 3);
});

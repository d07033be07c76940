// Retry policy, timeouts, cancellation and bounded concurrency of src/core/kms/retry.ts and list-all.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { CancelledError } from '../../src/core/errors';
import {
  AttemptTimeoutError,
  backoffDelay,
  isRetryable,
  mapLimit,
  resolvePolicy,
  throttleDelay,
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

test('retries server errors until success, with full-jitter backoff bounded by the cap', async () => {
  let calls = 0;
  const delays: number[] = [];
  const out = await withRetry(
    async () => {
      calls++;
      if (calls < 3) throw new Fail('server');
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

/** A fake clock: sleep() moves it on at once, so seconds of backoff take no time. */
function fakeClock() {
  let t = 0;
  const waits: number[] = [];
  return {
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
    waits,
    advance: (ms: number) => (t += ms),
  };
}

test('throttling outlasts a real rate limit: backoff over seconds (equal jitter), within the overall timeout', async () => {
  // A KMS refusing every request for its first 12 s (a rate-limit window), each answer taking 50 ms.
  for (const random of [() => 0, () => 0.5, () => 0.999]) {
    const clock = fakeClock();
    const starts: number[] = [];
    const out = await withRetry(
      async () => {
        starts.push(clock.now());
        clock.advance(50);
        if (clock.now() < 12_000) throw new Fail('throttling');
        return 'sealed';
      },
      { idempotent: true, classify, random, now: clock.now, sleep: clock.sleep },
    );
    assert.equal(out, 'sealed');
    const p = resolvePolicy();
    assert.ok(starts.length <= p.throttleMaxAttempts, `attempts ${starts.length}`);
    assert.ok(clock.now() <= p.totalTimeMs, `done within the overall timeout: ${clock.now()} ms`);
    // Exponential with equal jitter: each wait at least half its cap, the caps doubling from 0.5 s to 8 s.
    clock.waits.forEach((w, i) => {
      const cap = Math.min(p.throttleMaxDelayMs, p.throttleBaseDelayMs * 2 ** i);
      assert.ok(w >= cap / 2 && w <= cap, `wait ${i + 1}: ${w} ms of cap ${cap}`);
    });
  }
});

test('persistent throttling gives up within the overall timeout, after seconds, and says how long it tried', async () => {
  const clock = fakeClock();
  let calls = 0;
  const err = await withRetry(
    async () => {
      calls++;
      throw new Fail('throttling');
    },
    {
      idempotent: true,
      classify,
      random: () => 0.5,
      now: clock.now,
      sleep: clock.sleep,
      finalize: (_e, info) => info,
    },
  ).catch((e: unknown) => e as { attempts: number; elapsedMs: number; exhausted: boolean });
  const p = resolvePolicy();
  assert.equal(calls, p.throttleMaxAttempts);
  assert.equal(err.attempts, p.throttleMaxAttempts);
  assert.ok(err.exhausted);
  assert.ok(err.elapsedMs >= 10_000 && err.elapsedMs <= p.totalTimeMs, `tried for ${err.elapsedMs} ms`);
  // Server errors keep the short schedule: 4 attempts within a second or so.
  const c2 = fakeClock();
  let n = 0;
  await withRetry(
    async () => {
      n++;
      throw new Fail('server');
    },
    { idempotent: true, classify, random: () => 0.999, now: c2.now, sleep: c2.sleep },
  ).catch(() => undefined);
  assert.equal(n, p.maxAttempts);
  assert.ok(c2.now() < 1_000);
});

test('a retry hint from the cloud is honoured; one past the overall timeout gives up at once, saying what was asked', async () => {
  const clock = fakeClock();
  const starts: number[] = [];
  class Hinted extends Fail {
    constructor(readonly after: number) {
      super('throttling');
    }
  }
  const retryAfter = (e: unknown) => (e instanceof Hinted ? e.after : undefined);
  await withRetry(
    async () => {
      starts.push(clock.now());
      if (starts.length < 3) throw new Hinted(3_000);
      return 'ok';
    },
    { idempotent: true, classify, random: () => 0, retryAfter, now: clock.now, sleep: clock.sleep },
  );
  assert.deepEqual(starts, [0, 3_000, 6_000], 'waits the 3 s asked for (more than the backoff)');
  // 503 + Retry-After on a server error: honoured too.
  const c2 = fakeClock();
  const s2: number[] = [];
  await withRetry(
    async () => {
      s2.push(c2.now());
      if (s2.length < 2) throw Object.assign(new Fail('server'), { after: 1_500 });
      return 'ok';
    },
    { idempotent: true, classify, random: () => 0, retryAfter: (e) => (e as { after?: number }).after, now: c2.now, sleep: c2.sleep },
  );
  assert.deepEqual(s2, [0, 1_500]);
  // Asked to come back in two minutes, with 30 s of budget: no pointless waiting.
  const c3 = fakeClock();
  let calls = 0;
  const info = await withRetry(
    async () => {
      calls++;
      throw new Hinted(120_000);
    },
    { idempotent: true, classify, retryAfter, now: c3.now, sleep: c3.sleep, finalize: (_e, i) => i },
  ).catch((e: unknown) => e as { retryAfterMs?: number; exhausted: boolean });
  assert.equal(calls, 1);
  assert.equal(c3.now(), 0);
  assert.equal(info.retryAfterMs, 120_000);
  assert.ok(info.exhausted);
});

test('an override of maxAttempts alone applies to throttling too (maxAttempts 1: no retry at all)', async () => {
  assert.equal(resolvePolicy({ maxAttempts: 1 }).throttleMaxAttempts, 1);
  assert.equal(resolvePolicy({ maxAttempts: 3, throttleMaxAttempts: 6 }).throttleMaxAttempts, 6);
  assert.equal(resolvePolicy({ baseDelayMs: 1 }).throttleMaxAttempts, resolvePolicy().throttleMaxAttempts);
  let calls = 0;
  await assert.rejects(
    withRetry(
      async () => {
        calls++;
        throw new Fail('throttling');
      },
      { idempotent: true, classify, policy: { maxAttempts: 1 } },
    ),
  );
  assert.equal(calls, 1);
});

test('throttle backoff is equal jitter: half the cap, plus up to as much again', () => {
  const p = resolvePolicy({ throttleBaseDelayMs: 400, throttleMaxDelayMs: 3000 });
  assert.equal(
    throttleDelay(p, 1, () => 0),
    200,
  );
  assert.equal(
    throttleDelay(p, 1, () => 0.999),
    399,
  );
  assert.equal(
    throttleDelay(p, 3, () => 0.5),
    1200,
  );
  assert.equal(
    throttleDelay(p, 9, () => 0),
    1500,
  );
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

test('the attempt signal is made only when read: none for an SDK without abort support, an aborted one when read late', async () => {
  const Real = globalThis.AbortController;
  let made = 0;
  globalThis.AbortController = class extends Real {
    constructor() {
      super();
      made++;
    }
  };
  try {
    // Ten quick attempts that never read the signal (the Alibaba SDK's case): no AbortController.
    for (let i = 0; i < 10; i++) assert.equal(await withRetry(async () => i, { idempotent: true, classify, policy: fast }), i);
    assert.equal(made, 0, 'no AbortController per request');
    // A hung attempt that reads its signal only after its timeout fired gets it already aborted.
    let late: AbortSignal | undefined;
    const out = await withRetry(
      async (a) => {
        if (a.attempt === 1)
          return new Promise<string>((resolve) =>
            setTimeout(() => {
              late = a.signal;
              resolve('too late');
            }, 80),
          );
        return 'second';
      },
      { idempotent: true, classify, policy: { ...fast, timeoutMs: 30 } },
    );
    assert.equal(out, 'second');
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(late?.aborted, 'read after the timeout: aborted');
    assert.ok(late?.reason instanceof AttemptTimeoutError);
  } finally {
    globalThis.AbortController = Real;
  }
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
        policy: { totalTimeMs: 150, timeoutMs: 1000, throttleMaxAttempts: 100, throttleBaseDelayMs: 20, throttleMaxDelayMs: 20 },
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

test('attempts in flight on one caller signal share one abort listener; cancelling stops them all at once', async () => {
  const ctl = new AbortController();
  const hung = Array.from({ length: 32 }, () =>
    withRetry(async () => new Promise<string>(() => undefined), {
      idempotent: true,
      classify,
      signal: ctl.signal,
      policy: { ...fast, timeoutMs: 10_000 },
    }),
  );
  // A settled attempt unlinks itself: it is not called back on a later abort.
  await withRetry(async () => 'done', { idempotent: true, classify, signal: ctl.signal, policy: fast });
  assert.equal(getEventListeners(ctl.signal, 'abort').length, 1, 'one listener for 32 attempts');
  const t0 = Date.now();
  ctl.abort();
  const results = await Promise.allSettled(hung);
  assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof CancelledError));
  assert.ok(Date.now() - t0 < 500);
  await assert.rejects(
    withRetry(async () => 'late', { idempotent: true, classify, signal: ctl.signal }),
    CancelledError,
  );
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
      policy: { throttleMaxAttempts: 5, throttleBaseDelayMs: 5000, throttleMaxDelayMs: 5000, timeoutMs: 1000 },
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

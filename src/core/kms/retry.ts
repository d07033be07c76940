/**
 * Retries, per-attempt timeouts and cancellation for calls to a cloud KMS.
 *
 * Policy (shared by the cloud providers through cloudCall):
 * - Exponential backoff with FULL jitter: before attempt n+1 wait `random() * min(maxDelayMs, baseDelayMs * 2^(n-1))`
 *   (AWS Architecture Blog, "Exponential Backoff And Jitter": full jitter spreads retries of many
 *   parallel callers best, which matters when a region listing runs dozens of requests at once).
 * - Throttling has a schedule of its own, over seconds: a rate limit refills per second, so four
 *   tries within half a second (the schedule above) all hit the same exhausted limit. Waits grow
 *   from `throttleBaseDelayMs` (0.5 s) doubling to `throttleMaxDelayMs` (8 s) with EQUAL jitter (half
 *   of each wait fixed, half random: spread, yet never an immediate retry), up to
 *   `throttleMaxAttempts` (8) attempts: about 16–30 s in all.
 * - A retry hint from the cloud (`Retry-After`, via `retryAfter`) is honoured: the wait is at least
 *   that long, and when it would end past the budget the call gives up at once and says so.
 * - Bounded: at most `maxAttempts` attempts (`throttleMaxAttempts` when the last failure was
 *   throttling), and no retry that would start after `totalTimeMs`, the overall timeout.
 * - Only failures that may succeed when repeated are retried: throttling, 5xx, network errors, timeouts.
 * - Only requests that are safe to repeat are retried after they may have reached the server.
 *   A request marked `idempotent: false` (CreateKey, CreateAlias, ScheduleKeyDeletion, CancelKeyDeletion)
 *   is retried only when the cloud provably did not act on it: throttling (the cloud rejected it
 *   before doing anything) and connection failures before anything was sent (ECONNREFUSED, DNS).
 *   A 5xx or a timeout after sending leaves it unknown whether the key was created; repeating a
 *   CreateKey then could create a second billable key, so the error says to list keys first.
 * - Each attempt gets its own timeout (`timeoutMs`). The attempt's AbortSignal is handed to the SDK
 *   (Tencent's SDK aborts the HTTP request with it); for SDKs without abort support the caller
 *   stops waiting at once and the SDK's own socket timeout closes the request later.
 * - The caller's AbortSignal cancels the attempt in flight and any backoff wait: CancelledError.
 */
import { CancelledError } from '../errors';

export interface RetryPolicy {
  /** Attempts in total, including the first. */
  maxAttempts: number;
  /** Backoff cap before the first retry, doubled per retry. */
  baseDelayMs: number;
  /** Upper bound of one backoff wait. */
  maxDelayMs: number;
  /** No new attempt starts after this much time since the first one. */
  totalTimeMs: number;
  /** Timeout of one attempt (request sent → response read). */
  timeoutMs: number;
  /**
   * Attempts in total when the failures are throttling. An override that sets `maxAttempts` but not
   * this one sets both (`{ maxAttempts: 1 }` means no retry at all, as a benchmark wants).
   */
  throttleMaxAttempts: number;
  /** Throttling: backoff cap before the first retry, doubled per retry (equal jitter). */
  throttleBaseDelayMs: number;
  /** Throttling: upper bound of one backoff wait. */
  throttleMaxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  maxAttempts: 4,
  baseDelayMs: 100,
  maxDelayMs: 2_000,
  totalTimeMs: 30_000,
  timeoutMs: 15_000,
  throttleMaxAttempts: 8,
  throttleBaseDelayMs: 500,
  throttleMaxDelayMs: 8_000,
});

/**
 * How a failed attempt is classed for retrying.
 * - throttling: the cloud refused the request for rate reasons (nothing was done).
 * - server: HTTP 5xx or the cloud's internal error code (it may or may not have acted).
 * - unsent: the connection failed before the request was sent (refused, DNS): nothing was done.
 * - network: the connection broke after the request may have been sent.
 * - timeout: no answer within the attempt timeout.
 * - fatal: anything else (bad parameters, wrong key state, credentials): never retried.
 */
export type FailureClass = 'throttling' | 'server' | 'unsent' | 'network' | 'timeout' | 'fatal';

export interface AttemptContext {
  /** 1-based attempt number. */
  attempt: number;
  /** Aborted when the attempt times out or the caller cancels (made on first read: see runAttempt). */
  readonly signal: AbortSignal;
  /** The attempt timeout, for SDKs that take their own socket timeout. */
  timeoutMs: number;
}

export interface RetryInfo {
  attempts: number;
  elapsedMs: number;
  lastClass: FailureClass;
  /** True when the caller's retry budget (attempts or total time) ran out on a retryable failure. */
  exhausted: boolean;
  /** The wait the cloud asked for with the last failure, when it did (ms). */
  retryAfterMs?: number;
}

export interface RetryOptions {
  policy?: Partial<RetryPolicy>;
  /** The caller's cancellation. */
  signal?: AbortSignal;
  /** Whether the request is safe to repeat after it may have reached the server (see header). */
  idempotent: boolean;
  classify(err: unknown): FailureClass;
  /** Called before each backoff wait (for logs and tests). */
  onRetry?(info: { attempt: number; delayMs: number; failure: FailureClass; error: unknown }): void;
  /** Turns the last error into what is thrown (e.g. a KmsEnvelopeError with a hint). */
  finalize?(err: unknown, info: RetryInfo): unknown;
  /** The wait the cloud asks for with this failure (a `Retry-After`), in ms, if any. */
  retryAfter?(err: unknown): number | undefined;
  /** Random source in [0,1), for tests. */
  random?: () => number;
  /** Clock and backoff sleep, for tests (a fake clock that `sleep` advances runs seconds of backoff at once). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Raised inside an attempt when it ran out of time. */
export class AttemptTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'AttemptTimeoutError';
  }
}

/** Policies resolvePolicy made (frozen): handed back as they are, so a caller may resolve once per client. */
const RESOLVED = new WeakSet<object>();

/** The defaults with `p`'s overrides; a policy this function made is returned as it is. */
export function resolvePolicy(p?: Partial<RetryPolicy>): Readonly<RetryPolicy> {
  if (p && RESOLVED.has(p)) return p as Readonly<RetryPolicy>;
  const out = { ...DEFAULT_RETRY_POLICY, ...(p ?? {}) };
  if (p?.maxAttempts !== undefined && p.throttleMaxAttempts === undefined) out.throttleMaxAttempts = p.maxAttempts;
  out.maxAttempts = Math.max(1, Math.floor(out.maxAttempts));
  out.throttleMaxAttempts = Math.max(1, Math.floor(out.throttleMaxAttempts));
  Object.freeze(out);
  RESOLVED.add(out);
  return out;
}

/** Whether a failure class may be retried for a request of the given idempotency. */
export function isRetryable(cls: FailureClass, idempotent: boolean): boolean {
  if (cls === 'fatal') return false;
  if (cls === 'throttling' || cls === 'unsent') return true;
  return idempotent;
}

/** Full-jitter backoff before retry number `retry` (1 = first retry). */
export function backoffDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * cap);
}

/**
 * Equal-jitter backoff before retry number `retry` after throttling: half of
 * `min(throttleMaxDelayMs, throttleBaseDelayMs * 2^(retry-1))` always, plus up to as much again at random.
 */
export function throttleDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const cap = Math.min(policy.throttleMaxDelayMs, policy.throttleBaseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(cap / 2 + (random() * cap) / 2);
}

/** Sleeps, or rejects with CancelledError as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(new CancelledError());
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CancelledError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Per caller signal, the attempts linked to it (see onCallerAbort). */
const linked = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `fn` when the caller's `signal` aborts, until the returned function unlinks it. One 'abort'
 * listener per signal serves every attempt linked to it: adding and removing an EventTarget listener
 * per attempt cost Node tens of µs per request (measured on `kms-envelope bench`, whose 32 workers
 * share one signal), a Set entry almost nothing.
 */
function onCallerAbort(signal: AbortSignal, fn: () => void): () => void {
  let set = linked.get(signal);
  if (!set) {
    const attempts = new Set<() => void>();
    set = attempts;
    linked.set(signal, attempts);
    signal.addEventListener(
      'abort',
      () => {
        for (const f of [...attempts]) f();
        attempts.clear();
      },
      { once: true },
    );
  }
  const entry = set;
  entry.add(fn);
  return () => entry.delete(fn);
}

/**
 * Runs one attempt with its own timeout, linked to the caller's signal. Resolves or rejects as
 * soon as the op settles, the timeout fires (AttemptTimeoutError) or the caller aborts
 * (CancelledError), whichever comes first; a late settlement of the op is ignored.
 *
 * The attempt's AbortSignal is made only when the op reads `signal` (an SDK that takes one: Tencent,
 * AWS, the instance gateway); one made after the attempt was stopped is handed out aborted. The Alibaba
 * SDK takes none, and an AbortController per request is a measurable part of a load test's CPU
 * (`kms-envelope bench`).
 */
export async function runAttempt<T>(
  op: (ctx: AttemptContext) => Promise<T>,
  attempt: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<T> {
  if (signal?.aborted) throw new CancelledError();
  let ctl: AbortController | undefined;
  /** Why the attempt was stopped (its timeout or the caller's cancellation), once it was. */
  let stopped: Error | undefined;
  const ctx: AttemptContext = {
    attempt,
    timeoutMs,
    get signal() {
      if (!ctl) {
        ctl = new AbortController();
        if (stopped) ctl.abort(stopped);
      }
      return ctl.signal;
    },
  };
  let unlink: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stop = new Promise<never>((_resolve, reject) => {
    const end = (reason: Error) => {
      stopped ??= reason;
      ctl?.abort(reason);
      reject(reason);
    };
    timer = setTimeout(() => end(new AttemptTimeoutError(timeoutMs)), timeoutMs);
    if (signal) unlink = onCallerAbort(signal, () => end(new CancelledError()));
  });
  stop.catch(() => undefined);
  try {
    const running = op(ctx);
    // The op may settle after we stopped waiting; its late rejection must not go unhandled.
    running.catch(() => undefined);
    return await Promise.race([running, stop]);
  } catch (err) {
    // An SDK that honours the signal rejects with its own abort error; report ours instead.
    if (stopped) throw stopped;
    throw err;
  } finally {
    clearTimeout(timer);
    unlink?.();
  }
}

/** Runs `op` with the retry policy described at the top of this file. */
export async function withRetry<T>(op: (ctx: AttemptContext) => Promise<T>, opts: RetryOptions): Promise<T> {
  const policy = resolvePolicy(opts.policy);
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  const wait = opts.sleep ?? sleep;
  const start = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await runAttempt(op, attempt, policy.timeoutMs, opts.signal);
    } catch (err) {
      if (err instanceof CancelledError || opts.signal?.aborted) throw err instanceof CancelledError ? err : new CancelledError();
      const cls = err instanceof AttemptTimeoutError ? 'timeout' : opts.classify(err);
      const retryable = isRetryable(cls, opts.idempotent);
      const throttled = cls === 'throttling';
      const asked = opts.retryAfter?.(err);
      const retryAfterMs = asked !== undefined && Number.isFinite(asked) && asked >= 0 ? Math.ceil(asked) : undefined;
      const delay = Math.max(throttled ? throttleDelay(policy, attempt, random) : backoffDelay(policy, attempt, random), retryAfterMs ?? 0);
      const elapsed = now() - start;
      const outOfBudget = attempt >= (throttled ? policy.throttleMaxAttempts : policy.maxAttempts) || elapsed + delay > policy.totalTimeMs;
      if (!retryable || outOfBudget) {
        const info: RetryInfo = {
          attempts: attempt,
          elapsedMs: elapsed,
          lastClass: cls,
          exhausted: retryable && outOfBudget,
          retryAfterMs,
        };
        throw opts.finalize ? opts.finalize(err, info) : err;
      }
      opts.onRetry?.({ attempt, delayMs: delay, failure: cls, error: err });
      await wait(delay, opts.signal);
    }
  }
}

/**
 * Maps `items` through `fn` with at most `limit` calls in flight; results keep input order.
 * Stops starting new calls after the first failure or when the signal aborts, and rejects with
 * that failure once the calls already running have settled.
 */
export async function mapLimit<I, O>(
  items: readonly I[],
  limit: number,
  fn: (item: I, index: number) => Promise<O>,
  signal?: AbortSignal,
): Promise<O[]> {
  const out: O[] = new Array(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      if (signal?.aborted) {
        failed ??= { err: new CancelledError() };
        return;
      }
      const i = next++;
      try {
        out[i] = await fn(items[i], i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  const n = Math.max(1, Math.min(Math.floor(limit) || 1, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  if (failed) throw failed.err;
  return out;
}

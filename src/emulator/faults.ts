/**
 * Fault injection: latency, throttling, server errors and dropped connections, per action.
 *
 * A FaultConfig maps a selector to a rule. Selectors, most specific first:
 *   "tencent:Encrypt" / "aws:Encrypt"      one action of one gateway (tencent, alibaba, aws, and
 *                                          instance: the Alibaba KMS 3.0 instance gateway)
 *   "Encrypt"                              that action in every gateway
 *   "tencent:*" / "instance:*"             every action of one gateway
 *   "*"                                    every request
 * Latency comes from the most specific rule that sets it. Each failure kind is either a rate
 * (probability per call) or a count (the next N matching calls fail, deterministic for tests);
 * counts are consumed from the most specific rule first.
 *
 * What each kind looks like on the wire:
 *   throttle     Tencent RequestLimitExceeded (HTTP 200 error envelope) / Alibaba Throttling (HTTP 400)
 *                / AWS ThrottlingException (HTTP 400)
 *   error        Tencent InternalError (HTTP 200 error envelope)        / Alibaba InternalFailure (HTTP 500)
 *                / AWS KMSInternalException (HTTP 500)
 *   unavailable  Tencent HTTP 503 from the gateway (no JSON envelope)  / Alibaba ServiceUnavailableTemporary (HTTP 503)
 *                / AWS DependencyTimeoutException (HTTP 503)
 *   (instance gateway: Rejected.Throttling 429, InternalFailure 500, ServiceUnavailableTemporary 503, protobuf Error bodies)
 *   drop         the connection is destroyed after the request was read (the client sees ECONNRESET)
 */
export type FaultKind = 'throttle' | 'error' | 'unavailable' | 'drop';
export const FAULT_KINDS: readonly FaultKind[] = ['drop', 'unavailable', 'error', 'throttle'];

export type FaultAmount = { rate: number } | { count: number };

export interface FaultRule {
  latencyMs?: number;
  throttle?: FaultAmount;
  error?: FaultAmount;
  unavailable?: FaultAmount;
  drop?: FaultAmount;
}

export type FaultConfig = Record<string, FaultRule>;

export interface FaultDecision {
  latencyMs: number;
  kind?: FaultKind;
}

function selectorsFor(cloud: string, action: string): string[] {
  return [`${cloud}:${action}`, action, `${cloud}:*`, '*'];
}

/** Validates a FaultConfig (from the admin endpoint or code); throws with a message naming the bad field. */
export function validateFaults(input: unknown): FaultConfig {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    throw new Error('faults must be a JSON object of selector → rule');
  const out: FaultConfig = {};
  for (const [sel, raw] of Object.entries(input as Record<string, unknown>)) {
    if (!/^(\*|(tencent|alibaba|aws|instance):\*|((tencent|alibaba|aws|instance):)?[A-Za-z][A-Za-z0-9]*)$/.test(sel)) {
      throw new Error(
        `bad selector "${sel}": use "*", "Action", "<gateway>:Action" or "<gateway>:*" (gateway: tencent, alibaba, aws, instance)`,
      );
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`rule for "${sel}" must be an object`);
    const r = raw as Record<string, unknown>;
    const rule: FaultRule = {};
    for (const [field, v] of Object.entries(r)) {
      if (field === 'latencyMs') {
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > 600_000) throw new Error(`"${sel}".latencyMs must be 0..600000`);
        rule.latencyMs = v;
      } else if ((FAULT_KINDS as readonly string[]).includes(field)) {
        const a = v as Record<string, unknown> | null;
        if (a && typeof a === 'object' && typeof a.rate === 'number' && a.rate >= 0 && a.rate <= 1 && Object.keys(a).length === 1) {
          rule[field as FaultKind] = { rate: a.rate };
        } else if (
          a &&
          typeof a === 'object' &&
          typeof a.count === 'number' &&
          Number.isInteger(a.count) &&
          a.count >= 0 &&
          Object.keys(a).length === 1
        ) {
          rule[field as FaultKind] = { count: a.count };
        } else {
          throw new Error(`"${sel}".${field} must be {"rate": 0..1} or {"count": N}`);
        }
      } else {
        throw new Error(`unknown field "${field}" in the rule for "${sel}" (latencyMs, throttle, error, unavailable, drop)`);
      }
    }
    out[sel] = rule;
  }
  return out;
}

export class Faults {
  private config: FaultConfig = {};

  constructor(
    initial: FaultConfig = {},
    private readonly random: () => number = Math.random,
  ) {
    this.set(initial);
  }

  set(config: FaultConfig): void {
    this.config = structuredClone(validateFaults(config));
  }

  get(): FaultConfig {
    return structuredClone(this.config);
  }

  /** Decides what happens to one request (consumes counts). */
  decide(cloud: string, action: string): FaultDecision {
    const rules = selectorsFor(cloud, action)
      .map((s) => this.config[s])
      .filter((r): r is FaultRule => !!r);
    const latencyMs = rules.find((r) => r.latencyMs !== undefined)?.latencyMs ?? 0;
    for (const r of rules) {
      for (const kind of FAULT_KINDS) {
        const a = r[kind];
        if (a && 'count' in a && a.count > 0) {
          a.count--;
          return { latencyMs, kind };
        }
      }
    }
    for (const r of rules) {
      for (const kind of FAULT_KINDS) {
        const a = r[kind];
        if (a && 'rate' in a && a.rate > 0 && this.random() < a.rate) return { latencyMs, kind };
      }
    }
    return { latencyMs };
  }
}

/**
 * Parses the CLI's fault flags into a FaultConfig:
 *   --latency 50 | --latency Encrypt=100 | --latency tencent:Encrypt=100     (milliseconds)
 *   --throttle 20% | --throttle Encrypt=3 | --fail Decrypt=2 | --unavailable 10% | --drop ListKeys=1
 * A value ending in % is a rate; a plain integer is a count of next calls.
 */
export function parseFaultFlag(config: FaultConfig, flag: 'latency' | FaultKind, value: string): void {
  const eq = value.lastIndexOf('=');
  const sel = eq >= 0 ? value.slice(0, eq) : '*';
  const amount = eq >= 0 ? value.slice(eq + 1) : value;
  const rule: FaultRule = { ...(config[sel] ?? {}) };
  if (flag === 'latency') {
    if (!/^\d+$/.test(amount)) throw new Error(`--latency ${value}: give milliseconds, e.g. --latency 50 or --latency Encrypt=100`);
    rule.latencyMs = Number(amount);
  } else {
    const m = /^(\d+(?:\.\d+)?)%$/.exec(amount);
    if (m && Number(m[1]) <= 100) rule[flag] = { rate: Number(m[1]) / 100 };
    else if (/^\d+$/.test(amount)) rule[flag] = { count: Number(amount) };
    else
      throw new Error(
        `--${flag === 'error' ? 'fail' : flag} ${value}: give a rate like 20% or a count of next calls like 3, optionally after Action=`,
      );
  }
  const next = { ...config, [sel]: rule };
  Object.assign(config, validateFaults(next));
}

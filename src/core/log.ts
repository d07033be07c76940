/**
 * Logger interface used by core, CLI and extension (the extension adapts a LogOutputChannel).
 * Everything logged passes through `redact`, which masks values of secret-looking keys in
 * objects and secret-looking `key=value` / JSON pairs in strings.
 */
export interface Logger {
  trace(message: string, ...args: unknown[]): void;
  debug(message: string, ...args: unknown[]): void;
  info(message: string, ...args: unknown[]): void;
  warn(message: string, ...args: unknown[]): void;
  error(message: string | Error, ...args: unknown[]): void;
}

/** Field names whose values are secrets (matched case-insensitively, anywhere in the name). */
const SECRET_NAME =
  /(secret|password|passwd|token|plaintext|authorization|signature|credential|privatekey|private_key|datakey|data_key|keymaterial|key_material|accesskeysecret|sessiontoken)/i;

export const REDACTED = '[redacted]';

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[…]';
  if (value === null || value === undefined) return value;
  if (typeof value === 'string') return redactString(value);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (value instanceof Error) {
    const e = new Error(redactString(value.message));
    e.name = value.name;
    return e;
  }
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      out[k] = isSecretName(k) ? REDACTED : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

const PAIR =
  /("?)([A-Za-z0-9_.-]*(?:secret|password|token|plaintext|authorization|signature|credential|datakey|keymaterial)[A-Za-z0-9_.-]*)\1(\s*[:=]\s*)("[^"]*"|[^\s,;&}]+)/gi;

export function redactString(s: string): string {
  return s.replace(PAIR, (_m, q, name, sep) => `${q}${name}${q}${sep}${q ? '"' + REDACTED + '"' : REDACTED}`);
}

/** A logger that writes nothing. */
export const nullLogger: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** Logger to stderr (or `out`) for the CLI, honouring a level. */
export function stderrLogger(
  level: 'error' | 'warn' | 'info' | 'debug' | 'trace' = 'warn',
  out: NodeJS.WritableStream = process.stderr,
): Logger {
  const order = ['trace', 'debug', 'info', 'warn', 'error'];
  const min = order.indexOf(level);
  const emit = (lvl: string, message: string | Error, args: unknown[]) => {
    if (order.indexOf(lvl) < min) return;
    const text = message instanceof Error ? message.message : message;
    const extra = args.length ? ' ' + args.map((a) => JSON.stringify(redact(a))).join(' ') : '';
    out.write(`[${lvl}] ${redactString(text)}${extra}\n`);
  };
  return {
    trace: (m, ...a) => emit('trace', m, a),
    debug: (m, ...a) => emit('debug', m, a),
    info: (m, ...a) => emit('info', m, a),
    warn: (m, ...a) => emit('warn', m, a),
    error: (m, ...a) => emit('error', m, a),
  };
}

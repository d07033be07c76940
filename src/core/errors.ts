/**
 * Typed errors shared by every layer. Each error says what went wrong, names the
 * file / key / region involved, and carries a next step for the user (`hint`).
 * Messages never contain secrets: callers pass identifiers, never key material.
 *
 * The CLI maps `kind` to its exit code (see EXIT_CODES); the extension shows
 * `message` + `hint` and offers actions based on `kind` / `providerCode`.
 */
export type ErrorKind = 'usage' | 'format' | 'provider' | 'credentials' | 'cancelled' | 'io';

export const EXIT_CODES: Record<ErrorKind, number> = {
  usage: 1,
  io: 1,
  format: 2,
  provider: 3,
  credentials: 4,
  cancelled: 130,
};

export interface ErrorDetails {
  /** File the operation was reading or writing. */
  file?: string;
  /** Provider name: local, tencent, alibaba, aws. */
  provider?: string;
  region?: string;
  keyId?: string;
  profile?: string;
  /** The cloud's own error code, e.g. `ResourceUnavailable.CmkDisabled`. */
  providerCode?: string;
  requestId?: string;
  /** HTTP status when the error came from a cloud endpoint. */
  status?: number;
  /** Whether repeating the same request may succeed (throttling, 5xx, network). */
  retryable?: boolean;
}

export class KmsEnvelopeError extends Error {
  readonly kind: ErrorKind;
  readonly hint?: string;
  readonly details: ErrorDetails;

  constructor(kind: ErrorKind, message: string, opts: { hint?: string; cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'KmsEnvelopeError';
    this.kind = kind;
    this.hint = opts.hint;
    this.details = opts.details ?? {};
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }

  /** One or two lines for a terminal or a notification: message, then the next step. */
  describe(): string {
    return this.hint ? `${this.message}\n  → ${this.hint}` : this.message;
  }
}

/** Next steps for format errors (ErrorKind 'format'): what the user can do about each kind. */
export const FORMAT_HINTS = {
  notBlob: 'Give the file or value that kms-envelope sealed, unchanged (kms-envelope inspect shows what a blob holds).',
  truncated: 'The blob is incomplete (cut short in a copy, upload or download): get the whole sealed file again.',
  modified:
    'The blob was changed after sealing (edited, re-encoded as text, or damaged in transfer): use an intact copy, and copy sealed files as binary.',
  trailing: 'Extra bytes follow the blob (two files joined, or trailing data from a transfer): keep only the sealed bytes.',
  unsupported: 'Open it with the tool that made it, or seal the plaintext again with kms-envelope.',
} as const;

export const usageError = (message: string, hint?: string, details?: ErrorDetails) =>
  new KmsEnvelopeError('usage', message, { hint, details });
export const formatError = (message: string, hint?: string, details?: ErrorDetails, cause?: unknown) =>
  new KmsEnvelopeError('format', message, { hint, details, cause });
export const providerError = (message: string, hint?: string, details?: ErrorDetails, cause?: unknown) =>
  new KmsEnvelopeError('provider', message, { hint, details, cause });
export const credentialsError = (message: string, hint?: string, details?: ErrorDetails, cause?: unknown) =>
  new KmsEnvelopeError('credentials', message, { hint, details, cause });

export class CancelledError extends KmsEnvelopeError {
  constructor(message = 'Cancelled.') {
    super('cancelled', message);
    this.name = 'CancelledError';
  }
}

export function isCancelled(err: unknown): boolean {
  return err instanceof CancelledError || (err instanceof Error && err.name === 'AbortError');
}

/** Throws CancelledError if the signal is aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}

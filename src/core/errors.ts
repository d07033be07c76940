/**
 * Typed errors shared by every layer. Each error says what went wrong, names the
 * file / key / region involved, and carries a next step for the user (`hint`).
 * Messages never contain secrets: callers pass identifiers, never key material.
 *
 * The CLI maps `kind` to its exit code (see EXIT_CODES); the extension shows
 * `message` + `hint` and offers actions based on the hint's next steps.
 *
 * A hint names its next steps as intents (`NextStep`: enable this key, test that profile), not as
 * the words of one front door: the CLI renders them as `kms-envelope …` command lines
 * (cli/hints.ts), VS Code as command titles and action buttons (extension/hints.ts).
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

/** The key a next step is about. */
export interface StepKey {
  provider: string;
  region: string;
  keyId: string;
  profile?: string;
}

/** A next step, as an intent: core says what to do, each front door says how. */
export type NextStep =
  | { action: 'enableKey' | 'disableKey' | 'cancelDeletion' | 'describeKey'; key: StepKey }
  | { action: 'setAlias'; key: StepKey; alias?: string }
  | { action: 'listKeys'; provider: string; region?: string; profile?: string }
  | { action: 'createKey'; provider: string; region?: string }
  /** Move an alias that another key holds onto a key that does not exist yet (the one being created). */
  | { action: 'moveAlias'; provider: string; region: string; profile?: string; alias: string }
  /** `replace`: add it again over the profile of that name. */
  | { action: 'addProfile'; provider: string; name?: string; replace?: boolean }
  | { action: 'testProfile'; provider: string; name: string }
  | { action: 'rotateSecret'; provider: string; name: string; sts?: boolean }
  | { action: 'listProfiles'; provider?: string }
  | { action: 'importKey'; provider: string; keyId?: string }
  | { action: 'exportKey'; provider: string; keyId?: string }
  /** Seal a file whole, or (`values`) the values its policy selects. */
  | { action: 'seal'; file?: string; values?: boolean }
  | { action: 'inspect'; file?: string };

/** A hint: plain text, or text with next steps between (`['Enable it: ', step, ', or use another key.']`). */
export type HintPart = string | NextStep;
export type Hint = string | readonly HintPart[];
/** How a front door words a next step. */
export type StepWords = (step: NextStep) => string;

const keyName = (k: StepKey) => `${k.provider}:${k.region}:${k.keyId}`;

/** Words of no front door in particular (logs, tooltips of core's own models, nested messages). */
export const plainStep: StepWords = (s) => {
  switch (s.action) {
    case 'enableKey':
      return `enable key ${keyName(s.key)}`;
    case 'disableKey':
      return `disable key ${keyName(s.key)}`;
    case 'cancelDeletion':
      return `cancel the deletion of key ${keyName(s.key)}`;
    case 'describeKey':
      return `describe key ${keyName(s.key)}`;
    case 'setAlias':
      return `set the alias${s.alias ? ` ${s.alias}` : ''} on key ${keyName(s.key)}`;
    case 'listKeys':
      return `list the ${s.provider} keys${s.region ? ` in ${s.region}` : ''}`;
    case 'createKey':
      return `create a ${s.provider} key`;
    case 'moveAlias':
      return `move the alias ${s.alias} to the new key`;
    case 'addProfile':
      if (s.replace) return `add ${s.provider} profile${s.name ? ` ${s.name}` : ''} again over the old one`;
      return `add a ${s.provider} profile${s.name ? ` ${s.name}` : ''}`;
    case 'testProfile':
      return `test ${s.provider} profile ${s.name}`;
    case 'rotateSecret':
      return `rotate the secret of ${s.provider} profile ${s.name}`;
    case 'listProfiles':
      return `list the ${s.provider ? `${s.provider} ` : ''}profiles`;
    case 'importKey':
      return `import the ${s.provider} key${s.keyId ? ` ${s.keyId}` : ''}`;
    case 'exportKey':
      return `export the ${s.provider} key${s.keyId ? ` ${s.keyId}` : ''}`;
    case 'seal':
      return s.values ? 'seal the values the policy selects' : 'seal the file';
    case 'inspect':
      return `inspect the blob's header`;
  }
};

/** A hint as one line in the given words (undefined for no hint). */
export function renderHint(hint: Hint | undefined, words: StepWords = plainStep): string | undefined {
  if (hint === undefined) return undefined;
  if (typeof hint === 'string') return hint || undefined;
  return hint.map((p) => (typeof p === 'string' ? p : words(p))).join('') || undefined;
}

/** The next steps a hint names, in order. */
export function hintSteps(hint: Hint | undefined): NextStep[] {
  return typeof hint === 'object' ? hint.filter((p): p is NextStep => typeof p !== 'string') : [];
}

/** A hint as parts (to build a larger hint from it). */
export function hintParts(hint: Hint | undefined): HintPart[] {
  return hint === undefined ? [] : typeof hint === 'string' ? [hint] : [...hint];
}

export class KmsEnvelopeError extends Error {
  readonly kind: ErrorKind;
  /** The next step, with its intents (render it with `hintIn`); `hint` is it in plain words. */
  readonly hintParts?: Hint;
  readonly details: ErrorDetails;

  constructor(kind: ErrorKind, message: string, opts: { hint?: Hint; cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'KmsEnvelopeError';
    this.kind = kind;
    this.hintParts = opts.hint;
    this.details = opts.details ?? {};
  }

  /** The next step in plain words (front doors use `hintIn` with their own). */
  get hint(): string | undefined {
    return renderHint(this.hintParts);
  }

  /** The next step in a front door's words. */
  hintIn(words: StepWords): string | undefined {
    return renderHint(this.hintParts, words);
  }

  /** The next steps the hint names (a front door may offer them as buttons). */
  get steps(): NextStep[] {
    return hintSteps(this.hintParts);
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }

  /** One or two lines for a terminal or a notification: message, then the next step. */
  describe(words: StepWords = plainStep): string {
    const hint = this.hintIn(words);
    return hint ? `${this.message}\n  → ${hint}` : this.message;
  }
}

/** Next steps for format errors (ErrorKind 'format'): what the user can do about each kind. */
export const FORMAT_HINTS: Record<'notBlob' | 'truncated' | 'modified' | 'trailing' | 'unsupported', Hint> = {
  notBlob: ['Give the file or value that KMS Envelope sealed, unchanged; to see what a blob holds: ', { action: 'inspect' }, '.'],
  truncated: 'The blob is incomplete (cut short in a copy, upload or download): get the whole sealed file again.',
  modified:
    'The blob was changed after sealing (edited, re-encoded as text, or damaged in transfer): use an intact copy, and copy sealed files as binary.',
  trailing: 'Extra bytes follow the blob (two files joined, or trailing data from a transfer): keep only the sealed bytes.',
  unsupported: 'Open it with the tool that made it, or seal the plaintext again with KMS Envelope.',
};

export const usageError = (message: string, hint?: Hint, details?: ErrorDetails) =>
  new KmsEnvelopeError('usage', message, { hint, details });
export const formatError = (message: string, hint?: Hint, details?: ErrorDetails, cause?: unknown) =>
  new KmsEnvelopeError('format', message, { hint, details, cause });
export const providerError = (message: string, hint?: Hint, details?: ErrorDetails, cause?: unknown) =>
  new KmsEnvelopeError('provider', message, { hint, details, cause });
export const credentialsError = (message: string, hint?: Hint, details?: ErrorDetails, cause?: unknown) =>
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

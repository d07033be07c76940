import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The user's config directory for KMS Envelope (no secrets are ever written there).
 * KMS_ENVELOPE_CONFIG_DIR overrides it (tests, sandboxes, CI).
 */
export function configDir(env: Readonly<Record<string, string | undefined>>): string {
  if (env.KMS_ENVELOPE_CONFIG_DIR) return path.resolve(env.KMS_ENVELOPE_CONFIG_DIR);
  const home = os.homedir();
  switch (process.platform) {
    case 'win32':
      return path.join(env.APPDATA || path.join(home, 'AppData', 'Roaming'), 'kms-envelope');
    case 'darwin':
      return path.join(home, 'Library', 'Application Support', 'kms-envelope');
    default:
      return path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'kms-envelope');
  }
}

// C0 and C1 controls, DEL, and the Unicode marks that reorder or break lines in a terminal.
const UNSAFE_IN_NAMES = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A file name as it may appear in a message: unchanged when it is plain, else in double quotes with
 * every control or bidi character escaped (`"a\nb"`, `"x\u001b[31m"`), so a crafted name cannot
 * forge lines or colours in a terminal, a log or a notification.
 */
export function displayPath(p: string): string {
  UNSAFE_IN_NAMES.lastIndex = 0;
  if (!UNSAFE_IN_NAMES.test(p)) return p;
  return `"${escapeControls(p.replace(/["\\]/g, '\\$&'))}"`;
}

/** Text that may hold a file name (a system error's message): control and bidi characters escaped. */
export function escapeControls(s: string): string {
  return s.replace(UNSAFE_IN_NAMES, (c) => NAMED_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

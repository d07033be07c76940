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

/**
 * Opt-in key files for machines with no OS keychain (headless servers, containers, CI).
 * Used ONLY when the user sets KMS_ENVELOPE_KEY_FILE_DIR (or passes --key-file-dir to the CLI):
 * key material then lies on disk, protected by file permissions alone, and the CLI says so once.
 *
 * Layout: <dir>/<service>/<account>.key, one file per secret, the secret as one line of text.
 * Directories are created 0700 and files written 0600 through writeFileAtomic (temp + fsync +
 * rename), so a crash never leaves a half-written key. Service and account names are restricted
 * to [A-Za-z0-9._-] so a name can never escape the directory.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../atomic';
import { credentialsError, usageError } from '../../errors';
import type { SecretStore } from '../../secrets';

import { KEY_FILE_DIR_ENV } from './descriptor';

export { KEY_FILE_DIR_ENV };
const SAFE = /^[A-Za-z0-9._-]{1,128}$/;
const SUFFIX = '.key';

function checkName(what: string, name: string): string {
  if (!SAFE.test(name) || name === '.' || name === '..') {
    throw usageError(
      `"${name}" cannot be used as a key file ${what}.`,
      'Key ids and service names use only letters, digits, ".", "_" and "-".',
    );
  }
  return name;
}

export class FileSecretStore implements SecretStore {
  readonly description: string;
  readonly dir: string;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
    this.description = `key files in ${this.dir} (${KEY_FILE_DIR_ENV})`;
  }

  private fileFor(service: string, account: string): string {
    return path.join(this.dir, checkName('service', service), checkName('name', account) + SUFFIX);
  }

  private async ensureDir(service: string): Promise<string> {
    const d = path.join(this.dir, checkName('service', service));
    try {
      await fsp.mkdir(d, { recursive: true, mode: 0o700 });
      // mkdir's mode is masked by umask and ignored for existing dirs: set it explicitly.
      await fsp.chmod(this.dir, 0o700);
      await fsp.chmod(d, 0o700);
    } catch (err) {
      throw this.ioError(`create the key file directory ${d}`, err);
    }
    return d;
  }

  private ioError(what: string, err: unknown) {
    return credentialsError(
      `Could not ${what}: ${(err as Error).message}.`,
      `Check that ${this.dir} exists and belongs to you, or unset ${KEY_FILE_DIR_ENV} to use the OS keychain.`,
      { file: this.dir },
      err,
    );
  }

  async get(service: string, account: string): Promise<string | undefined> {
    const f = this.fileFor(service, account);
    try {
      return (await fsp.readFile(f, 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw this.ioError(`read the key file ${f}`, err);
    }
  }

  async set(service: string, account: string, secret: string): Promise<void> {
    await this.ensureDir(service);
    const f = this.fileFor(service, account);
    try {
      await writeFileAtomic(f, secret + '\n', 0o600);
    } catch (err) {
      throw this.ioError(`write the key file ${f}`, err);
    }
  }

  async delete(service: string, account: string): Promise<boolean> {
    const f = this.fileFor(service, account);
    try {
      await fsp.unlink(f);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw this.ioError(`delete the key file ${f}`, err);
    }
  }

  async list(service: string): Promise<string[]> {
    const d = path.join(this.dir, checkName('service', service));
    try {
      return (await fsp.readdir(d)).filter((n) => n.endsWith(SUFFIX)).map((n) => n.slice(0, -SUFFIX.length));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw this.ioError(`list ${d}`, err);
    }
  }
}

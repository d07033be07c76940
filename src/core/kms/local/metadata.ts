/**
 * Metadata of local keys: `local-keys.json` in the config directory. It holds ids, aliases,
 * descriptions, states and dates, NEVER key material (that lives in the SecretStore).
 *
 * Read-modify-write cycles are serialised within the process by a promise chain and across
 * processes (two CLI runs, the CLI and the extension) by an exclusive lock file created with
 * O_EXCL next to the metadata; a lock older than STALE_MS is considered left behind by a crashed
 * process and taken over. Hand-written (30 lines) rather than a lock library: the project has no
 * such dependency and the semantics needed are this small. Writes are atomic (temp + rename).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../atomic';
import { KmsEnvelopeError } from '../../errors';

export type LocalKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface LocalKeyRecord {
  id: string;
  alias?: string;
  description?: string;
  state: LocalKeyState;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601, set while PendingDeletion. */
  deletionDate?: string;
  /** 'generated' or 'imported'. */
  origin: 'generated' | 'imported';
}

export interface LocalKeyFile {
  version: 1;
  keys: LocalKeyRecord[];
}

export const METADATA_FILE = 'local-keys.json';
const LOCK_WAIT_MS = 10_000;
const STALE_MS = 15_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LocalMetadataStore {
  readonly file: string;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(readonly dir: string) {
    this.file = path.join(dir, METADATA_FILE);
  }

  async read(): Promise<LocalKeyFile> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, keys: [] };
      throw this.ioError('read', err);
    }
    try {
      const data = JSON.parse(text) as LocalKeyFile;
      if (data?.version !== 1 || !Array.isArray(data.keys)) throw new Error('unexpected structure');
      return data;
    } catch (err) {
      throw new KmsEnvelopeError('io', `The local key list ${this.file} is damaged (${(err as Error).message}).`, {
        hint: [
          'Restore it from a backup, or move it aside; key material stays in the keychain and can be re-attached by importing it (',
          { action: 'importKey', provider: 'local' },
          ').',
        ],
        details: { file: this.file, provider: 'local' },
      });
    }
  }

  /** Runs fn on the current contents under the lock and writes back what it returns (if anything). */
  async update<T>(fn: (data: LocalKeyFile) => Promise<{ data?: LocalKeyFile; result: T }>): Promise<T> {
    const run = async () => {
      const release = await this.lock();
      try {
        const current = await this.read();
        const { data, result } = await fn(current);
        if (data) await this.write(data);
        return result;
      } finally {
        await release();
      }
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async write(data: LocalKeyFile): Promise<void> {
    try {
      await writeFileAtomic(this.file, JSON.stringify(data, null, 2) + '\n', 0o600);
    } catch (err) {
      throw this.ioError('write', err);
    }
  }

  private async lock(): Promise<() => Promise<void>> {
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw this.ioError('create the directory of', err);
    }
    const lockFile = this.file + '.lock';
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const fh = await fsp.open(lockFile, 'wx', 0o600);
        await fh.writeFile(String(process.pid));
        await fh.close();
        return async () => {
          await fsp.rm(lockFile, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw this.ioError('lock', err);
      }
      const st = await fsp.stat(lockFile).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > STALE_MS) {
        await fsp.rm(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new KmsEnvelopeError('io', `The local key list ${this.file} stayed locked for ${LOCK_WAIT_MS / 1000} s.`, {
          hint: `Another kms-envelope process is changing local keys; retry. If none is running, remove ${lockFile}.`,
          details: { file: lockFile, provider: 'local' },
        });
      }
      await sleep(15 + Math.random() * 20);
    }
  }

  private ioError(what: string, err: unknown) {
    return new KmsEnvelopeError('io', `Could not ${what} the local key list ${this.file}: ${(err as Error).message}.`, {
      hint: 'Check the permissions of the config directory, or set KMS_ENVELOPE_CONFIG_DIR to a writable one.',
      details: { file: this.file, provider: 'local' },
      cause: err,
    });
  }
}

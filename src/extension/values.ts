/**
 * Config files sealed value by value (README "Config files"), in the editor:
 *
 * - Seal Values in File (explorer / editor menus, palette): the values the nearest .kms-envelope.yaml
 *   selects are sealed in place, one header line per file, one KMS call per file; nothing written and no
 *   KMS call when nothing is left to seal.
 * - Unseal Values in File: the file opened decrypted in memory in a `kms-sealed:` editor
 *   (`kms-sealed:/path/values.yaml?values=<path>`); the file on disk keeps its sealed values. Saving
 *   seals again by the policy with the file's data key (no KMS call for a file that has a header):
 *   unchanged values keep their records byte for byte; a save that does not change the plaintext writes
 *   nothing and calls no KMS.
 * - Debug sessions: a launch configuration of any type with `"kmsEnvelopeEnv": ["app.env", …]` gets the
 *   unsealed values of those files in its `env` (what `kms-envelope exec --env` does), in memory only.
 * - Restricted Mode: a policy file does not choose keys in an untrusted workspace. A file without a
 *   header is sealed to a key the person picks (the default key from the user's settings, else a quick
 *   pick), without the policy's extra encryption context; the policy still says which values.
 *
 * The work is core/services/values-service (no vscode); this file is the editor's thin layer.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { writeFileAtomic } from '../core/atomic';
import { usageError } from '../core/errors';
import type { EnvelopeService } from '../core/services/envelope-service';
import { targetFromKeyref } from '../core/services/envelope-service';
import type { SealPlan, ValuesService } from '../core/services/values-service';
import type { ValuesSession } from '../core/values/engine';
import { HEADER_PREFIX } from '../core/values/constants';
import type { KeyPicker } from './key-picker';
import type { ExtensionLogger } from './log';
import { SEALED_SCHEME, type SealedFileSystem } from './sealed-fs';
import { ui, withCancellableProgress } from './ui';
import { recipientLabel } from '../core/envelope/recipients';

/** The query parameter that marks a `kms-sealed:` editor of a file of sealed values (and names the file). */
const VALUES_QUERY = 'values';

export function valuesUri(file: string): vscode.Uri {
  return vscode.Uri.from({ scheme: SEALED_SCHEME, path: vscode.Uri.file(file).path, query: `${VALUES_QUERY}=${encodeURIComponent(file)}` });
}

export function isValuesUri(uri: vscode.Uri): boolean {
  return uri.scheme === SEALED_SCHEME && new RegExp(`(?:^|&)${VALUES_QUERY}=`).test(uri.query);
}

export function valuesPathOf(uri: vscode.Uri): string {
  const m = new RegExp(`(?:^|&)${VALUES_QUERY}=([^&]*)`).exec(uri.query);
  return m ? decodeURIComponent(m[1]!) : vscode.Uri.file(uri.path).fsPath;
}

/** What a seal needs from the policy, adjusted for Restricted Mode. */
type Plan = Pick<SealPlan, 'select' | 'recipients' | 'context'>;

export class ValuesCommands {
  private svc?: Promise<ValuesService>;

  constructor(
    private readonly envelope: EnvelopeService,
    private readonly picker: KeyPicker,
    private readonly log: ExtensionLogger,
    /** vscode.workspace.isTrusted, read at each use (trust can be granted while the window is open). */
    private readonly trusted: () => boolean = () => vscode.workspace.isTrusted,
  ) {}

  /** The values service (loaded on first use: it brings the Encryption SDK). */
  service(): Promise<ValuesService> {
    this.svc ??= import('../core/services/values-service.js').then(
      ({ ValuesService }) =>
        new ValuesService(
          {
            recipients: (keyrefs) => this.envelope.recipients(keyrefs.map((k) => targetFromKeyref(k))),
            resolve: this.envelope.resolver(),
          },
          { logger: this.log },
        ),
    );
    return this.svc;
  }

  /**
   * The policy's plan for a file. In Restricted Mode the policy's keys and extra context are not used:
   * a new header is made for the key the person picks.
   */
  async plan(file: string, signal?: AbortSignal): Promise<Plan> {
    const p = await (await this.service()).plan(file, { signal });
    if (this.trusted()) return p;
    return {
      select: p.select,
      context: {},
      recipients: async () => {
        this.log.warn(
          `Restricted Mode: the keys of ${p.rule.keys.join(', ')} in the workspace's policy are not used for ${file}; sealing to a key you choose.`,
        );
        const t = await this.picker.resolve(undefined, `Seal values of ${path.basename(file)} with which key? (Restricted Mode)`);
        return this.envelope.recipients([t]);
      },
    };
  }

  /** Explorer passes (clicked, allSelected); the editor menu passes its Uri; the palette nothing (the active editor). */
  private files(arg?: unknown, second?: unknown): string[] {
    const uris =
      Array.isArray(second) && second.length && second.every((u) => u instanceof vscode.Uri)
        ? (second as vscode.Uri[])
        : arg instanceof vscode.Uri
          ? [arg]
          : vscode.window.activeTextEditor
            ? [vscode.window.activeTextEditor.document.uri]
            : [];
    if (!uris.length)
      throw usageError('No file to work on.', 'Right-click a YAML, JSON or .env file in the explorer, or open it in an editor first.');
    return uris.map((u) => {
      if (isValuesUri(u)) return valuesPathOf(u);
      if (u.scheme !== 'file')
        throw usageError(`${u.toString()} is not a file on disk.`, 'Seal Values in File works on files of the local file system.');
      return u.fsPath;
    });
  }

  /** Seal Values in File: seals, in place, the values the policy selects. Returns what was sealed, per file. */
  async sealValues(arg?: unknown, second?: unknown): Promise<Array<{ file: string; sealed: string[]; kept: number }>> {
    const out: Array<{ file: string; sealed: string[]; kept: number }> = [];
    for (const file of this.files(arg, second)) {
      // The decrypted editor of this file is open: saving it is what seals its values.
      const open = vscode.workspace.textDocuments.find((d) => isValuesUri(d.uri) && valuesPathOf(d.uri) === file);
      if (open?.isDirty) await open.save();
      // An editor of the file itself with unsaved edits: they are what is to be sealed.
      const plainDoc = vscode.workspace.textDocuments.find((d) => d.uri.scheme === 'file' && d.uri.fsPath === file);
      if (plainDoc?.isDirty) await plainDoc.save();
      const svc = await this.service();
      const text = await fsp.readFile(file, 'utf8');
      const r = await withCancellableProgress(`Sealing values of ${path.basename(file)}…`, async (signal) => {
        const p = await this.plan(file, signal);
        const { sealValues } = await import('../core/values/engine.js');
        return sealValues(text, {
          format: await svc.formatFor(file),
          name: file,
          select: p.select,
          recipients: p.recipients,
          resolve: this.envelope.resolver(),
          context: p.context,
          signal,
        });
      });
      if (r.changed) {
        const mode = (await fsp.stat(file)).mode & 0o777;
        await writeFileAtomic(file, r.text, mode);
        const keys = r.header?.recipients.map(recipientLabel).join(', ') ?? '';
        this.log.info(
          `Sealed ${r.sealed.length} value(s) of ${file} (${r.sealed.join(', ')}) for ${keys}; ${r.kept} already sealed, kept.`,
        );
        vscode.window.setStatusBarMessage(
          `$(lock) Sealed ${r.sealed.length} value${r.sealed.length === 1 ? '' : 's'} of ${path.basename(file)}`,
          5000,
        );
      } else {
        ui.prompts.inform(
          r.kept
            ? `Nothing to seal in ${path.basename(file)}: the ${r.kept} value${r.kept > 1 ? 's' : ''} the policy selects ${r.kept > 1 ? 'are' : 'is'} sealed already.`
            : `Nothing to seal in ${path.basename(file)}: its policy rule selects none of its values.`,
        );
      }
      out.push({ file, sealed: r.sealed, kept: r.kept });
    }
    return out;
  }

  /** Unseal Values in File: the file decrypted in memory in a `kms-sealed:` editor; nothing is written. */
  async unsealValues(arg?: unknown, second?: unknown): Promise<vscode.Uri> {
    const [file] = this.files(arg, second);
    const svc = await this.service();
    const { inspectValues } = await import('../core/values/engine.js');
    const found = inspectValues(await fsp.readFile(file!, 'utf8'), { format: await svc.formatFor(file!), name: file! });
    if (!found.records.length && !found.standalone.length) {
      throw usageError(`${path.basename(file!)} has no sealed values.`, 'Seal Values in File seals the values its policy selects.', {
        file,
      });
    }
    const uri = valuesUri(file!);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: false });
    return uri;
  }

  /**
   * The environment a debug session gets from `kmsEnvelopeEnv` (file paths, relative to the folder):
   * the unsealed values, in memory. Refused in Restricted Mode.
   */
  async debugEnv(files: string[], folder: string | undefined, signal?: AbortSignal): Promise<Record<string, string>> {
    if (!this.trusted())
      throw usageError(
        'kmsEnvelopeEnv is not used in Restricted Mode: the workspace is not trusted.',
        'Trust the workspace (Manage Workspace Trust) to debug with its sealed environment.',
      );
    const abs = files.map((f) => (path.isAbsolute(f) ? f : path.resolve(folder ?? process.cwd(), f)));
    return (await this.service()).env(abs, { signal });
  }
}

/** A values file opened decrypted: its session (data key, last sealed / plain text), nothing on disk. */
interface Open {
  session: ValuesSession;
}

/**
 * The `kms-sealed:` file system for files of sealed values (`?values=`). readFile unseals in memory (one
 * Decrypt); writeFile seals the edited text by the policy with the file's data key and replaces the
 * file atomically; an unchanged plaintext is neither sealed nor written.
 */
export class ValuesFileSystem {
  private readonly emitter = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
  readonly onDidChangeFile = this.emitter.event;
  private readonly open = new Map<string, Open>();

  constructor(
    private readonly commands: ValuesCommands,
    private readonly log: ExtensionLogger,
  ) {}

  async stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    const file = valuesPathOf(uri);
    const st = await fsp.stat(file).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? vscode.FileSystemError.FileNotFound(uri) : err;
    });
    const o = this.open.get(file);
    return {
      type: vscode.FileType.File,
      ctime: st.ctimeMs,
      mtime: st.mtimeMs,
      size: o ? Buffer.byteLength(o.session.plainText) : st.size,
    };
  }

  /** The session for the file's text on disk: the open one when the file is as it left it, else a new one (one Decrypt). */
  private async session(file: string, text: string): Promise<Open> {
    const o = this.open.get(file);
    if (o && o.session.sealedText === text) return o;
    const svc = await this.commands.service();
    const { session } = await withCancellableProgress(`Unsealing values of ${path.basename(file)}…`, (signal) =>
      svc.open(file, text, { signal }),
    );
    o?.session.dispose();
    const next = { session };
    this.open.set(file, next);
    return next;
  }

  async readFile(uri: vscode.Uri): Promise<Uint8Array> {
    const file = valuesPathOf(uri);
    const text = await fsp.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? vscode.FileSystemError.FileNotFound(uri) : err;
    });
    const o = await this.session(file, text);
    this.log.info(`Opened the values of ${file} decrypted in memory.`);
    return Buffer.from(o.session.plainText, 'utf8');
  }

  async writeFile(uri: vscode.Uri, content: Uint8Array): Promise<void> {
    const file = valuesPathOf(uri);
    const plain = Buffer.from(content).toString('utf8');
    const onDisk = await fsp.readFile(file, 'utf8');
    const o = await this.session(file, onDisk);
    if (plain === o.session.plainText) {
      this.log.info(`Saved ${file}: no value changed, nothing written.`);
      return;
    }
    const r = await withCancellableProgress(`Sealing values of ${path.basename(file)}…`, async (signal) => {
      let plan: Plan;
      try {
        plan = await this.commands.plan(file, signal);
      } catch (err) {
        // A file with a header is sealed with its own data key: values sealed before stay sealed even without a policy.
        if (!onDisk.includes(HEADER_PREFIX)) throw err;
        this.log.warn(`${file}: ${(err as Error).message} Only the values sealed before are sealed again.`);
        plan = { select: () => false, context: {}, recipients: () => Promise.reject(err) };
      }
      return o.session.seal(plain, { ...plan, signal });
    });
    if (!r.changed) return;
    const mode = (await fsp.stat(file)).mode & 0o777;
    await writeFileAtomic(file, r.text, mode);
    this.log.info(
      `Saved ${file}: ${r.sealed.length} value(s) sealed${r.sealed.length ? ` (${r.sealed.join(', ')})` : ''}, ${r.reused} kept as they were.`,
    );
    this.emitter.fire([{ type: vscode.FileChangeType.Changed, uri }]);
  }

  forget(uri: vscode.Uri): void {
    const file = valuesPathOf(uri);
    this.open.get(file)?.session.dispose();
    this.open.delete(file);
  }

  dispose(): void {
    for (const o of this.open.values()) o.session.dispose();
    this.open.clear();
    this.emitter.dispose();
  }
}

/**
 * The one provider of the `kms-sealed:` scheme: files of sealed values (`?values=`) go to the values
 * file system, whole sealed files to SealedFileSystem.
 */
export class SealedSchemeRouter implements vscode.FileSystemProvider {
  readonly onDidChangeFile: vscode.Event<vscode.FileChangeEvent[]>;

  constructor(
    private readonly sealed: SealedFileSystem,
    private readonly values: ValuesFileSystem,
  ) {
    const both = new vscode.EventEmitter<vscode.FileChangeEvent[]>();
    sealed.onDidChangeFile((e) => both.fire(e));
    values.onDidChangeFile((e) => both.fire(e));
    this.onDidChangeFile = both.event;
  }

  watch(): vscode.Disposable {
    return this.sealed.watch();
  }
  stat(uri: vscode.Uri): Promise<vscode.FileStat> {
    return isValuesUri(uri) ? this.values.stat(uri) : this.sealed.stat(uri);
  }
  readFile(uri: vscode.Uri): Promise<Uint8Array> {
    return isValuesUri(uri) ? this.values.readFile(uri) : this.sealed.readFile(uri);
  }
  writeFile(uri: vscode.Uri, content: Uint8Array, o: { create: boolean; overwrite: boolean }): Promise<void> {
    return isValuesUri(uri) ? this.values.writeFile(uri, content) : this.sealed.writeFile(uri, content, o);
  }
  readDirectory(): [string, vscode.FileType][] {
    return this.sealed.readDirectory();
  }
  createDirectory(): void {
    this.sealed.createDirectory();
  }
  delete(uri: vscode.Uri): void {
    if (isValuesUri(uri)) throw vscode.FileSystemError.NoPermissions(`Delete ${valuesPathOf(uri)} itself in the explorer.`);
    this.sealed.delete(uri);
  }
  rename(uri: vscode.Uri): void {
    if (isValuesUri(uri)) throw vscode.FileSystemError.NoPermissions(`Rename ${valuesPathOf(uri)} itself in the explorer.`);
    this.sealed.rename(uri);
  }
  forget(uri: vscode.Uri): void {
    if (isValuesUri(uri)) this.values.forget(uri);
    else this.sealed.forget(uri);
  }
}

/**
 * `"kmsEnvelopeEnv": ["${workspaceFolder}/app.env", …]` in a launch configuration of any debug type: the
 * unsealed values of those files join the configuration's `env` (its own `env` entries win, as they do
 * over `envFile`). The plaintext goes to the debug adapter in memory and on into the program's
 * environment; launch.json keeps only the file names.
 */
export class SealedEnvDebugProvider implements vscode.DebugConfigurationProvider {
  constructor(
    private readonly commands: ValuesCommands,
    private readonly log: ExtensionLogger,
  ) {}

  async resolveDebugConfigurationWithSubstitutedVariables(
    folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
    token?: vscode.CancellationToken,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const raw: unknown = config.kmsEnvelopeEnv;
    if (raw === undefined) return config;
    const files = typeof raw === 'string' ? [raw] : raw;
    if (!Array.isArray(files) || !files.every((f) => typeof f === 'string' && f.trim())) {
      void ui.prompts.error(
        `Launch configuration "${config.name}": kmsEnvelopeEnv must be a file path or a list of file paths (.env, YAML, JSON).`,
      );
      return undefined;
    }
    const ctl = new AbortController();
    const sub = token?.onCancellationRequested(() => ctl.abort());
    try {
      const env = await this.commands.debugEnv(files as string[], folder?.uri.fsPath, ctl.signal);
      const own = (config.env ?? {}) as Record<string, string | null>;
      this.log.info(
        `Debug session "${config.name}": ${Object.keys(env).length} variable(s) from ${(files as string[]).join(', ')} unsealed into its environment.`,
      );
      return { ...config, env: { ...env, ...own } };
    } catch (err) {
      void ui.prompts.error(`Launch configuration "${config.name}": ${err instanceof Error ? err.message : String(err)}`);
      this.log.error(`Debug session "${config.name}" not started: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    } finally {
      sub?.dispose();
    }
  }
}

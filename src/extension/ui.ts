/**
 * Shared UI plumbing:
 * - Prompts: every question the extension asks a person (input boxes, quick picks, modal
 *   confirmations, offers with buttons) and every message it shows (notes, errors) goes through one
 *   object. Production uses vscode.window; the integration tests replace only this object (never the
 *   work behind it) through the API's `testing.setPrompts`, which exists only when the extension
 *   runs in Development or Test mode.
 * - registerCommands: the one wrapper every command goes through. It logs (redacted), shows an error
 *   once with actions (what the command attached, a button per next step the error's hint names —
 *   Enable Key, Test Profile, … (hints.ts) —, Retry, Open Log) and treats cancellation as not a failure.
 * - withCancellableProgress: window.withProgress with cancel, CancellationToken → AbortSignal.
 */
import * as vscode from 'vscode';
import { CancelledError, KmsEnvelopeError, isCancelled } from '../core/errors';
import { redactString } from '../core/log';
import { stepButtons, vscodeStep } from './hints';
import type { ExtensionLogger } from './log';

export interface Prompts {
  input(opts: vscode.InputBoxOptions): Promise<string | undefined>;
  pick<T extends vscode.QuickPickItem>(items: T[] | Promise<T[]>, opts: vscode.QuickPickOptions): Promise<T | undefined>;
  pickMany<T extends vscode.QuickPickItem>(items: T[] | Promise<T[]>, opts: vscode.QuickPickOptions): Promise<T[] | undefined>;
  /** A file picker (the OS dialog, or VS Code's own path box in a browser); resolves to the file's path. */
  openFile(opts: {
    title: string;
    openLabel: string;
    filters?: Record<string, string[]>;
    defaultPath?: string;
  }): Promise<string | undefined>;
  /** A modal warning naming what is about to happen; true only when `action` was chosen. */
  confirm(message: string, detail: string, action: string): Promise<boolean>;
  /** A modal warning with several ways on; resolves to the action chosen (undefined: dismissed). */
  choose(message: string, detail: string | undefined, ...actions: string[]): Promise<string | undefined>;
  /** A non-modal message with buttons; resolves to the button chosen (or undefined). */
  offer(message: string, ...actions: string[]): Promise<string | undefined>;
  /** A brief note that asks nothing (a success, or a warning that needs no answer). */
  inform(message: string, level?: 'info' | 'warning'): void;
  /** An error notification (the command wrapper's); resolves to the action chosen (or undefined). */
  error(message: string, ...actions: string[]): Promise<string | undefined>;
}

export const windowPrompts: Prompts = {
  input: async (opts) => vscode.window.showInputBox({ ignoreFocusOut: true, ...opts }),
  pick: async (items, opts) => vscode.window.showQuickPick(items, { ignoreFocusOut: true, ...opts, canPickMany: false }),
  pickMany: async (items, opts) => vscode.window.showQuickPick(items, { ignoreFocusOut: true, ...opts, canPickMany: true }),
  openFile: async (opts) => {
    const picked = await vscode.window.showOpenDialog({
      title: opts.title,
      openLabel: opts.openLabel,
      filters: opts.filters,
      defaultUri: opts.defaultPath ? vscode.Uri.file(opts.defaultPath) : undefined,
      canSelectFiles: true,
      canSelectFolders: false,
      canSelectMany: false,
    });
    return picked?.[0]?.fsPath;
  },
  confirm: async (message, detail, action) => (await vscode.window.showWarningMessage(message, { modal: true, detail }, action)) === action,
  choose: async (message, detail, ...actions) => vscode.window.showWarningMessage(message, { modal: true, detail }, ...actions),
  offer: async (message, ...actions) => vscode.window.showInformationMessage(message, ...actions),
  inform: (message, level = 'info') =>
    void (level === 'warning' ? vscode.window.showWarningMessage(message) : vscode.window.showInformationMessage(message)),
  error: async (message, ...actions) => vscode.window.showErrorMessage(message, ...actions),
};

/** Holder so the tests can swap the prompts after activation. */
export const ui = { prompts: windowPrompts as Prompts };

/** Thrown when a person dismisses a prompt: a cancellation, never shown as an error. */
export function dismissed(): never {
  throw new CancelledError('Dismissed.');
}

/** Errors already shown to the user (a command that calls another command shows each error once). */
const shown = new WeakSet<object>();

export interface CommandContext {
  log: ExtensionLogger;
  /** Names an error's key by its alias where one is known (rewrites the message in place). */
  nameKeys?: (err: unknown) => void;
  /** Last error a command failed with (the tests read it through the API). */
  lastError?: { command: string; error: unknown };
}

export function describe(err: unknown): string {
  if (err instanceof KmsEnvelopeError) {
    const hint = err.hintIn(vscodeStep);
    return redactString(hint ? `${err.message} ${hint}` : err.message);
  }
  return redactString(err instanceof Error ? err.message : String(err));
}

/** A command handler: what executeCommand callers get back is its result. */
export type Handler = (...args: any[]) => unknown;

/** A button on a command's error notification. */
export interface ErrorAction {
  title: string;
  run(): Thenable<unknown> | Promise<unknown> | void;
}

/** Actions a handler attached to the error it throws (shown before the wrapper's own). */
const attached = new WeakMap<object, ErrorAction[]>();

/** Attaches actions to an error for the wrapper to offer; returns the error (`throw withActions(err, …)`). */
export function withActions<E extends object>(err: E, ...actions: ErrorAction[]): E {
  attached.set(err, [...(attached.get(err) ?? []), ...actions]);
  return err;
}

/** Registers every command of the table through the wrapper. */
export function registerCommands(ctx: CommandContext, table: Record<string, Handler>): vscode.Disposable[] {
  return Object.entries(table).map(([id, fn]) => registerCommand(ctx, id, fn));
}

/** Registers a command through the wrapper. The handler's result is returned to executeCommand callers. */
export function registerCommand(ctx: CommandContext, id: string, fn: Handler): vscode.Disposable {
  const run = async (...args: unknown[]): Promise<unknown> => {
    const t0 = Date.now();
    try {
      ctx.log.debug(`${id} started`);
      const out = await fn(...args);
      ctx.log.debug(`${id} done in ${Date.now() - t0} ms`);
      return out;
    } catch (err) {
      if (isCancelled(err)) {
        ctx.log.info(`${id} cancelled`);
        return undefined;
      }
      ctx.lastError = { command: id, error: err };
      ctx.nameKeys?.(err);
      logFailure(ctx, id, err);
      if (err && typeof err === 'object' && shown.has(err)) return undefined;
      if (err && typeof err === 'object') shown.add(err);
      void showError(ctx, id, err, args);
      return undefined;
    }
  };
  return vscode.commands.registerCommand(id, run);
}

function logFailure(ctx: CommandContext, id: string, err: unknown): void {
  const e = err instanceof KmsEnvelopeError ? err : undefined;
  const where = e
    ? Object.entries(e.details)
        .filter(([, v]) => v !== undefined && v !== '')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ')
    : '';
  ctx.log.error(`${id} failed: ${describe(err)}${where ? ` [${where}]` : ''}`);
  if (err instanceof Error && !(err instanceof KmsEnvelopeError) && err.stack) ctx.log.debug(redactString(err.stack));
}

/**
 * The buttons of an error notification: attached ones, then one per next step the error's hint
 * names (hints.ts: each does what its title says), then Retry where repeating may help, then Open
 * Log. A credentials error that names no step offers Add Profile.
 */
export function errorActions(ctx: CommandContext, id: string, err: unknown, args: unknown[]): ErrorAction[] {
  const e = err instanceof KmsEnvelopeError ? err : undefined;
  const rerun = () => vscode.commands.executeCommand(id, ...args);
  const actions: ErrorAction[] = [...((err && typeof err === 'object' ? attached.get(err) : undefined) ?? [])];
  // A step that is the failed command itself is what Retry does.
  actions.push(...stepButtons(e?.steps ?? [], rerun).filter((b) => b.command !== id));
  if (e?.kind === 'credentials' && !e.steps.length)
    actions.push({
      title: 'Add Profile',
      run: () =>
        vscode.commands.executeCommand('kmsEnvelope.addProfile', e.details.provider ? { provider: e.details.provider } : undefined),
    });
  if (!e || e.kind === 'provider' || e.kind === 'io' || e.kind === 'credentials') actions.push({ title: 'Retry', run: rerun });
  actions.push({ title: 'Open Log', run: () => ctx.log.show() });
  const titles = new Set<string>();
  return actions.filter((a) => !titles.has(a.title) && !!titles.add(a.title));
}

async function showError(ctx: CommandContext, id: string, err: unknown, args: unknown[]): Promise<void> {
  const actions = errorActions(ctx, id, err, args);
  const choice = await ui.prompts.error(describe(err), ...actions.map((a) => a.title));
  await actions.find((a) => a.title === choice)?.run();
}

export interface ProgressReporter {
  report(message: string, increment?: number): void;
}

/** The titles of the last progress notifications (the tests read what a person saw). */
const recentProgress: string[] = [];

export function progressTitles(): string[] {
  return [...recentProgress];
}

/** Operations under way; deactivate (and the tests' stand-in for the Cancel button) abort them. */
const active = new Set<AbortController>();

/** Aborts every operation under way, exactly as their Cancel buttons would. Returns how many. */
export function cancelAllOperations(): number {
  const n = active.size;
  for (const c of [...active]) c.abort(new CancelledError());
  return n;
}

export function activeOperationCount(): number {
  return active.size;
}

/**
 * Runs `fn` under a cancellable progress notification; the Cancel button aborts the signal, and the
 * resulting CancelledError makes the command end quietly.
 */
export async function withCancellableProgress<T>(
  title: string,
  fn: (signal: AbortSignal, progress: ProgressReporter) => Promise<T>,
  location = vscode.ProgressLocation.Notification,
): Promise<T> {
  recentProgress.push(title);
  if (recentProgress.length > 20) recentProgress.shift();
  return vscode.window.withProgress({ location, title, cancellable: true }, async (progress, token) => {
    const ctl = new AbortController();
    const sub = token.onCancellationRequested(() => ctl.abort(new CancelledError()));
    active.add(ctl);
    try {
      const out = await fn(ctl.signal, { report: (message, increment) => progress.report({ message, increment }) });
      if (ctl.signal.aborted) throw new CancelledError();
      return out;
    } catch (err) {
      if (ctl.signal.aborted || isCancelled(err)) throw err instanceof CancelledError ? err : new CancelledError();
      throw err;
    } finally {
      active.delete(ctl);
      sub.dispose();
    }
  });
}

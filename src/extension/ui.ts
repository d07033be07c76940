/**
 * Shared UI plumbing:
 * - Prompts: every question the extension asks a person (input boxes, quick picks, modal
 *   confirmations, offers with buttons) goes through one object. Production uses vscode.window;
 *   the integration tests replace only this object (never the work behind it) through the API's
 *   `testing.setPrompts`, which exists only when the extension runs in Development or Test mode.
 * - runCommand: the one wrapper every command goes through. It logs (redacted), shows an error
 *   once with actions (Open Log, Retry, Enable Key, Add Profile) and treats cancellation as not a
 *   failure.
 * - withCancellableProgress: window.withProgress with cancel, CancellationToken → AbortSignal.
 */
import * as vscode from 'vscode';
import { CancelledError, KmsEnvelopeError, isCancelled } from '../core/errors';
import { redactString } from '../core/log';
import type { ExtensionLogger } from './log';

export interface Prompts {
  input(opts: vscode.InputBoxOptions): Promise<string | undefined>;
  pick<T extends vscode.QuickPickItem>(items: T[] | Promise<T[]>, opts: vscode.QuickPickOptions): Promise<T | undefined>;
  pickMany<T extends vscode.QuickPickItem>(items: T[] | Promise<T[]>, opts: vscode.QuickPickOptions): Promise<T[] | undefined>;
  /** A modal warning naming what is about to happen; true only when `action` was chosen. */
  confirm(message: string, detail: string, action: string): Promise<boolean>;
  /** A non-modal message with buttons; resolves to the button chosen (or undefined). */
  offer(message: string, ...actions: string[]): Promise<string | undefined>;
}

export const windowPrompts: Prompts = {
  input: async (opts) => vscode.window.showInputBox({ ignoreFocusOut: true, ...opts }),
  pick: async (items, opts) => vscode.window.showQuickPick(items, { ignoreFocusOut: true, ...opts, canPickMany: false }),
  pickMany: async (items, opts) => vscode.window.showQuickPick(items, { ignoreFocusOut: true, ...opts, canPickMany: true }),
  confirm: async (message, detail, action) => (await vscode.window.showWarningMessage(message, { modal: true, detail }, action)) === action,
  offer: async (message, ...actions) => vscode.window.showInformationMessage(message, ...actions),
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
  /** Last error a command failed with (the tests read it through the API). */
  lastError?: { command: string; error: unknown };
}

export function describe(err: unknown): string {
  if (err instanceof KmsEnvelopeError) return redactString(err.hint ? `${err.message} ${err.hint}` : err.message);
  return redactString(err instanceof Error ? err.message : String(err));
}

/** Registers a command through the wrapper. The handler's result is returned to executeCommand callers. */
export function registerCommand(ctx: CommandContext, id: string, fn: (...args: any[]) => unknown): vscode.Disposable {
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
      const e = err instanceof KmsEnvelopeError ? err : undefined;
      const where = e
        ? Object.entries(e.details)
            .filter(([, v]) => v !== undefined && v !== '')
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(' ')
        : '';
      ctx.log.error(`${id} failed: ${describe(err)}${where ? ` [${where}]` : ''}`);
      if (err instanceof Error && !(err instanceof KmsEnvelopeError) && err.stack) ctx.log.debug(redactString(err.stack));
      if (err && typeof err === 'object' && shown.has(err)) return undefined;
      if (err && typeof err === 'object') shown.add(err);
      void showError(ctx, id, err, args);
      return undefined;
    }
  };
  return vscode.commands.registerCommand(id, run);
}

async function showError(ctx: CommandContext, id: string, err: unknown, args: unknown[]): Promise<void> {
  const e = err instanceof KmsEnvelopeError ? err : undefined;
  const actions: string[] = [];
  const disabled = !!e?.details.providerCode && /disabled/i.test(e.details.providerCode) && !!e.details.keyId;
  if (disabled) actions.push('Enable Key');
  if (e?.kind === 'credentials') actions.push('Add Profile');
  if (!e || e.kind === 'provider' || e.kind === 'io' || e.kind === 'credentials') actions.push('Retry');
  actions.push('Open Log');
  const choice = await vscode.window.showErrorMessage(describe(err), ...actions);
  if (choice === 'Open Log') ctx.log.show();
  else if (choice === 'Retry') await vscode.commands.executeCommand(id, ...args);
  else if (choice === 'Add Profile')
    await vscode.commands.executeCommand('kmsEnvelope.addProfile', e?.details.provider ? { provider: e.details.provider } : undefined);
  else if (choice === 'Enable Key' && e) {
    const enabled = await vscode.commands.executeCommand('kmsEnvelope.enableKey', {
      provider: e.details.provider,
      profile: e.details.profile,
      region: e.details.region,
      keyId: e.details.keyId,
    });
    if (enabled) await vscode.commands.executeCommand(id, ...args);
  }
}

export interface ProgressReporter {
  report(message: string, increment?: number): void;
}

/**
 * Runs `fn` under a cancellable progress notification; the Cancel button aborts the signal, and the
 * resulting CancelledError makes the command end quietly.
 */
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

export async function withCancellableProgress<T>(
  title: string,
  fn: (signal: AbortSignal, progress: ProgressReporter) => Promise<T>,
  location = vscode.ProgressLocation.Notification,
): Promise<T> {
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

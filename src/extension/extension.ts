/**
 * Composition root of the extension (thin, rust-analyzer style): build the services once
 * (ctx.ts), register the command table (commands.ts) through the one wrapper (ui.ts) and the
 * editor-facing parts, return the API object (api.ts). No KMS call and no keychain access happen
 * here; the envelope engine, the cloud SDKs and keytar load on first use, so activation stays in
 * the low milliseconds.
 */
import { performance } from 'node:perf_hooks';
import type * as vscode from 'vscode';
import { createApi, type KmsEnvelopeApi } from './api';
import { createCommands } from './commands';
import { createServices, registerWorkbenchParts } from './ctx';
import { cancelAllOperations, registerCommands } from './ui';

export type { KmsEnvelopeApi, TreeSnapshotNode } from './api';

export function activate(context: vscode.ExtensionContext): KmsEnvelopeApi {
  const t0 = performance.now();
  // The composition root hands the environment down; nothing below reads process.env.
  const s = createServices(context, process.env);
  context.subscriptions.push(...registerCommands(s.cmd, createCommands(s)), ...registerWorkbenchParts(s));
  return createApi(s, t0);
}

export function deactivate(): void {
  cancelAllOperations();
}

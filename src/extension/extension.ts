import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext) {
  const log = vscode.window.createOutputChannel('KMS Envelope', { log: true });
  context.subscriptions.push(log, vscode.commands.registerCommand('kmsEnvelope.showLog', () => log.show()));
  return {};
}

export function deactivate() {}

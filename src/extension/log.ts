/**
 * The extension's one log: a LogOutputChannel ('KMS Envelope', { log: true }) adapted to the core
 * Logger interface. Every message and argument passes through redact()/redactString(), so a secret
 * that slips into a message as `SecretKey=...` or an object field never reaches the channel.
 */
import * as vscode from 'vscode';
import { redact, redactString, type Logger } from '../core/log';

export interface ExtensionLogger extends Logger {
  readonly channel: vscode.LogOutputChannel;
  show(): void;
}

function text(message: string | Error, args: unknown[]): string {
  const head = message instanceof Error ? `${message.name}: ${message.message}` : message;
  const tail = args.length ? ' ' + args.map((a) => (typeof a === 'string' ? a : JSON.stringify(redact(a)))).join(' ') : '';
  return redactString(head + tail);
}

export function channelLogger(channel: vscode.LogOutputChannel): ExtensionLogger {
  return {
    channel,
    show: () => channel.show(true),
    trace: (m, ...a) => channel.trace(text(m, a)),
    debug: (m, ...a) => channel.debug(text(m, a)),
    info: (m, ...a) => channel.info(text(m, a)),
    warn: (m, ...a) => channel.warn(text(m, a)),
    error: (m, ...a) => channel.error(text(m, a)),
  };
}

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
  /** The last info / warning / error lines, as written (redacted): what Show Log shows, for the tests. */
  recent(): string[];
}

const RECENT_LINES = 200;

function text(message: string | Error, args: unknown[]): string {
  const head = message instanceof Error ? `${message.name}: ${message.message}` : message;
  const tail = args.length ? ' ' + args.map((a) => (typeof a === 'string' ? a : JSON.stringify(redact(a)))).join(' ') : '';
  return redactString(head + tail);
}

export function channelLogger(channel: vscode.LogOutputChannel): ExtensionLogger {
  const lines: string[] = [];
  const keep = (level: string, line: string) => {
    lines.push(`${level} ${line}`);
    if (lines.length > RECENT_LINES) lines.shift();
    return line;
  };
  return {
    channel,
    show: () => channel.show(true),
    recent: () => [...lines],
    trace: (m, ...a) => channel.trace(text(m, a)),
    debug: (m, ...a) => channel.debug(text(m, a)),
    info: (m, ...a) => channel.info(keep('info', text(m, a))),
    warn: (m, ...a) => channel.warn(keep('warn', text(m, a))),
    error: (m, ...a) => channel.error(keep('error', text(m, a))),
  };
}

/** Types and helpers shared by the two cloud front ends of the emulator. */
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../core/log';
import type { EmulatorStore } from './state';

export interface HandlerEnv {
  store: EmulatorStore;
  /** Unix ms. */
  now: () => number;
  log: Logger;
  /** Remembered Alibaba signature nonces: `${accessKeyId}|${nonce}` → expiry (unix ms). */
  nonces: Map<string, number>;
}

export interface RawRequest {
  method: string;
  /** Path without the query. */
  path: string;
  /** Raw query string without "?". */
  query: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export function header(req: RawRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Host header without its port (IPv6 literals keep their brackets). */
export function hostWithoutPort(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end > 0 ? host.slice(0, end + 1) : host;
  }
  const i = host.lastIndexOf(':');
  return i >= 0 ? host.slice(0, i) : host;
}

/** Parses an encryption context given as a JSON string of string → string. */
export function parseContextJson(raw: unknown): Record<string, string> | 'invalid' | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string') return 'invalid';
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return 'invalid';
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'invalid';
  for (const x of Object.values(v as Record<string, unknown>)) if (typeof x !== 'string') return 'invalid';
  return v as Record<string, string>;
}

export const isUuid = (s: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

/** Strict base64 (the clouds' Plaintext / CiphertextBlob alphabet). */
export const isBase64 = (s: string) => s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);

/**
 * Closes a listening server: idle connections at once; requests still in flight (under injected
 * latency, say) get a short grace, then their sockets go.
 */
export async function closeServer(server: { close(cb: () => void): unknown; closeIdleConnections(): void }, sockets: Set<Socket>) {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const t = setTimeout(() => {
    for (const s of sockets) s.destroy();
  }, 1000);
  await closed;
  clearTimeout(t);
}

/** A request's body, or undefined as soon as it grows past `max` bytes (the caller answers 413). */
export async function readBody(req: AsyncIterable<Buffer>, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > max) return undefined;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * The emulator's HTTP server (node:http, no framework: one route per cloud plus a few admin
 * paths do not need one). One port speaks every wire protocol: a request with `X-TC-Action` is
 * Tencent Cloud API 3.0, one with `X-Amz-Target` is AWS KMS (JSON 1.1), one with `x-acs-action` or an
 * `Action` parameter is Alibaba Cloud RPC.
 *
 * Admin API on the same port, answered only for loopback clients (127.0.0.0/8, ::1) whose request
 * carries `X-KMS-Envelope-Admin: 1`, a loopback `Host`, no `Origin` and JSON bodies, so no web page can
 * reach it (src/emulator/admin-client.ts says why, and has a client):
 *   GET    /__admin/health     {"ok":true,"url","accounts":[names],"statePath"}
 *   GET    /__admin/faults     the current FaultConfig (counts show what is left)
 *   PUT    /__admin/faults     replace it (JSON FaultConfig; {} clears)
 *   DELETE /__admin/faults     clear it
 *   GET    /__admin/counters   {"total":N,"tencent:Encrypt":N,"aws:Decrypt":N,...}
 *   DELETE /__admin/counters   zero the counters
 *   POST   /__admin/reset      zero the counters and clear the faults
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import { nullLogger, type Logger } from '../core/log';
import { alibabaFault, handleAlibaba } from './alibaba';
import { awsAction, awsFault, handleAws } from './aws';
import { ADMIN_HEADER } from './admin-client';
import { closeServer, header, readBody, hostWithoutPort, type HandlerEnv, type RawRequest, type Reply } from './common';
import { Faults, validateFaults, type FaultConfig, type FaultKind } from './faults';
import type { EmulatorStore } from './state';
import { handleTencent, tencentError } from './tencent';

const MAX_BODY = 1 << 20;

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

export interface ServerOptions {
  store: EmulatorStore;
  faults?: FaultConfig;
  logger?: Logger;
  now?: () => number;
}

export class EmulatorServer {
  readonly faults: Faults;
  private readonly counts = new Map<string, number>();
  private readonly env: HandlerEnv;
  private readonly log: Logger;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private nonceSweep?: NodeJS.Timeout;
  url = '';

  constructor(private readonly opts: ServerOptions) {
    this.faults = new Faults(opts.faults ?? {});
    this.log = opts.logger ?? nullLogger;
    this.env = { store: opts.store, now: opts.now ?? Date.now, log: this.log, nonces: new Map() };
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = { total: 0 };
    for (const [k, v] of this.counts) out[k] = v;
    return out;
  }

  resetCounters(): void {
    this.counts.clear();
  }

  /** Counts one request (also the instance gateway's, as "instance:<Api>"). */
  count(key: string): void {
    this.counts.set('total', (this.counts.get('total') ?? 0) + 1);
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  async listen(host: string, port: number): Promise<void> {
    const server = createServer({ keepAliveTimeout: 5000 }, (req, res) => {
      this.onRequest(req, res).catch((err: unknown) => {
        this.log.error(`emulator: request failed: ${(err as Error).message}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal emulator error');
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.url = `http://${h}:${addr.port}`;
    this.nonceSweep = setInterval(() => {
      const now = this.env.now();
      for (const [k, exp] of this.env.nonces) if (exp <= now) this.env.nonces.delete(k);
    }, 60_000);
    this.nonceSweep.unref();
  }

  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async close(): Promise<void> {
    if (this.nonceSweep) clearInterval(this.nonceSweep);
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await closeServer(server, this.sockets);
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req as AsyncIterable<Buffer>, MAX_BODY);
    if (!body) {
      res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
      res.end('request body too large for the emulator (1 MiB)');
      return;
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const raw: RawRequest = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: q >= 0 ? url.slice(0, q) : url,
      query: q >= 0 ? url.slice(q + 1) : '',
      headers: req.headers,
      body,
    };

    if (raw.path.startsWith('/__admin/')) {
      return this.send(res, this.adminRequest(raw, req.socket.remoteAddress));
    }

    const tcAction = header(raw, 'x-tc-action');
    const amzTarget = header(raw, 'x-amz-target');
    let cloud: 'tencent' | 'alibaba' | 'aws' | undefined;
    let action = '';
    if (tcAction !== undefined) {
      cloud = 'tencent';
      action = tcAction;
    } else if (amzTarget !== undefined) {
      cloud = 'aws';
      action = awsAction(amzTarget);
    } else {
      const acsAction = header(raw, 'x-acs-action') ?? firstParam(raw, 'Action');
      if (acsAction !== undefined) {
        cloud = 'alibaba';
        action = acsAction;
      }
    }
    if (!cloud) {
      return this.send(res, {
        status: 404,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          Code: 'NotAnApiRequest',
          Message:
            'kms-envelope emulator: send Tencent Cloud KMS requests (X-TC-Action header), AWS KMS requests (X-Amz-Target header) or Alibaba Cloud KMS requests (x-acs-action header or Action parameter) to this URL.',
        }),
      });
    }

    this.count(`${cloud}:${action}`);
    const decision = this.faults.decide(cloud, action);
    if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
    if (req.socket.destroyed) return;
    if (decision.kind) {
      this.log.debug(`emulator: ${cloud} ${action}: injected ${decision.kind}`);
      if (decision.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      const k = decision.kind;
      return this.send(res, cloud === 'tencent' ? tencentFault(k) : cloud === 'aws' ? awsFault(this.env, k) : alibabaFault(k, raw));
    }
    const reply =
      cloud === 'tencent'
        ? handleTencent(this.env, raw, action)
        : cloud === 'aws'
          ? handleAws(this.env, raw, amzTarget!)
          : handleAlibaba(this.env, raw, action);
    this.log.debug(`emulator: ${cloud} ${action} → ${reply.status}`);
    this.send(res, reply);
  }

  private send(res: ServerResponse, r: Reply): void {
    const body = Buffer.from(r.body, 'utf8');
    res.writeHead(r.status, { ...(r.headers ?? {}), 'content-length': String(body.length) });
    res.end(body);
  }

  /** Answers an admin request; `remote` is the client's address (non-loopback → 403). */
  adminRequest(raw: RawRequest, remote: string | undefined): Reply {
    const json = (status: number, v: unknown): Reply => ({
      status,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(v) + '\n',
    });
    if (!isLoopback(remote)) return json(403, { error: 'the emulator admin API answers loopback clients only' });
    const refused = adminRefusal(raw);
    if (refused) return json(refused[0], { error: refused[1] });
    const route = `${raw.method} ${raw.path}`;
    switch (route) {
      case 'GET /__admin/health':
        return json(200, {
          ok: true,
          url: this.url,
          accounts: this.opts.store.accounts.map((a) => a.name),
          statePath: this.opts.store.statePath ?? null,
        });
      case 'GET /__admin/faults':
        return json(200, this.faults.get());
      case 'PUT /__admin/faults':
      case 'POST /__admin/faults': {
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw.body.toString('utf8') || '{}');
          this.faults.set(validateFaults(parsed));
        } catch (err) {
          return json(400, { error: `invalid fault config: ${(err as Error).message}` });
        }
        return json(200, this.faults.get());
      }
      case 'DELETE /__admin/faults':
        this.faults.set({});
        return json(200, {});
      case 'GET /__admin/counters':
        return json(200, this.counters());
      case 'DELETE /__admin/counters':
        this.resetCounters();
        return json(200, this.counters());
      case 'POST /__admin/reset':
        this.resetCounters();
        this.faults.set({});
        return json(200, { counters: this.counters(), faults: {} });
      default:
        return json(404, {
          error: `no admin route ${route}; see GET /__admin/health, GET|PUT|DELETE /__admin/faults, GET|DELETE /__admin/counters, POST /__admin/reset`,
        });
    }
  }
}

/** Why an admin request from a loopback client is refused (see admin-client.ts), or undefined. */
function adminRefusal(raw: RawRequest): [number, string] | undefined {
  const origin = header(raw, 'origin');
  if (origin !== undefined)
    return [403, `the emulator admin API refuses requests from web pages (Origin: ${origin}); call it from a script or test`];
  const host = hostWithoutPort(header(raw, 'host') ?? '').toLowerCase();
  if (!(host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)))
    return [403, `the emulator admin API answers only requests to a loopback host (127.0.0.1, localhost, [::1]), not "${host}"`];
  if (header(raw, ADMIN_HEADER.toLowerCase()) !== '1')
    return [403, `the emulator admin API needs the header ${ADMIN_HEADER}: 1 on every request`];
  const type = (header(raw, 'content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if ((raw.method === 'PUT' || raw.method === 'POST') && type !== 'application/json')
    return [415, `the emulator admin API takes JSON bodies only: send Content-Type: application/json (got ${type || 'none'})`];
  return undefined;
}

function firstParam(raw: RawRequest, name: string): string | undefined {
  const fromQuery = parseQuery(raw.query)[name];
  const v = Array.isArray(fromQuery) ? fromQuery[0] : fromQuery;
  if (v !== undefined) return v;
  const ct = header(raw, 'content-type') ?? '';
  if (ct.startsWith('application/x-www-form-urlencoded') && raw.body.length) {
    const b = parseQuery(raw.body.toString('utf8'))[name];
    return Array.isArray(b) ? b[0] : b;
  }
  return undefined;
}

function tencentFault(kind: Exclude<FaultKind, 'drop'>): Reply {
  switch (kind) {
    case 'throttle':
      return tencentError(
        'RequestLimitExceeded',
        'Your current request times exceeds the frequency limit (injected by the emulator). Please reduce the frequency of calls.',
      );
    case 'error':
      return tencentError('InternalError', 'An internal error has occurred. Retry your request (injected by the emulator).');
    case 'unavailable':
      return {
        status: 503,
        headers: { 'content-type': 'text/html' },
        body: '<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>',
      };
  }
}

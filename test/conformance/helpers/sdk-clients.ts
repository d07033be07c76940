// Builders for the OFFICIAL cloud SDK clients pointed at a loopback endpoint, plus a tampering
// proxy: the SDK talks to the proxy, which forwards each request to the emulator byte for byte,
// optionally changed by a mutator (one byte of the body, a signed header, the timestamp), and
// keeps the last request so a test can replay it unchanged (nonce reuse).
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenApi, * as $OpenApi from '@alicloud/openapi-client';
import { KMSClient } from '@aws-sdk/client-kms';
import * as $Util from '@alicloud/tea-util';
import { CommonClient } from 'tencentcloud-sdk-nodejs-common';

export const TENCENT_VERSION = '2019-01-18';
export const ALIBABA_VERSION = '2016-01-20';

/** "http://127.0.0.1:PORT" → "127.0.0.1:PORT" */
export const hostPort = (url: string) => url.replace(/^https?:\/\//, '').replace(/\/$/, '');

export interface TencentCred {
  secretId: string;
  secretKey: string;
  token?: string;
}

/** A Tencent CommonClient (TC3-HMAC-SHA256) for KMS 2019-01-18 at url. */
export function tencentClient(url: string, cred: TencentCred, region?: string, agent?: http.Agent): CommonClient {
  return new CommonClient(hostPort(url), TENCENT_VERSION, {
    credential: { secretId: cred.secretId, secretKey: cred.secretKey, token: cred.token },
    region,
    profile: {
      language: 'en-US',
      httpProfile: { endpoint: hostPort(url), protocol: 'http://', reqTimeout: 10, ...(agent ? { agent } : {}) },
    },
  });
}

export interface TencentFailure {
  code?: string;
  httpCode?: number;
  message: string;
  requestId?: string;
}

/** Calls an action; resolves to the Response object, or rejects with the SDK's exception. */
export async function tcCall(c: CommonClient, action: string, params: Record<string, unknown> = {}): Promise<any> {
  return c.request(action, params);
}

/** Calls an action that must fail; resolves to the SDK exception's code/httpCode. */
export async function tcFail(c: CommonClient, action: string, params: Record<string, unknown> = {}): Promise<TencentFailure> {
  try {
    const r = await c.request(action, params);
    throw new Error(`expected ${action} to fail, got ${JSON.stringify(r)}`);
  } catch (e) {
    const err = e as { code?: string; httpCode?: number; message: string; requestId?: string };
    if (err.message?.startsWith(`expected ${action} to fail`)) throw e;
    return { code: err.code, httpCode: err.httpCode, message: err.message, requestId: err.requestId };
  }
}

export interface AlibabaCred {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

export interface AlibabaClient {
  client: OpenApi;
  v2: boolean;
}

/** The generic @alicloud/openapi-client (V3 ACS3-HMAC-SHA256 by default, V2 HMAC-SHA1 with v2). */
export function alibabaClient(url: string, cred: AlibabaCred, opts: { v2?: boolean } = {}): AlibabaClient {
  const config = new $OpenApi.Config({
    accessKeyId: cred.accessKeyId,
    accessKeySecret: cred.accessKeySecret,
    ...(cred.securityToken ? { securityToken: cred.securityToken } : {}),
    endpoint: hostPort(url),
    protocol: 'http',
    ...(opts.v2 ? { signatureAlgorithm: 'v2' } : {}),
  });
  return { client: new OpenApi(config), v2: !!opts.v2 };
}

const rpcParams = (action: string) =>
  new $OpenApi.Params({
    action,
    version: ALIBABA_VERSION,
    protocol: 'HTTP',
    pathname: '/',
    method: 'POST',
    authType: 'AK',
    style: 'RPC',
    reqBodyType: 'formData',
    bodyType: 'json',
  });

/**
 * Calls an action with query parameters (the region travels as RegionId when given); with
 * `inBody` the parameters travel as a form body instead (both are signed).
 */
export async function aliCall(
  c: AlibabaClient,
  action: string,
  query: Record<string, string | number | undefined> = {},
  region?: string,
  inBody = false,
): Promise<any> {
  const q: Record<string, string> = {};
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q[k] = String(v);
  if (region) q.RegionId = region;
  const runtime = new $Util.RuntimeOptions({ autoretry: false, readTimeout: 10_000, connectTimeout: 5_000 });
  const req = inBody ? new $OpenApi.OpenApiRequest({ body: q }) : new $OpenApi.OpenApiRequest({ query: q });
  const res = await c.client.callApi(rpcParams(action), req, runtime);
  return res.body;
}

export interface AlibabaFailure {
  code?: string;
  statusCode?: number;
  message: string;
  data?: Record<string, unknown>;
}

export async function aliFail(
  c: AlibabaClient,
  action: string,
  query: Record<string, string | number | undefined> = {},
  region?: string,
  inBody = false,
): Promise<AlibabaFailure> {
  try {
    const r = await aliCall(c, action, query, region, inBody);
    throw new Error(`expected ${action} to fail, got ${JSON.stringify(r)}`);
  } catch (e) {
    const err = e as { code?: string; statusCode?: number; message: string; data?: Record<string, unknown> };
    if (err.message?.startsWith(`expected ${action} to fail`)) throw e;
    return {
      code: err.code,
      statusCode: err.statusCode ?? (err.data?.statusCode as number | undefined),
      message: err.message,
      data: err.data,
    };
  }
}

export interface AwsCred {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * The official @aws-sdk/client-kms client at url (SigV4, AWS JSON 1.1). One attempt unless told
 * otherwise, so a test sees each refusal itself (the SDK retries throttling and clock skew).
 */
export function awsClient(url: string, cred: AwsCred, region = 'us-east-1', opts: { maxAttempts?: number } = {}): KMSClient {
  return new KMSClient({
    region,
    endpoint: url,
    credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, sessionToken: cred.sessionToken },
    maxAttempts: opts.maxAttempts ?? 1,
  });
}

export interface AwsFailure {
  /** The error code (`__type`), which the SDK puts in `name`. */
  code: string;
  status?: number;
  attempts?: number;
  message: string;
}

/** Sends a command that must fail; resolves to the SDK exception's code, HTTP status and attempts. */
export async function awsFail(c: KMSClient, command: object): Promise<AwsFailure> {
  let r: unknown;
  try {
    r = await c.send(command as Parameters<KMSClient['send']>[0]);
  } catch (e) {
    const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
    return { code: err.name, status: err.$metadata?.httpStatusCode, attempts: err.$metadata?.attempts, message: err.message };
  }
  throw new Error(`expected ${command.constructor.name} to fail, got ${JSON.stringify(r)}`);
}

// ---------------------------------------------------------------- tampering proxy

export interface CapturedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  /** Header name (as received, lower case) → value. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface ProxyReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface TamperProxy {
  url: string;
  /** Changes each request before it is forwarded (return the changed copy). */
  mutate?: (r: CapturedRequest) => CapturedRequest;
  /** The last request as the SDK sent it (before mutation). */
  last?: CapturedRequest;
  /** Sends a request to the emulator as is. */
  send(r: CapturedRequest): Promise<ProxyReply>;
  close(): Promise<void>;
}

export function sendRaw(targetUrl: string, r: CapturedRequest): Promise<ProxyReply> {
  const u = new URL(targetUrl);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...r.headers, 'content-length': String(r.body.length) };
    delete headers['transfer-encoding'];
    const req = http.request({ host: u.hostname, port: Number(u.port), method: r.method, path: r.url, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

export async function startTamperProxy(targetUrl: string): Promise<TamperProxy> {
  const proxy: TamperProxy = {
    url: '',
    send: (r) => sendRaw(targetUrl, r),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((res) => server.close(() => res()));
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
      const captured: CapturedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers, body: Buffer.concat(chunks) };
      proxy.last = cloneRequest(captured);
      const out = proxy.mutate ? proxy.mutate(cloneRequest(captured)) : captured;
      sendRaw(targetUrl, out).then(
        (r) => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(r.headers))
            if (v !== undefined && k !== 'content-length' && k !== 'connection' && k !== 'keep-alive')
              h[k] = Array.isArray(v) ? v.join(',') : v;
          res.writeHead(r.status, h);
          res.end(r.body);
        },
        () => res.socket?.destroy(),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return proxy;
}

export function cloneRequest(r: CapturedRequest): CapturedRequest {
  return { method: r.method, url: r.url, headers: { ...r.headers }, body: Buffer.from(r.body) };
}

/** Flips one bit of the byte at index i (negative = from the end) of a buffer. */
export function flipByte(b: Buffer, i: number): Buffer {
  const out = Buffer.from(b);
  const at = i < 0 ? out.length + i : i;
  out[at] ^= 0x01;
  return out;
}

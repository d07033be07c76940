/**
 * Alibaba Cloud KMS 3.0 instance gateway ("dkms-gcs-0.2") front end of the emulator, on its own
 * loopback HTTPS port with the instance's private CA (PROTOCOLS-alibaba-instance.md).
 *
 * What it checks, in the order of the sheet's §11: POST /; x-kms-apiversion (InvalidApiVersion);
 * x-kms-apiname (InvalidApiName); x-kms-signaturemethod (InvalidParam); x-kms-acccesskeyid present
 * (MissingParameter) and a client key of this instance, unexpired (Unauthorized, 404); date in
 * RFC 1123 (InvalidParam) and within 15 minutes (RequestTimeTooSkewed); content-sha256 equal to the
 * body's UPPER hex SHA-256 (InvalidParam); `Bearer` + RSA PKCS#1 v1.5 SHA-256 over the string to
 * sign with every received x-kms-* header (SignatureNotMatch, 401); then the body as the named
 * protobuf message (InvalidParameter). Errors are protobuf `Error` bodies with the status echoed.
 * A client certificate is allowed (the Go SDK presents one) but never required.
 *
 * Keys are the emulator's Alibaba keys whose instanceId is this instance: the public gateway lists
 * and manages them (with DKMSInstanceId) and can Encrypt/Decrypt them too (instance-blob.ts).
 *
 * Choices where the sheet is unsure [U]: a key of another instance or account, or no key → 404
 * Forbidden.KeyNotFound; a disabled / pending-deletion key → 400 Rejected.Disabled /
 * Rejected.PendingDeletion; GCM authentication failure → 400 InvalidCiphertext; an expired client
 * key → 404 Unauthorized; Sign/Verify/GetSecretValue/… (no asymmetric keys or secrets here) → 400
 * UnsupportedOperation.
 */
import { createHash, createPublicKey, randomBytes, randomUUID, verify, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import protobuf from 'protobufjs';
import { writeFileAtomic } from '../core/atomic';
import { nullLogger, type Logger } from '../core/log';
import { advanceBlob, gcmOpen, gcmSeal, parseAdvanceBlob } from './instance-blob';
import {
  issueClientKey,
  issueServerCert,
  newInstanceCa,
  newInstanceId,
  newInstanceKeyId,
  type IssueOptions,
  type StoredCa,
  type StoredClientKey,
  type StoredServerCert,
} from './instance-pki';
import { closeServer, readBody } from './common';
import type { EmulatorServer } from './server';
import type { EmulatorStore, StoredKey } from './state';

export const INSTANCE_API_VERSION = 'dkms-gcs-0.2';
export const INSTANCE_SKEW_MS = 15 * 60_000;
export const INSTANCE_REGION = 'cn-hangzhou';
const MAX_BODY = 1 << 20;

export interface StoredInstance {
  id: string;
  /** Emulator account that owns the instance. */
  account: string;
  region: string;
  ca: StoredCa;
  server: StoredServerCert;
  clientKeys: StoredClientKey[];
  /** Whether --seed created its keys already. */
  seeded?: boolean;
}

// ------------------------------------------------------------------ wire schema (the emulator's own copy)

const SCHEMA = `
syntax = "proto3";
package api;
message EncryptRequest { string KeyId = 1; bytes Plaintext = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message EncryptResponse { string KeyId = 1; bytes CiphertextBlob = 2; bytes Iv = 3; string RequestId = 4; string Algorithm = 5; string PaddingMode = 6; }
message AdvanceEncryptRequest { string KeyId = 1; bytes Plaintext = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message AdvanceEncryptResponse { string KeyId = 1; bytes CiphertextBlob = 2; bytes Iv = 3; string RequestId = 4; string Algorithm = 5; string PaddingMode = 6; string KeyVersionId = 7; }
message DecryptRequest { bytes CiphertextBlob = 1; string KeyId = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message DecryptResponse { string KeyId = 1; bytes Plaintext = 2; string RequestId = 3; string Algorithm = 4; string PaddingMode = 5; }
message AdvanceDecryptRequest { bytes CiphertextBlob = 1; string KeyId = 2; string Algorithm = 3; bytes Aad = 4; bytes Iv = 5; string PaddingMode = 6; }
message AdvanceDecryptResponse { string KeyId = 1; bytes Plaintext = 2; string RequestId = 3; string Algorithm = 4; string PaddingMode = 5; string KeyVersionId = 6; }
message GenerateDataKeyRequest { string KeyId = 1; string Algorithm = 2; int32 NumberOfBytes = 3; bytes Aad = 4; }
message GenerateDataKeyResponse { string KeyId = 1; bytes Iv = 2; bytes Plaintext = 3; bytes CiphertextBlob = 4; string RequestId = 5; string Algorithm = 6; }
message AdvanceGenerateDataKeyRequest { string KeyId = 1; int32 NumberOfBytes = 2; bytes Aad = 3; }
message AdvanceGenerateDataKeyResponse { string KeyId = 1; bytes Iv = 2; bytes Plaintext = 3; bytes CiphertextBlob = 4; string RequestId = 5; string Algorithm = 6; string KeyVersionId = 7; }
message GenerateRandomRequest { int32 Length = 1; }
message GenerateRandomResponse { bytes Random = 1; string RequestId = 2; }
message Error { int32 StatusCode = 1; string ErrorCode = 2; string ErrorMessage = 3; string RequestId = 4; }
`;

const EMULATED = ['Encrypt', 'Decrypt', 'GenerateDataKey', 'AdvanceEncrypt', 'AdvanceDecrypt', 'AdvanceGenerateDataKey', 'GenerateRandom'];
/** Known to the real gateway, not emulated (no asymmetric keys, secrets or HMAC keys here). */
const NOT_EMULATED = [
  'Sign',
  'Verify',
  'GetPublicKey',
  'GetSecretValue',
  'Hmac',
  'GenerateDataKeyPair',
  'GenerateDataKeyPairWithoutPlaintext',
  'AdvanceGenerateDataKeyPair',
  'AdvanceGenerateDataKeyPairWithoutPlaintext',
];

let schema: protobuf.Root | undefined;
const msgType = (name: string) => (schema ??= protobuf.parse(SCHEMA, { keepCase: true }).root).lookupType(`api.${name}`);

function encode(name: string, fields: Record<string, unknown>): Buffer {
  const t = msgType(name);
  const present: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === '' || v === 0 || (v instanceof Uint8Array && v.length === 0)) continue;
    present[k] = v;
  }
  return Buffer.from(t.encode(t.fromObject(present)).finish());
}

type Fields = Record<string, unknown> & { KeyId?: string; Aad?: Buffer; Iv?: Buffer; CiphertextBlob?: Buffer; Plaintext?: Buffer };

function decode(name: string, body: Buffer): Fields {
  const t = msgType(name);
  const o = t.toObject(t.decode(body), { longs: Number, bytes: Buffer }) as Fields;
  for (const [k, v] of Object.entries(o)) if (v instanceof Uint8Array && !Buffer.isBuffer(v)) o[k] = Buffer.from(v);
  return o;
}

// ------------------------------------------------------------------ errors and replies

class GcsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface GcsReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

function errorReply(status: number, code: string, message: string, requestId: string): GcsReply {
  return {
    status,
    headers: { 'content-type': 'application/x-protobuf' },
    body: encode('Error', { StatusCode: status, ErrorCode: code, ErrorMessage: message, RequestId: requestId }),
  };
}

const invalidParam = (what: string) => new GcsError(400, 'InvalidParam', `The Param ${what} is invalid.`);

// ------------------------------------------------------------------ the gateway

export interface InstanceGatewayOptions {
  store: EmulatorStore;
  /** The emulator's HTTP server: its counters and faults are shared. */
  server: EmulatorServer;
  host: string;
  port: number;
  /** Where the CA PEM and the client key files are written; see instanceDirFor. */
  dir: string;
  /** Remove `dir` on close (a temporary directory). */
  removeDirOnClose?: boolean;
  seed?: boolean;
  logger?: Logger;
  now?: () => number;
}

export interface InstanceFiles {
  /** PrivateKmsCA_<id>.pem */
  ca: string;
  /** clientKey_<KAAP…>.json */
  clientKey: string;
  /** clientKey_<KAAP…>_Password.txt */
  password: string;
}

/** Where the instance's files go: beside the state file (`<name>-instance/`), else a temporary directory. */
export function instanceDirFor(statePath: string | undefined): { dir: string; temporary: boolean } {
  if (statePath) return { dir: resolve(dirname(statePath), `${basename(statePath, extname(statePath))}-instance`), temporary: false };
  return { dir: mkdtempSync(join(tmpdir(), 'kms-envelope-instance-')), temporary: true };
}

export class InstanceGateway {
  url = '';
  files!: InstanceFiles;
  private httpsServer?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly publicKeys = new Map<string, KeyObject>();
  private readonly log: Logger;
  private readonly now: () => number;

  private constructor(
    readonly instance: StoredInstance,
    private readonly opts: InstanceGatewayOptions,
  ) {
    this.log = opts.logger ?? nullLogger;
    this.now = opts.now ?? Date.now;
  }

  /** Loads (or creates, on first start) the instance of the store's default account, and listens. */
  static async start(opts: InstanceGatewayOptions): Promise<InstanceGateway> {
    const { store } = opts;
    const now = opts.now ?? Date.now;
    let inst = store.instances[0];
    if (!inst) {
      const id = newInstanceId();
      const ca = await newInstanceCa(id, now());
      inst = {
        id,
        account: 'default',
        region: INSTANCE_REGION,
        ca,
        server: { certPem: '', keyPem: '', names: [] },
        clientKeys: [await issueClientKey(ca, { now: now() })],
      };
      store.instances.push(inst);
      store.changed();
    }
    const names = ['127.0.0.1', 'localhost', '::1', `${inst.id}.cryptoservice.kms.aliyuncs.com`];
    if (opts.host && !['0.0.0.0', '::', ...names].includes(opts.host)) names.push(opts.host);
    if (!names.every((n) => inst.server.names.includes(n))) {
      inst.server = await issueServerCert(inst.ca, names, now());
      store.changed();
    }
    const gw = new InstanceGateway(inst, opts);
    if (opts.seed) gw.seed();
    await gw.writeFiles();
    await gw.listen();
    return gw;
  }

  get id(): string {
    return this.instance.id;
  }

  get region(): string {
    return this.instance.region;
  }

  get port(): number {
    return (this.httpsServer?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The client key whose files are written (the first one issued). */
  get clientKey(): StoredClientKey {
    return this.instance.clientKeys[0];
  }

  /** Issues another client key of this instance (not written to files). */
  async issueClientKey(o: IssueOptions = {}): Promise<StoredClientKey> {
    const k = await issueClientKey(this.instance.ca, { now: this.now(), ...o });
    this.instance.clientKeys.push(k);
    this.opts.store.changed();
    return k;
  }

  /** Forgets a client key (requests signed with it get Unauthorized). */
  revokeClientKey(id: string): void {
    const i = this.instance.clientKeys.findIndex((k) => k.id === id);
    if (i >= 0) this.instance.clientKeys.splice(i, 1);
    this.publicKeys.delete(id);
    this.opts.store.changed();
  }

  /** --seed: an enabled and a disabled key in the instance, once per instance. */
  private seed(): void {
    if (this.instance.seeded) return;
    for (const kind of ['enabled', 'disabled'] as const) {
      this.opts.store.createKey({
        keyId: newInstanceKeyId(),
        cloud: 'alibaba',
        account: this.instance.account,
        region: this.instance.region,
        description: `Seeded by kms-envelope emulator --seed in KMS 3.0 instance ${this.instance.id} (${kind})`,
        state: kind === 'enabled' ? 'Enabled' : 'Disabled',
        keyUsage: 'ENCRYPT/DECRYPT',
        spec: 'Aliyun_AES_256',
        origin: 'Aliyun_KMS',
        protectionLevel: 'SOFTWARE',
        aliases: [`alias/seed-instance-${kind}`],
        rotationEnabled: false,
        rotateDays: 365,
        instanceId: this.instance.id,
      });
    }
    this.instance.seeded = true;
    this.opts.store.changed();
  }

  private async writeFiles(): Promise<void> {
    const dir = this.opts.dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const k = this.clientKey;
    this.files = {
      ca: join(dir, `PrivateKmsCA_${this.instance.id}.pem`),
      clientKey: join(dir, `clientKey_${k.id}.json`),
      password: join(dir, `clientKey_${k.id}_Password.txt`),
    };
    await writeFileAtomic(this.files.ca, this.instance.ca.certPem, 0o644);
    await writeFileAtomic(this.files.clientKey, k.json, 0o600);
    await writeFileAtomic(this.files.password, k.password, 0o600);
  }

  private async listen(): Promise<void> {
    const server = createServer(
      {
        key: this.instance.server.keyPem,
        cert: this.instance.server.certPem,
        requestCert: true,
        rejectUnauthorized: false,
        keepAliveTimeout: 5000,
      },
      (req, res) => {
        this.onRequest(req, res).catch((err: unknown) => {
          this.log.error(`emulator: instance request failed: ${(err as Error).message}`);
          if (!res.headersSent) {
            const r = errorReply(500, 'InternalFailure', 'Internal Failure (emulator)', randomUUID());
            res.writeHead(r.status, { ...r.headers, 'content-length': String(r.body.length) });
            res.end(r.body);
          } else res.end();
        });
      },
    );
    server.on('secureConnection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // A client that refuses our certificate (wrong CA) just closes the handshake: not an error here.
    server.on('tlsClientError', (err) => this.log.debug(`emulator: instance TLS handshake failed: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.httpsServer = server;
    const addr = server.address() as AddressInfo;
    const host =
      addr.address === '0.0.0.0' || addr.address === '::' ? '127.0.0.1' : addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.url = `https://${host}:${addr.port}`;
  }

  async close(): Promise<void> {
    const server = this.httpsServer;
    this.httpsServer = undefined;
    if (server) await closeServer(server, this.sockets);
    if (this.opts.removeDirOnClose) rmSync(this.opts.dir, { recursive: true, force: true });
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req as AsyncIterable<Buffer>, MAX_BODY);
    if (!body) {
      this.send(res, errorReply(413, 'InvalidParameter', 'The request body is larger than the emulator accepts (1 MiB).', randomUUID()));
      return;
    }
    const requestId = randomUUID();
    const api = headerOf(req, 'x-kms-apiname') ?? '';
    this.opts.server.count(`instance:${api || '(none)'}`);
    const decision = this.opts.server.faults.decide('instance', api || '(none)');
    if (decision.latencyMs > 0) await new Promise((r) => setTimeout(r, decision.latencyMs));
    if (req.socket.destroyed) return;
    if (decision.kind) {
      this.log.debug(`emulator: instance ${api}: injected ${decision.kind}`);
      switch (decision.kind) {
        case 'drop':
          req.socket.destroy();
          return;
        case 'throttle':
          return this.send(res, errorReply(429, 'Rejected.Throttling', 'QPS Limit Exceeded (injected by the emulator)', requestId));
        case 'error':
          return this.send(res, errorReply(500, 'InternalFailure', 'Internal Failure (injected by the emulator)', requestId));
        case 'unavailable':
          return this.send(
            res,
            errorReply(503, 'ServiceUnavailableTemporary', 'The service is temporarily unavailable (injected by the emulator).', requestId),
          );
      }
    }
    let reply: GcsReply;
    try {
      this.authenticate(req, api, body);
      reply = this.dispatch(req, api, body, requestId);
    } catch (err) {
      if (!(err instanceof GcsError)) throw err;
      reply = errorReply(err.status, err.code, err.message, requestId);
    }
    this.log.debug(`emulator: instance ${api} → ${reply.status}`);
    this.send(res, reply);
  }

  private send(res: ServerResponse, r: GcsReply): void {
    res.writeHead(r.status, { ...r.headers, 'content-length': String(r.body.length) });
    res.end(r.body);
  }

  private authenticate(req: IncomingMessage, api: string, body: Buffer): void {
    if (req.method !== 'POST' || (req.url ?? '/') !== '/')
      throw new GcsError(400, 'InvalidParameter', `The gateway answers POST / only, not ${req.method} ${req.url}.`);
    const version = headerOf(req, 'x-kms-apiversion');
    if (version !== INSTANCE_API_VERSION) throw new GcsError(400, 'InvalidApiVersion', `The ApiVersion "${version ?? ''}" is invalid.`);
    if (!EMULATED.includes(api) && !NOT_EMULATED.includes(api))
      throw new GcsError(400, 'InvalidApiName', `The ApiName "${api}" is invalid.`);
    const method = headerOf(req, 'x-kms-signaturemethod');
    if (method === undefined) throw invalidParam('x-kms-signaturemethod');
    if (method !== 'RSA_PKCS1_SHA_256')
      throw new GcsError(400, 'InvalidParam', `The Param x-kms-signaturemethod is invalid. message:"${method}".`);
    const keyId = headerOf(req, 'x-kms-acccesskeyid');
    if (!keyId) throw new GcsError(400, 'MissingParameter', 'Parameter x-kms-acccesskeyid does not exist in http header or body.');
    const ck = this.instance.clientKeys.find((k) => k.id === keyId);
    if (!ck) throw new GcsError(404, 'Unauthorized', `The AccessKey ID "${keyId}" does not exist in our records.`);
    if (Date.parse(ck.notAfter) < this.now())
      throw new GcsError(404, 'Unauthorized', `The AccessKey ID "${keyId}" is expired (its client key was valid until ${ck.notAfter}).`);
    const date = headerOf(req, 'date') ?? '';
    const t = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/.test(date) ? Date.parse(date) : NaN;
    if (Number.isNaN(t)) throw invalidParam('Date');
    if (Math.abs(this.now() - t) > INSTANCE_SKEW_MS)
      throw new GcsError(
        400,
        'RequestTimeTooSkewed',
        `The difference between the request time ${date} and the server time ${new Date(this.now()).toUTCString()} is more than 15 minutes.`,
      );
    const claimed = headerOf(req, 'content-sha256');
    if (claimed !== createHash('sha256').update(body).digest('hex').toUpperCase()) throw invalidParam('Content-SHA256');
    const auth = headerOf(req, 'authorization') ?? '';
    if (!/^Bearer [A-Za-z0-9+/]+={0,2}$/.test(auth)) throw invalidParam('Authorization');
    const signature = Buffer.from(auth.slice('Bearer '.length), 'base64');
    const kmsHeaders = Object.keys(req.headers)
      .filter((h) => h.startsWith('x-kms-'))
      .sort()
      .map((h) => `${h}:${(headerOf(req, h) ?? '').trim()}\n`)
      .join('');
    const toSign = `POST\n${claimed}\n${headerOf(req, 'content-type') ?? ''}\n${date}\n${kmsHeaders}/`;
    let pub = this.publicKeys.get(ck.id);
    if (!pub) {
      pub = createPublicKey(ck.certPem);
      this.publicKeys.set(ck.id, pub);
    }
    if (!verify('sha256', Buffer.from(toSign, 'utf8'), pub, signature))
      throw new GcsError(401, 'SignatureNotMatch', 'Signature is not matched.');
  }

  // ---------------------------------------------------------------- operations

  private keys(): StoredKey[] {
    return this.opts.store.keys('alibaba', this.instance.account, this.instance.region).filter((k) => k.instanceId === this.instance.id);
  }

  private resolveKey(ref: string | undefined): StoredKey {
    if (!ref) throw new GcsError(400, 'MissingParameter', 'Parameter KeyId does not exist in http header or body.');
    const k = ref.startsWith('alias/') ? this.keys().find((x) => x.aliases?.includes(ref)) : this.keys().find((x) => x.keyId === ref);
    if (!k) throw new GcsError(404, 'Forbidden.KeyNotFound', `The specified Key ${ref} is not found in instance ${this.instance.id}.`);
    return k;
  }

  private byVersion(versionId: string | undefined): StoredKey {
    const k = versionId ? this.keys().find((x) => x.versionId === versionId) : undefined;
    if (!k)
      throw new GcsError(
        404,
        'Forbidden.KeyNotFound',
        `The key version ${versionId ?? '(none)'} is not found in instance ${this.instance.id}.`,
      );
    return k;
  }

  private usable(k: StoredKey): void {
    if (k.state === 'Enabled') return;
    if (k.state === 'Disabled')
      throw new GcsError(400, 'Rejected.Disabled', `The request is rejected because the key ${k.keyId} is disabled.`);
    if (k.state === 'PendingDeletion')
      throw new GcsError(400, 'Rejected.PendingDeletion', `The request is rejected because the key ${k.keyId} is pending deletion.`);
    throw new GcsError(400, 'Rejected.KeyState', `The request is rejected because the key ${k.keyId} is ${k.state}.`);
  }

  private dispatch(req: IncomingMessage, api: string, body: Buffer, requestId: string): GcsReply {
    if (NOT_EMULATED.includes(api))
      throw new GcsError(400, 'UnsupportedOperation', `Rejected.UnsupportedOperation: ${api} is not emulated (symmetric keys only).`);
    let f: Fields;
    try {
      f = decode(`${api}Request`, body);
    } catch {
      throw new GcsError(400, 'InvalidParameter', 'The specified parameter is not valid.');
    }
    const algorithm = (f.Algorithm as string | undefined) ?? '';
    if (algorithm && algorithm !== 'AES_GCM')
      throw new GcsError(
        400,
        'InvalidParameter',
        `The specified parameter Algorithm ${algorithm} is not valid for a symmetric key (AES_GCM).`,
      );
    const ok = (name: string, fields: Record<string, unknown>, k?: StoredKey): GcsReply => ({
      status: 200,
      headers: {
        'content-type': 'application/x-protobuf',
        ...(k ? { 'x-kms-migrationkeyversionid': k.versionId } : {}),
      },
      body: encode(name, { ...fields, RequestId: requestId }),
    });
    const ivOf = (iv: Buffer | undefined) => {
      if (iv && iv.length && iv.length !== 12) throw new GcsError(400, 'InvalidParameter', 'The specified parameter Iv must be 12 bytes.');
      return iv && iv.length ? iv : randomBytes(12);
    };
    const nob = (n: unknown, name = 'NumberOfBytes') => {
      const v = typeof n === 'number' && n !== 0 ? n : 32;
      if (!Number.isInteger(v) || v < 1 || v > 1024)
        throw new GcsError(400, 'InvalidParameter', `The specified parameter ${name} must be 1 to 1024.`);
      return v;
    };
    switch (api) {
      case 'Encrypt':
      case 'AdvanceEncrypt': {
        const k = this.resolveKey(f.KeyId);
        this.usable(k);
        const pt = f.Plaintext ?? Buffer.alloc(0);
        if (pt.length === 0 || pt.length > 6144)
          throw new GcsError(400, 'InvalidParameter', `The specified parameter Plaintext must be 1 to 6144 bytes, not ${pt.length}.`);
        const { iv, sealed } = gcmSeal(k, pt, f.Aad, ivOf(f.Iv));
        const common = { KeyId: k.keyId, Iv: iv, Algorithm: 'AES_GCM' };
        return api === 'Encrypt'
          ? ok('EncryptResponse', { ...common, CiphertextBlob: sealed }, k)
          : ok('AdvanceEncryptResponse', { ...common, CiphertextBlob: advanceBlob(k.versionId, iv, sealed), KeyVersionId: k.versionId }, k);
      }
      case 'Decrypt':
      case 'AdvanceDecrypt': {
        const blob = f.CiphertextBlob ?? Buffer.alloc(0);
        let k: StoredKey;
        let iv: Buffer;
        let sealed: Buffer;
        if (api === 'AdvanceDecrypt') {
          const p = parseAdvanceBlob(blob);
          if (!p) throw new GcsError(400, 'InvalidCiphertext', 'The specified CiphertextBlob is not an advance ciphertext.');
          if (f.Iv && f.Iv.length && !f.Iv.equals(p.iv))
            throw new GcsError(400, 'InvalidParameter', 'The specified parameter Iv does not match the CiphertextBlob.');
          k = this.byVersion(p.versionId);
          ({ iv, sealed } = p);
        } else {
          const migration = headerOf(req, 'x-kms-migrationkeyversionid');
          k = f.KeyId ? this.resolveKey(f.KeyId) : this.byVersion(migration);
          iv = f.Iv ?? Buffer.alloc(0);
          sealed = blob;
          if (iv.length !== 12) throw new GcsError(400, 'InvalidParameter', 'The specified parameter Iv must be 12 bytes.');
        }
        this.usable(k);
        const pt = gcmOpen(k, iv, sealed, f.Aad);
        if (!pt)
          throw new GcsError(
            400,
            'InvalidCiphertext',
            'The specified CiphertextBlob is not valid: it was altered, or was made with another key, Iv or Aad.',
          );
        const common = { KeyId: k.keyId, Plaintext: pt, Algorithm: 'AES_GCM' };
        return api === 'Decrypt'
          ? ok('DecryptResponse', common, k)
          : ok('AdvanceDecryptResponse', { ...common, KeyVersionId: k.versionId }, k);
      }
      case 'GenerateDataKey':
      case 'AdvanceGenerateDataKey': {
        const k = this.resolveKey(f.KeyId);
        this.usable(k);
        const dk = randomBytes(nob(f.NumberOfBytes));
        const { iv, sealed } = gcmSeal(k, dk, f.Aad);
        const common = { KeyId: k.keyId, Iv: iv, Plaintext: dk, Algorithm: 'AES_GCM' };
        return api === 'GenerateDataKey'
          ? ok('GenerateDataKeyResponse', { ...common, CiphertextBlob: sealed }, k)
          : ok(
              'AdvanceGenerateDataKeyResponse',
              { ...common, CiphertextBlob: advanceBlob(k.versionId, iv, sealed), KeyVersionId: k.versionId },
              k,
            );
      }
      case 'GenerateRandom':
        return ok('GenerateRandomResponse', { Random: randomBytes(nob(f.Length, 'Length')) });
      default:
        throw new GcsError(400, 'InvalidApiName', `The ApiName "${api}" is invalid.`);
    }
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * HTTPS client of one KMS 3.0 instance gateway: protobuf bodies, RSA request signing with the
 * ClientKey, the instance's private CA as the only trust anchor (the certificate is always
 * verified; there is no "ignore SSL" switch), keep-alive connections, retries with the shared
 * policy (throttling, 5xx and transport failures; a fresh date and signature per attempt),
 * per-attempt timeouts and cancellation, and the gateway's errors mapped to KmsEnvelopeErrors.
 *
 * The data-key operations speak the TransferClient's "advance" dialect (AdvanceEncrypt,
 * AdvanceDecrypt, AdvanceGenerateDataKey) and hand back the KMS 1.0 ciphertext form (transfer.ts),
 * so what they seal also opens through the public gateway.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import * as https from 'node:https';
import { formatError, usageError } from '../../errors';
import { nullLogger, type Logger } from '../../log';
import { withRetry, type RetryPolicy } from '../retry';
import type { EncryptionContext } from '../types';
import type { ClientKey } from './client-key';
import { instanceFailureClass, InstanceCallError, toInstanceError, transportError, type InstanceCallContext } from './errors';
import { decodeError, decodeResponse, encodeRequest, type InstanceApi, type InstanceApiName } from './proto';
import { PROTOBUF_CONTENT_TYPE, signedHeaders } from './signing';
import { advanceToKms1, encryptionContextAad, splitKms1Blob } from './transfer';

export const DATA_KEY_BYTES = 32;
const MAX_RESPONSE = 1 << 20;

export interface InstanceEndpoint {
  /** https://host[:port] */
  url: string;
  hostname: string;
  port: number;
  /** `kst-…` when the host name carries it. */
  instanceId?: string;
}

/** `https://kst-….cryptoservice.kms.aliyuncs.com`, `host[:port]` (https assumed); HTTPS only. */
export function parseInstanceEndpoint(text: string): InstanceEndpoint {
  const raw = text.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw usageError(
      `The instance endpoint "${raw}" is not a URL.`,
      "Write it as https://<instance-id>.cryptoservice.kms.aliyuncs.com (the instance's VPC endpoint from the KMS console).",
    );
  }
  if (u.protocol !== 'https:') {
    throw usageError(
      `The instance endpoint "${raw}" uses ${u.protocol.replace(/:$/, '')}; a KMS 3.0 instance gateway speaks HTTPS only.`,
      'Write it as https://<instance-id>.cryptoservice.kms.aliyuncs.com.',
    );
  }
  if (u.username || u.password || u.pathname !== '/' || u.search || u.hash) {
    throw usageError(`The instance endpoint "${raw}" must be a host only.`, 'Write it as https://host[:port].');
  }
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const m = /^(kst-[a-z0-9]+)\./i.exec(hostname);
  return { url: `https://${u.host}`, hostname, port: u.port ? Number(u.port) : 443, instanceId: m?.[1] };
}

/** Checks that `pem` holds at least one X.509 certificate; returns the PEM blocks. */
export function parseCaPem(pem: string, source: string): string[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const hint = "Give the instance's CA certificate, PrivateKmsCA_<instance-id>.pem from the instance details in the KMS console.";
  if (blocks.length === 0) throw usageError(`${source} holds no PEM certificate.`, hint);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch {
      throw usageError(`${source} holds a certificate that cannot be read.`, hint);
    }
  }
  return blocks;
}

export interface InstanceClientOptions {
  endpoint: string;
  /** PEM text of the instance's CA certificate(s): the only trust anchors of the connection. */
  caPem: string;
  clientKey: ClientKey;
  /** Region of the instance (for messages and the keyref of what it seals). */
  region: string;
  profile: string;
  logger?: Logger;
  /** Timeout of one attempt (ms). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Connections kept per gateway (default 64). */
  maxSockets?: number;
  /** Clock for the date header (tests). */
  now?: () => number;
}

export interface CallOptions {
  signal?: AbortSignal;
  keyId?: string;
  /** Extra x-kms-* request headers (signed). */
  headers?: Record<string, string>;
  /** Safe to repeat after it may have reached the server (every data-key operation is). */
  idempotent?: boolean;
}

export class InstanceClient {
  readonly endpoint: InstanceEndpoint;
  private readonly agent: https.Agent;
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly opts: InstanceClientOptions) {
    this.endpoint = parseInstanceEndpoint(opts.endpoint);
    const ca = parseCaPem(opts.caPem, `The CA certificate of profile ${opts.profile}`);
    this.agent = new https.Agent({ keepAlive: true, maxSockets: opts.maxSockets ?? 64, ca, rejectUnauthorized: true });
    this.log = opts.logger ?? nullLogger;
    this.now = opts.now ?? Date.now;
  }

  /** The instance id when the endpoint names one, else the endpoint's host. */
  get instance(): string {
    return this.endpoint.instanceId ?? this.endpoint.hostname;
  }

  get clientKeyId(): string {
    return this.opts.clientKey.id;
  }

  close(): void {
    this.agent.destroy();
  }

  /** One API call with retries; resolves with the decoded answer and the response headers. */
  async call<N extends InstanceApiName>(
    api: N,
    request: InstanceApi[N][0],
    o: CallOptions = {},
  ): Promise<{ body: InstanceApi[N][1]; headers: IncomingHttpHeaders }> {
    const body = encodeRequest(api, request);
    const ctx: InstanceCallContext = {
      api,
      endpoint: this.endpoint.url,
      instance: this.instance,
      region: this.opts.region,
      profile: this.opts.profile,
      keyId: o.keyId,
      clientKeyId: this.opts.clientKey.id,
      idempotent: o.idempotent ?? true,
    };
    return withRetry(
      async (a) => {
        const t0 = Date.now();
        try {
          const res = await this.send(api, body, o.headers, a.signal);
          this.log.debug(
            `alibaba instance ${this.instance} ${api} ok in ${Date.now() - t0} ms (attempt ${a.attempt}, request ${res.body.RequestId || '-'})`,
          );
          return res;
        } catch (err) {
          this.log.debug(
            `alibaba instance ${this.instance} ${api} failed in ${Date.now() - t0} ms (attempt ${a.attempt}): ${err instanceof Error ? err.message : String(err)}`,
          );
          throw err;
        }
      },
      {
        idempotent: ctx.idempotent,
        signal: o.signal,
        policy: { ...this.opts.retry, ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}) },
        classify: instanceFailureClass,
        onRetry: ({ attempt, delayMs, failure }) =>
          this.log.info(`alibaba instance ${this.instance} ${api}: ${failure} on attempt ${attempt}, retrying in ${delayMs} ms`),
        finalize: (err, info) => toInstanceError(err, ctx, info),
      },
    );
  }

  private send<N extends InstanceApiName>(
    api: N,
    body: Buffer,
    extra: Record<string, string> | undefined,
    signal: AbortSignal,
  ): Promise<{ body: InstanceApi[N][1]; headers: IncomingHttpHeaders }> {
    const headers = signedHeaders({
      apiName: api,
      body,
      clientKeyId: this.opts.clientKey.id,
      privateKey: this.opts.clientKey.privateKey,
      date: new Date(this.now()).toUTCString(),
      extra,
    });
    return new Promise((resolve, reject) => {
      const req = https.request(
        {
          host: this.endpoint.hostname,
          port: this.endpoint.port,
          method: 'POST',
          path: '/',
          agent: this.agent,
          signal,
          headers: {
            ...headers,
            accept: PROTOBUF_CONTENT_TYPE,
            'user-agent': 'kms-envelope alibaba-instance',
            'content-length': String(body.length),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_RESPONSE) {
              req.destroy(new InstanceCallError('answer larger than 1 MiB', { code: 'InvalidResponse', status: res.statusCode }));
              return;
            }
            chunks.push(c);
          });
          res.on('error', (err) => reject(transportError(err)));
          res.on('end', () => {
            const data = Buffer.concat(chunks);
            const status = res.statusCode ?? 0;
            if (status === 200) {
              try {
                resolve({ body: decodeResponse(api, data), headers: res.headers });
              } catch (err) {
                reject(
                  new InstanceCallError(`unreadable ${api} answer: ${(err as Error).message}`, {
                    code: 'InvalidResponse',
                    status,
                    cause: err,
                  }),
                );
              }
              return;
            }
            const e = decodeError(data);
            reject(
              e
                ? new InstanceCallError(e.ErrorMessage || e.ErrorCode, { code: e.ErrorCode, status, requestId: e.RequestId })
                : new InstanceCallError(`HTTP ${status} without a protobuf Error body`, { status }),
            );
          });
        },
      );
      req.on('error', (err) => {
        if (err instanceof InstanceCallError) reject(err);
        else if (signal.aborted) reject(signal.reason);
        else reject(transportError(err));
      });
      req.end(body);
    });
  }

  // ------------------------------------------------------------------ data-key operations

  /** Encrypts `plaintext` (≤ 6 KiB) under `keyId`; the KMS 1.0 ciphertext blob as base64 text. */
  async encrypt(
    keyId: string,
    plaintext: Buffer,
    context: EncryptionContext,
    o: CallOptions = {},
  ): Promise<{ ciphertextBlob: string; keyId: string; keyVersionId: string }> {
    const { body } = await this.call(
      'AdvanceEncrypt',
      { KeyId: keyId, Plaintext: plaintext, Aad: encryptionContextAad(context) },
      { ...o, keyId },
    );
    const kms1 = advanceToKms1(body.CiphertextBlob);
    if (!kms1) throw this.odd('AdvanceEncrypt', keyId, 'a CiphertextBlob that is not an advance ciphertext');
    return { ciphertextBlob: kms1.toString('base64'), keyId: body.KeyId || keyId, keyVersionId: body.KeyVersionId };
  }

  /** Decrypts a KMS 1.0 ciphertext blob (base64 text) of an instance key. */
  async decrypt(
    ciphertextBlob: string,
    context: EncryptionContext,
    o: CallOptions = {},
  ): Promise<{ plaintext: Buffer; keyId: string; keyVersionId: string }> {
    const split = /^[A-Za-z0-9+/]*={0,2}$/.test(ciphertextBlob) ? splitKms1Blob(Buffer.from(ciphertextBlob, 'base64')) : undefined;
    if (!split) {
      throw formatError(
        `The ciphertext for key ${o.keyId ?? '(unknown)'} is not a ciphertext of a KMS 3.0 instance key (key version id, IV, ciphertext).`,
        'It was sealed with a key outside a KMS 3.0 instance: unseal it through the public gateway (a profile with an AccessKey).',
        { provider: 'alibaba', region: this.opts.region, keyId: o.keyId, profile: this.opts.profile },
      );
    }
    const { body } = await this.call(
      'AdvanceDecrypt',
      { CiphertextBlob: split.advance, Iv: split.iv, Aad: encryptionContextAad(context) },
      o,
    );
    return { plaintext: body.Plaintext, keyId: body.KeyId, keyVersionId: body.KeyVersionId || split.keyVersionId };
  }

  /**
   * A data key as the TransferClient makes one: AdvanceGenerateDataKey for the key material, then
   * AdvanceEncrypt of its base64 text, so Decrypt (either gateway) returns that text, as KMS 1.0 does.
   */
  async generateDataKey(
    keyId: string,
    context: EncryptionContext,
    o: CallOptions = {},
  ): Promise<{ plaintext: Buffer; ciphertextBlob: string; keyId: string }> {
    const aad = encryptionContextAad(context);
    const { body } = await this.call('AdvanceGenerateDataKey', { KeyId: keyId, NumberOfBytes: DATA_KEY_BYTES, Aad: aad }, { ...o, keyId });
    const dk = body.Plaintext;
    if (dk.length !== DATA_KEY_BYTES) {
      dk.fill(0);
      throw this.odd('AdvanceGenerateDataKey', keyId, `a ${dk.length}-byte data key`);
    }
    const b64 = Buffer.from(dk.toString('base64'), 'utf8');
    try {
      const enc = await this.encrypt(body.KeyId || keyId, b64, context, o);
      return { plaintext: dk, ciphertextBlob: enc.ciphertextBlob, keyId: enc.keyId };
    } catch (err) {
      dk.fill(0);
      throw err;
    } finally {
      b64.fill(0);
    }
  }

  private odd(api: string, keyId: string, what: string) {
    return formatError(
      `Alibaba Cloud KMS instance ${this.instance} answered ${api} with key ${keyId} with ${what}.`,
      'Check the instance endpoint of the profile: it did not answer like a KMS 3.0 instance gateway.',
      { provider: 'alibaba', region: this.opts.region, keyId, profile: this.opts.profile },
    );
  }
}

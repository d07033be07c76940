/**
 * An Alibaba Cloud KMS profile that reaches a KMS 3.0 instance: key operations (GenerateDataKey,
 * Encrypt, Decrypt) go to the instance gateway with the profile's client key; management (list,
 * describe, create in the instance, enable/disable, alias, description, deletion) goes to the public
 * gateway when the profile also has an AccessKey, as Alibaba's TransferClient routes them. A profile
 * with a client key only can seal and unseal, and says how to add an AccessKey for the rest.
 *
 * What it seals keeps the public gateway's recipient (`alibaba-kms`, `<region>/<keyId>`, the KMS
 * 1.0 CiphertextBlob as base64 text; transfer.ts), so either gateway opens it. Data keys travel as
 * their base64 text, as with the public gateway: Decrypt's plaintext is that text.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { CancelledError, KmsEnvelopeError, usageError, type ErrorDetails } from '../../errors';
import { nullLogger, type Logger } from '../../log';
import { checkDataKeySize, checkDecryptedBy } from '../data-keys';
import type { RetryPolicy } from '../retry';
import type {
  AliasChange,
  CallOptions,
  CreateKeyOptions,
  DataKey,
  EncryptionContext,
  KeyMetadata,
  KmsProvider,
  ListKeysOptions,
  ListKeysPage,
  ProviderName,
} from '../types';
import { checkClientKeyValidity, loadClientKey } from './client-key';
import { InstanceClient, parseCaPem, parseInstanceEndpoint } from './client';

/** The secret parts of an instance profile (keychain only). */
export interface InstanceSecrets {
  /** The client key file's JSON text. */
  clientKey: string;
  password: string;
}

/** The management side: the public-gateway provider built with the profile's AccessKey. */
export interface ManagementGateway extends KmsProvider {
  /** CreateKey placing the key in a KMS 3.0 instance (DKMSInstanceId). */
  createKeyInInstance?(region: string, instanceId: string, opts?: CreateKeyOptions): Promise<KeyMetadata>;
}

export interface AlibabaInstanceOptions {
  /** Provider name of the profile (keyrefs, messages). */
  name?: ProviderName;
  profile: string;
  /** https://<instance-id>.cryptoservice.kms.aliyuncs.com (or the emulator's https://127.0.0.1:PORT). */
  endpoint: string;
  /** Region of the instance. */
  region: string;
  /** PEM text of the instance's CA certificate. */
  caPem: string;
  /** Read per request; the client key is parsed again only when it changes. */
  secrets: () => Promise<InstanceSecrets>;
  /** The public gateway for management; resolves to undefined when the profile has no AccessKey. */
  management?: () => Promise<ManagementGateway | undefined>;
  logger?: Logger;
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Connections kept to the instance (default 64). */
  maxSockets?: number;
}

/** The instance id: from the endpoint host (`kst-….cryptoservice…`), else from the CA certificate's names. */
export function instanceIdOf(endpoint: string, caPem: string): string | undefined {
  const fromHost = parseInstanceEndpoint(endpoint).instanceId;
  if (fromHost) return fromHost;
  for (const pem of parseCaPem(caPem, 'The CA certificate')) {
    const c = new X509Certificate(pem);
    const m = /(kst-[a-z0-9]+)/i.exec(`${c.subject}\n${c.subjectAltName ?? ''}`);
    if (m) return m[1];
  }
  return undefined;
}

const KEY_ID = /^(key-[A-Za-z0-9]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i;

/** What the gateway's KeyId gets for a keyref's key part: key id, ARN, or alias/… (a bare name is an alias). */
export function instanceKeyParam(key: string): string {
  const k = key.trim();
  if (!k) throw usageError('No key given.', 'Pass a key id or alias/<name>.', { provider: 'alibaba' });
  return k.startsWith('alias/') || k.startsWith('acs:') || KEY_ID.test(k) ? k : `alias/${k}`;
}

export class AlibabaInstanceProvider implements KmsProvider {
  readonly name: ProviderName;
  readonly profile: string;
  readonly deletionWindow = { min: 7, max: 366, default: 7 };
  /** `kst-…` when the endpoint or the CA names it. */
  readonly instanceId?: string;
  readonly region: string;

  private readonly log: Logger;
  private current?: { fingerprint: string; client: Promise<InstanceClient> };

  constructor(private readonly opts: AlibabaInstanceOptions) {
    this.name = opts.name ?? 'alibaba';
    this.profile = opts.profile || 'default';
    this.region = opts.region;
    this.log = opts.logger ?? nullLogger;
    parseInstanceEndpoint(opts.endpoint);
    this.instanceId = instanceIdOf(opts.endpoint, opts.caPem);
  }

  /** The instance as messages name it. */
  get instanceLabel(): string {
    return this.instanceId ?? parseInstanceEndpoint(this.opts.endpoint).hostname;
  }

  /** Where key operations go (the instance gateway); `bench` and messages name it. */
  endpointFor(_region?: string): { url: string; loopback: boolean } {
    const e = parseInstanceEndpoint(this.opts.endpoint);
    return { url: e.url, loopback: e.hostname === 'localhost' || e.hostname === '::1' || /^127\./.test(e.hostname) };
  }

  dispose(): void {
    const c = this.current;
    this.current = undefined;
    void c?.client.then(
      (x) => x.close(),
      () => undefined,
    );
    const m = this.managed;
    this.managed = undefined;
    void m?.then(
      (x) => (x as { dispose?: () => void } | undefined)?.dispose?.(),
      () => undefined,
    );
  }

  private details(keyId?: string): ErrorDetails {
    return { provider: this.name, region: this.region, keyId, profile: this.profile };
  }

  /** The instance client for the profile's current client key (parsed once per key and password). */
  private async client(): Promise<InstanceClient> {
    const s = await this.opts.secrets();
    if (!s.clientKey || !s.password) {
      throw new KmsEnvelopeError(
        'credentials',
        `Profile ${this.profile} has no client key and password for KMS 3.0 instance ${this.instanceLabel}.`,
        {
          hint: 'Add them to the profile: the clientKey_<id>.json file and the password from clientKey_<id>_Password.txt that the KMS console downloads.',
          details: this.details(),
        },
      );
    }
    const fingerprint = createHash('sha256').update(s.clientKey).update('\0').update(s.password).digest('hex');
    if (this.current?.fingerprint !== fingerprint) {
      const old = this.current;
      const source = `the client key of profile ${this.profile}`;
      const client = loadClientKey({ json: s.clientKey, password: s.password, source, details: this.details() }).then((key) => {
        checkClientKeyValidity(key, source, Date.now(), this.details());
        return new InstanceClient({
          endpoint: this.opts.endpoint,
          caPem: this.opts.caPem,
          clientKey: key,
          region: this.region,
          profile: this.profile,
          logger: this.log,
          timeoutMs: this.opts.timeoutMs,
          retry: this.opts.retry,
          maxSockets: this.opts.maxSockets,
        });
      });
      this.current = { fingerprint, client };
      client.catch(() => {
        if (this.current?.client === client) this.current = undefined;
      });
      void old?.client.then(
        (x) => x.close(),
        () => undefined,
      );
    }
    return this.current.client;
  }

  /** A key as this provider names it (keyrefs and key actions then come back here). */
  private own(k: KeyMetadata): KeyMetadata {
    return { ...k, provider: this.name };
  }

  /** The error of a management call on a profile without an AccessKey. */
  private noManagement(what: string): KmsEnvelopeError {
    return new KmsEnvelopeError(
      'usage',
      `Profile ${this.profile} reaches KMS 3.0 instance ${this.instanceLabel} with a client key only: the instance gateway cannot ${what}.`,
      {
        hint: [
          'Add an AccessKey of a RAM user allowed to manage KMS to the profile (',
          { action: 'rotateSecret', provider: this.name, name: this.profile },
          `, giving the AccessKey ID and secret after the password); listing and managing keys then go through the public gateway while sealing stays on the instance. Sealing with a key you know works now: ${this.name}:${this.region}:<key id or alias>.`,
        ],
        details: { ...this.details(), providerCode: 'InstanceOnlyProfile' },
      },
    );
  }

  private managed?: Promise<ManagementGateway | undefined>;

  /** The public gateway, built on first use; the instance-only error when the profile has no AccessKey. */
  private async manage(what: string): Promise<ManagementGateway> {
    this.managed ??= this.opts.management ? this.opts.management() : Promise.resolve(undefined);
    let m: ManagementGateway | undefined;
    try {
      m = await this.managed;
    } catch (err) {
      this.managed = undefined;
      throw err;
    }
    if (!m) {
      this.managed = undefined;
      throw this.noManagement(what);
    }
    return m;
  }

  // ------------------------------------------------------------------ management (public gateway)

  /**
   * The instance's region. The client key is loaded first (once per key and password), so a profile
   * test (`profiles add --test`, Add Profile) catches a wrong password or an expired client key
   * without a request.
   */
  async listRegions(opts?: CallOptions): Promise<string[]> {
    if (opts?.signal?.aborted) throw new CancelledError();
    await this.client();
    return [this.region];
  }

  async listKeys(region: string, opts?: ListKeysOptions): Promise<ListKeysPage> {
    const page = await (await this.manage('list keys')).listKeys(region, opts);
    const keys = page.keys.filter((k) => !!k.instanceId && (!this.instanceId || k.instanceId === this.instanceId)).map((k) => this.own(k));
    return { keys, nextToken: page.nextToken };
  }

  async describeKey(region: string, keyIdOrAlias: string, opts?: CallOptions): Promise<KeyMetadata> {
    return this.own(await (await this.manage('describe keys')).describeKey(region, keyIdOrAlias, opts));
  }

  async createKey(region: string, opts?: CreateKeyOptions): Promise<KeyMetadata> {
    const m = await this.manage('create keys');
    if (!this.instanceId || !m.createKeyInInstance) {
      throw usageError(
        `The id of KMS 3.0 instance ${this.instanceLabel} is not known, so a key cannot be created in it.`,
        'Use the instance endpoint as the console shows it (https://<instance-id>.cryptoservice.kms.aliyuncs.com), or create the key in the KMS console.',
        this.details(),
      );
    }
    return this.own(await m.createKeyInInstance(region, this.instanceId, opts));
  }

  async enableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return (await this.manage('enable keys')).enableKey(region, keyId, opts);
  }

  async disableKey(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return (await this.manage('disable keys')).disableKey(region, keyId, opts);
  }

  async setAlias(region: string, keyId: string, alias: string, opts?: CallOptions): Promise<AliasChange | void> {
    return (await this.manage('set aliases')).setAlias(region, keyId, alias, opts);
  }

  async setDescription(region: string, keyId: string, description: string, opts?: CallOptions): Promise<void> {
    return (await this.manage('edit key descriptions')).setDescription(region, keyId, description, opts);
  }

  async scheduleDeletion(region: string, keyId: string, days: number, opts?: CallOptions): Promise<{ deletionDate?: string }> {
    return (await this.manage('schedule key deletion')).scheduleDeletion(region, keyId, days, opts);
  }

  async cancelDeletion(region: string, keyId: string, opts?: CallOptions): Promise<void> {
    return (await this.manage('cancel key deletion')).cancelDeletion(region, keyId, opts);
  }

  // ------------------------------------------------------------------ key operations (instance gateway)

  /** An instance holds keys of its own region only: another region is refused before any request. */
  private checkRegion(region: string, keyId: string): void {
    if (region === this.region) return;
    throw usageError(
      `Profile ${this.profile} reaches KMS 3.0 instance ${this.instanceLabel} in ${this.region}; key ${keyId} is in ${region}.`,
      [`Use a profile of region ${region} (an instance there, or an AccessKey profile): `, { action: 'listProfiles' }, '.'],
      { ...this.details(keyId), region },
    );
  }

  async generateDataKey(region: string, keyIdOrAlias: string, context: EncryptionContext, opts?: CallOptions): Promise<DataKey> {
    this.checkRegion(region, keyIdOrAlias);
    const c = await this.client();
    const r = await c.generateDataKey(instanceKeyParam(keyIdOrAlias), context, { signal: opts?.signal, keyId: keyIdOrAlias });
    return { plaintext: r.plaintext, ciphertext: Buffer.from(r.ciphertextBlob, 'utf8'), keyId: r.keyId };
  }

  async encryptDataKey(
    region: string,
    keyIdOrAlias: string,
    plaintext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ ciphertext: Buffer; keyId: string }> {
    checkDataKeySize('A KMS 3.0 instance', plaintext, this.details(keyIdOrAlias));
    this.checkRegion(region, keyIdOrAlias);
    const c = await this.client();
    const text = Buffer.from(plaintext.toString('base64'), 'utf8');
    try {
      const r = await c.encrypt(instanceKeyParam(keyIdOrAlias), text, context, { signal: opts?.signal, keyId: keyIdOrAlias });
      return { ciphertext: Buffer.from(r.ciphertextBlob, 'utf8'), keyId: r.keyId };
    } finally {
      text.fill(0);
    }
  }

  async decryptDataKey(
    region: string,
    keyId: string,
    ciphertext: Buffer,
    context: EncryptionContext,
    opts?: CallOptions,
  ): Promise<{ plaintext: Buffer; keyId: string }> {
    this.checkRegion(region, keyId);
    const c = await this.client();
    const r = await c.decrypt(ciphertext.toString('utf8'), context, { signal: opts?.signal, keyId });
    const text = r.plaintext;
    const plaintext = Buffer.from(text.toString('utf8'), 'base64');
    text.fill(0);
    checkDecryptedBy(`KMS 3.0 instance ${this.instanceLabel}`, { keyId, isKeyId: KEY_ID }, r.keyId, plaintext, {
      ...this.details(keyId),
      region,
    });
    return { plaintext, keyId: r.keyId || keyId };
  }
}

/**
 * Alibaba Cloud KMS through a KMS 3.0 instance (the dedicated "dkms-gcs" gateway, client key + CA;
 * PROTOCOLS-alibaba-instance.md), with transfer routing: key operations to the instance, management
 * to the public gateway when the profile also holds an AccessKey. Its blobs carry the public
 * gateway's recipient (`alibaba-kms`, `<region>/<keyId>`), so unseal tries both Alibaba providers.
 *
 * A profile: the instance endpoint and CA certificate (not secret: profiles.json), the client key
 * file and its password (keychain), optionally an AccessKey (keychain), and the instance's region
 * (`--region`). The implementation is imported only when a provider is built.
 */
import { tokenCheck } from '../access-key';
import type { CredentialPart, ProviderDescriptor } from '../descriptor';
import { alibabaProvider } from '../alibaba/descriptor';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

export const INSTANCE_PARTS: readonly CredentialPart[] = [
  {
    key: 'instanceEndpoint',
    label: 'instance endpoint',
    secret: false,
    store: 'profile',
    flag: 'instance-endpoint',
    prompt: 'https://<instance-id>.cryptoservice.kms.aliyuncs.com, from the instance details in the KMS console',
    validate: (v) =>
      /^(https:\/\/)?[A-Za-z0-9.[\]:-]+(:\d+)?\/?$/.test(v.trim()) && !/^http:/i.test(v.trim())
        ? undefined
        : 'The instance endpoint is a host name (https://<instance-id>.cryptoservice.kms.aliyuncs.com), HTTPS only.',
  },
  {
    key: 'ca',
    label: 'CA certificate',
    secret: false,
    store: 'profile',
    input: 'file',
    fileTypes: { 'PEM certificate': ['pem', 'crt', 'cer'] },
    flag: 'ca-file',
    prompt: "the instance's PrivateKmsCA_<instance-id>.pem from the instance details in the KMS console",
    validate: (v) => (PEM_CERT.test(v) ? undefined : 'The CA certificate file holds no PEM certificate (PrivateKmsCA_<instance-id>.pem).'),
  },
  {
    key: 'clientKey',
    label: 'client key',
    secret: false,
    input: 'file',
    fileTypes: { 'Client key (JSON)': ['json'] },
    flag: 'client-key-file',
    prompt: 'the clientKey_<id>.json file the KMS console downloads with a client key (Application Access)',
    validate: (v) => {
      try {
        const j = JSON.parse(v) as Record<string, unknown>;
        if (typeof j.KeyId === 'string' && typeof j.PrivateKeyData === 'string') return undefined;
      } catch {
        /* below */
      }
      return 'The client key file is not the clientKey_<id>.json the KMS console downloads (JSON with KeyId and PrivateKeyData).';
    },
  },
  {
    key: 'password',
    label: 'client key password',
    secret: true,
    prompt: 'the content of clientKey_<id>_Password.txt',
    validate: (v) => (v.trim() ? undefined : 'The client key password is empty.'),
  },
  {
    key: 'accessKeyId',
    label: 'AccessKey ID (optional: for listing and managing keys)',
    secret: false,
    optional: true,
    prompt: 'of a RAM user allowed to manage KMS, from the Alibaba Cloud console → RAM → AccessKey; empty: key operations only',
    validate: tokenCheck('AccessKey ID', 8, 256),
  },
  { key: 'accessKeySecret', label: 'AccessKey secret', secret: true, optional: true, validate: tokenCheck('AccessKey secret', 8, 256) },
];

export const alibabaInstanceProvider: ProviderDescriptor = {
  name: 'alibaba-instance',
  label: 'Alibaba Cloud KMS 3.0 instance',
  vendor: 'Alibaba Cloud',
  variantOf: { provider: 'alibaba', flag: 'instance-endpoint' },
  keyring: { providerId: alibabaProvider.keyring.providerId },
  regions: { default: 'cn-hangzhou', source: "the profile's region (the instance's)" },
  aliases: alibabaProvider.aliases,
  deletionWindow: alibabaProvider.deletionWindow,
  credentials: {
    parts: INSTANCE_PARTS,
    temporary: false,
    console: 'Alibaba Cloud KMS console → Application Access (client key) and the instance details (endpoint, CA)',
    check: (c) =>
      !!c.accessKeyId !== !!c.accessKeySecret
        ? 'Give both the AccessKey ID and its secret, or neither (then the profile seals and unseals but cannot list or manage keys).'
        : undefined,
  },
  // The public gateway, for the management calls of a profile with an AccessKey.
  endpoint: alibabaProvider.endpoint,
  errors: alibabaProvider.errors,
  tree: { profileIcon: 'server-environment' },
  async create(ctx) {
    const { createInstanceProvider } = await import('./index.js');
    return createInstanceProvider(ctx);
  },
};

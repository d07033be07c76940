/**
 * The emulated KMS 3.0 instance's private PKI: its CA, the gateway's TLS server certificate, and
 * the client keys it issues, in the forms the Alibaba Cloud console hands out:
 *
 *   PrivateKmsCA_<instance-id>.pem          the CA certificate (PEM)
 *   clientKey_<KAAP.id>.json                {"KeyId": "KAAP.…", "PrivateKeyData": "<base64 PKCS#12>"}
 *   clientKey_<KAAP.id>_Password.txt        the PKCS#12 password
 *
 * RSA key pairs come from node:crypto; certificates and PKCS#12 archives are built with node-forge.
 * The archives use the legacy ciphers every official SDK reads (PROTOCOLS-alibaba-instance.md §3):
 * the key bag shrouded with pbeWithSHAAnd3-KeyTripleDES-CBC, a SHA-1 MAC, and the certificate bag
 * before the key bag (the Go SDK takes PEM block 0 as the certificate and 1 as the key).
 */
import { generateKeyPair, randomBytes, randomInt, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateKeyPairAsync = promisify(generateKeyPair);

export interface StoredCa {
  certPem: string;
  keyPem: string;
}

export interface StoredServerCert {
  certPem: string;
  keyPem: string;
  /** Host names and IP addresses in the certificate's subjectAltName. */
  names: string[];
}

export interface StoredClientKey {
  /** `KAAP.<uuid>` */
  id: string;
  certPem: string;
  /** ISO 8601 validity of the certificate. */
  notBefore: string;
  notAfter: string;
  /** The client key file's JSON text and the PKCS#12 password (test fixtures of the fake cloud). */
  json: string;
  password: string;
}

const DAY = 86_400_000;

async function rsaKeyPair(): Promise<{ publicKey: string; privateKey: string }> {
  return generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}

function serial(): string {
  // Positive (leading byte < 0x80), 16 bytes.
  const b = randomBytes(16);
  b[0] &= 0x7f;
  b[0] |= 0x01;
  return b.toString('hex');
}

function newCert(publicKeyPem: string, subjectCn: string, notBefore: Date, notAfter: Date): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKeyPem);
  cert.serialNumber = serial();
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([
    { name: 'commonName', value: subjectCn },
    { name: 'organizationName', value: 'kms-envelope emulator (test only)' },
  ]);
  return cert;
}

/** A new CA for one instance (RSA 2048, SHA-256, ten years). */
export async function newInstanceCa(instanceId: string, now = Date.now()): Promise<StoredCa> {
  const { publicKey, privateKey } = await rsaKeyPair();
  const cert = newCert(publicKey, `PrivateKmsCA_${instanceId}`, new Date(now - DAY), new Date(now + 3650 * DAY));
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: privateKey };
}

function issue(ca: StoredCa, cert: forge.pki.Certificate): string {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  cert.setIssuer(caCert.subject.attributes);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

const isIp = (s: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || s.includes(':');

/** The gateway's TLS certificate for the given host names / IP addresses (two years). */
export async function issueServerCert(ca: StoredCa, names: string[], now = Date.now()): Promise<StoredServerCert> {
  const { publicKey, privateKey } = await rsaKeyPair();
  const cert = newCert(publicKey, names[0] ?? 'localhost', new Date(now - DAY), new Date(now + 730 * DAY));
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((n) => (isIp(n) ? { type: 7, ip: n } : { type: 2, value: n })) },
  ]);
  return { certPem: issue(ca, cert), keyPem: privateKey, names: [...names] };
}

const ALNUM = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const randomPassword = () => Array.from({ length: 24 }, () => ALNUM[randomInt(ALNUM.length)]).join('');

export interface IssueOptions {
  /** Unix ms; default now − 1 day. */
  notBefore?: number;
  /** Unix ms; default five years from now (the console's default validity). */
  notAfter?: number;
  now?: number;
}

/** Issues a client key: RSA 2048 key + certificate from the CA, in a legacy-encrypted PKCS#12. */
export async function issueClientKey(ca: StoredCa, o: IssueOptions = {}): Promise<StoredClientKey> {
  const now = o.now ?? Date.now();
  const id = `KAAP.${randomUUID()}`;
  const { publicKey, privateKey } = await rsaKeyPair();
  // Certificates keep whole seconds.
  const notBefore = new Date(Math.floor((o.notBefore ?? now - DAY) / 1000) * 1000);
  const notAfter = new Date(Math.floor((o.notAfter ?? now + 5 * 365 * DAY) / 1000) * 1000);
  const cert = newCert(publicKey, id, notBefore, notAfter);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
  ]);
  const certPem = issue(ca, cert);
  const password = randomPassword();
  const p12 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(privateKey), [forge.pki.certificateFromPem(certPem)], password, {
    algorithm: '3des',
    friendlyName: id,
  });
  const der = Buffer.from(forge.asn1.toDer(p12).getBytes(), 'binary');
  const json = JSON.stringify({ KeyId: id, PrivateKeyData: der.toString('base64') });
  return { id, certPem, notBefore: notBefore.toISOString(), notAfter: notAfter.toISOString(), json, password };
}

/** A fresh instance id in the console's shape (`kst-hzz…`). */
export function newInstanceId(): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `kst-hzz${Array.from({ length: 17 }, () => chars[randomInt(chars.length)]).join('')}`;
}

/** A key id in the shape of an instance key (`key-hzz…`). */
export function newInstanceKeyId(): string {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return `key-hzz${Array.from({ length: 18 }, () => chars[randomInt(chars.length)]).join('')}`;
}

/**
 * The ClientKey of a KMS 3.0 instance (PROTOCOLS-alibaba-instance.md §3): the console's
 * `clientKey_<id>.json` holds `KeyId` (`KAAP.…`) and `PrivateKeyData`, the base64 of a
 * password-protected PKCS#12 archive with one RSA private key and its X.509 certificate; the
 * password comes separately (`clientKey_<id>_Password.txt`).
 *
 * PKCS#12 is read with node-forge (a well-kept pure-JS PKI library that reads the legacy
 * 3DES/RC2 + SHA-1-MAC archives the console issues; Node's crypto has no PKCS#12 reader). The
 * private key goes straight into a Node KeyObject; neither it nor the password is ever logged or
 * put into an error message.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { credentialsError, KmsEnvelopeError, usageError, type ErrorDetails } from '../../errors';

export interface ClientKey {
  /** `KAAP.…`, sent as x-kms-acccesskeyid. */
  id: string;
  privateKey: KeyObject;
  /** The certificate of the key (PEM), as the archive holds it. */
  certificatePem: string;
  /** ISO 8601 validity of the certificate. */
  notBefore: string;
  notAfter: string;
}

export interface ClientKeyInput {
  /** The JSON text of the client key file. */
  json: string;
  password: string;
  /** What to call it in messages: the file path or `profile <name>`. */
  source: string;
  details?: ErrorDetails;
}

type Forge = typeof import('node-forge');
let forgeP: Promise<Forge> | undefined;
const loadForge = () => (forgeP ??= import('node-forge').then((m) => ((m as { default?: Forge }).default ?? m) as Forge));

/** Reads the `KeyId` / `PrivateKeyData` pair of a client key file; throws a usage error naming `source`. */
export function parseClientKeyJson(json: string, source: string, details?: ErrorDetails): { id: string; pfx: Buffer } {
  const bad = (why: string) =>
    usageError(
      `${source} is not a KMS 3.0 client key file: ${why}.`,
      'Use the clientKey_<id>.json file the Alibaba Cloud KMS console downloads when you create a client key (Application Access → client key), unchanged.',
      details,
    );
  let v: unknown;
  try {
    v = JSON.parse(json.replace(/^\uFEFF/, ''));
  } catch {
    throw bad('it is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('it is not a JSON object');
  const o = v as Record<string, unknown>;
  if (typeof o.KeyId !== 'string' || !o.KeyId.trim()) throw bad('it has no "KeyId"');
  if (typeof o.PrivateKeyData !== 'string' || !o.PrivateKeyData.trim()) throw bad('it has no "PrivateKeyData"');
  const b64 = o.PrivateKeyData.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw bad('"PrivateKeyData" is not base64');
  return { id: o.KeyId.trim(), pfx: Buffer.from(b64, 'base64') };
}

/** Opens the PKCS#12 archive of a client key file with its password. */
export async function loadClientKey(input: ClientKeyInput): Promise<ClientKey> {
  const { id, pfx } = parseClientKeyJson(input.json, input.source, input.details);
  const forge = await loadForge();
  const damaged = (why: string, cause?: unknown) =>
    new KmsEnvelopeError('usage', `${input.source}: the private key archive of client key ${id} cannot be read (${why}).`, {
      hint: 'Download the client key again from the Alibaba Cloud KMS console, or create a new one, and use that file unchanged.',
      details: input.details,
      cause,
    });
  let p12: import('node-forge').pkcs12.Pkcs12Pfx;
  try {
    const asn1 = forge.asn1.fromDer(forge.util.createBuffer(pfx.toString('binary')));
    p12 = forge.pkcs12.pkcs12FromAsn1(asn1, false, input.password);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/MAC could not be verified|Invalid password/i.test(msg)) {
      throw credentialsError(
        `The password of client key ${id} (${input.source}) is wrong.`,
        `Give the password from the clientKey_${id}_Password.txt file the console downloaded with the key (it is not the AccessKey secret).`,
        { ...input.details, providerCode: 'ClientKeyPassword' },
      );
    }
    throw damaged(msg, err);
  }
  const keyBags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag })[forge.pki.oids.pkcs8ShroudedKeyBag] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag })[forge.pki.oids.keyBag] ?? []),
  ];
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag })[forge.pki.oids.certBag] ?? [];
  const key = keyBags.find((b) => b.key)?.key;
  // Without a MAC a wrong password shows up as an undecryptable key bag.
  if (!key) {
    throw credentialsError(
      `The private key of client key ${id} (${input.source}) could not be decrypted: the password is wrong or the archive holds no RSA key.`,
      `Give the password from clientKey_${id}_Password.txt; if it is right, download the client key again.`,
      { ...input.details, providerCode: 'ClientKeyPassword' },
    );
  }
  const cert = certBags.find((b) => b.cert)?.cert;
  if (!cert) throw damaged('it holds no certificate');
  const privateKey = createPrivateKey(forge.pki.privateKeyToPem(key));
  const certificatePem = forge.pki.certificateToPem(cert);
  const certKey = createPublicKey(forge.pki.publicKeyToPem(cert.publicKey));
  const ownKey = createPublicKey(privateKey);
  if (!certKey.export({ format: 'der', type: 'spki' }).equals(ownKey.export({ format: 'der', type: 'spki' }))) {
    throw damaged('its certificate does not belong to its private key');
  }
  return {
    id,
    privateKey,
    certificatePem,
    notBefore: cert.validity.notBefore.toISOString(),
    notAfter: cert.validity.notAfter.toISOString(),
  };
}

/** Refuses a client key outside its validity, before any request is signed with it. */
export function checkClientKeyValidity(k: ClientKey, source: string, now = Date.now(), details?: ErrorDetails): void {
  if (Date.parse(k.notAfter) < now) {
    throw credentialsError(
      `Client key ${k.id} (${source}) expired on ${k.notAfter}.`,
      'Create a new client key for the application access point in the Alibaba Cloud KMS console and put it into the profile (its key file and password).',
      { ...details, providerCode: 'ClientKeyExpired' },
    );
  }
  if (Date.parse(k.notBefore) > now + 5 * 60_000) {
    throw credentialsError(
      `Client key ${k.id} (${source}) is valid only from ${k.notBefore}.`,
      'Check the local clock (`date -u`), or wait until the key is valid.',
      { ...details, providerCode: 'ClientKeyNotYetValid' },
    );
  }
}

// The local provider: lifecycle and state rules, aliases, import/recovery, the deletion purge, the
// metadata file (never key material), wire compatibility with the stock raw-AES keyring, the opt-in
// key files, and concurrent writers. Key material in MemorySecretStore / FileSecretStore here; the
// real keychain is in local-keychain.test.ts.
import { describe, it, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fsp, readFileSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  EncryptedDataKey,
  NodeAlgorithmSuite,
  NodeDecryptionMaterial,
  NodeEncryptionMaterial,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  unwrapDataKey,
} from '@aws-crypto/client-node';
import { KmsEnvelopeError } from '../../src/core/errors';
import { LOCAL_KEYS_SERVICE, MemorySecretStore } from '../../src/core/secrets';
import {
  ciphertextFromEdk,
  edkFromCiphertext,
  FileSecretStore,
  LOCAL_ERROR_CODES,
  LocalKmsProvider,
  localSecretStore,
  METADATA_FILE,
  parseImport,
  serializeExport,
} from '../../src/core/kms/local/index';
import { createProvider } from '../../src/core/kms/registry';
import { openProvider, providerResolver } from '../../src/core/credentials/connect';
import { cliStep } from '../../src/cli/hints';

const SUITE = AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY;
const WRAP = RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING;
const DAY = 86_400_000;

async function rejectsKms(p: Promise<unknown>, check: (e: KmsEnvelopeError) => void): Promise<void> {
  const err = await p.then(
    () => assert.fail('expected the call to fail'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof KmsEnvelopeError, `expected a KmsEnvelopeError, got ${String(err)}`);
  check(err);
}

describe('local provider', () => {
  let dir: string;
  let secrets: MemorySecretStore;
  let clock: number;
  let p: LocalKmsProvider;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'kms-local-'));
    secrets = new MemorySecretStore();
    clock = Date.now();
    p = new LocalKmsProvider({ secretStore: secrets, configDir: dir, now: () => clock });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates keys with 32 bytes of material in the secret store, one region "local"', async () => {
    assert.deepEqual(await p.listRegions(), ['local']);
    const k = await p.createKey('local', { alias: 'team-key', description: 'for the team' });
    assert.match(k.keyId, /^local-[0-9a-f-]{36}$/);
    assert.equal(k.state, 'Enabled');
    assert.equal(k.alias, 'team-key');
    assert.equal(k.provider, 'local');
    assert.equal(k.region, 'local');
    const b64 = await secrets.get(LOCAL_KEYS_SERVICE, k.keyId);
    assert.equal(Buffer.from(b64!, 'base64').length, 32);
    const d = await p.describeKey('local', 'team-key');
    assert.equal(d.keyId, k.keyId);
    assert.equal(d.description, 'for the team');
    assert.equal((await p.describeKey('local', 'alias/team-key')).keyId, k.keyId, 'alias/ prefix accepted');
    const page = await p.listKeys('local');
    assert.deepEqual(
      page.keys.map((x) => x.keyId),
      [k.keyId],
    );
    assert.equal(page.nextToken, undefined);
  });

  it('refuses regions other than "local", naming the region and the keyref to use', async () => {
    await rejectsKms(p.describeKey('eu-west', 'x'), (e) => {
      assert.equal(e.kind, 'usage');
      assert.equal(e.details.region, 'eu-west');
      assert.match(e.hint ?? '', /local:local:x/);
    });
  });

  it('the metadata file holds ids, aliases and states but never key material', async () => {
    const a = await p.createKey('local', { alias: 'a' });
    const imported = randomBytes(32);
    const b = await p.importKey(imported, { alias: 'b', description: 'imported' });
    const text = readFileSync(path.join(dir, METADATA_FILE), 'utf8');
    const raw = readFileSync(path.join(dir, METADATA_FILE));
    assert.ok(text.includes(a.keyId) && text.includes(b.keyId));
    for (const id of [a.keyId, b.keyId]) {
      const m = Buffer.from((await secrets.get(LOCAL_KEYS_SERVICE, id))!, 'base64');
      for (const enc of ['base64', 'hex', 'base64url'] as const)
        assert.ok(!text.includes(m.toString(enc)), `material (${enc}) not in the file`);
      assert.ok(!raw.includes(m), 'raw material not in the file');
    }
    assert.equal(statSync(path.join(dir, METADATA_FILE)).mode & 0o777, 0o600);
  });

  it('aliases are validated and unique; setAlias moves only a free alias', async () => {
    for (const bad of ['', 'has space', 'x'.repeat(61), 'local-abc', 'ümlaut', 'a/b']) {
      if (bad === '') continue; // empty alias = no alias on create
      await rejectsKms(p.createKey('local', { alias: bad }), (e) => assert.equal(e.kind, 'usage'));
    }
    const k1 = await p.createKey('local', { alias: 'one' });
    const k2 = await p.createKey('local', { alias: 'two' });
    await rejectsKms(p.createKey('local', { alias: 'one' }), (e) => {
      assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.aliasExists);
      assert.match(e.message, /alias "one"/);
      assert.match(e.hint ?? '', /another alias/);
    });
    await rejectsKms(p.setAlias('local', k2.keyId, 'one'), (e) => assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.aliasExists));
    await p.setAlias('local', k1.keyId, 'uno');
    await p.setAlias('local', k2.keyId, 'one');
    assert.equal((await p.describeKey('local', 'one')).keyId, k2.keyId);
    assert.equal((await p.describeKey('local', 'uno')).keyId, k1.keyId);
    await rejectsKms(p.describeKey('local', 'two'), (e) => {
      assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.notFound);
      assert.match(e.message, /no local key "two"/);
      assert.match(e.hintIn(cliStep) ?? '', /keys list --provider local/);
    });
  });

  it('state rules: disabled and pending-deletion keys refuse every data-key operation, decrypt included', async () => {
    const k = await p.createKey('local', { alias: 'st' });
    const dk = await p.generateDataKey('local', 'st', { app: 'x' });
    await p.disableKey('local', 'st');
    for (const call of [
      () => p.generateDataKey('local', k.keyId, {}),
      () => p.encryptDataKey('local', k.keyId, randomBytes(32), {}),
      () => p.decryptDataKey('local', k.keyId, dk.ciphertext, { app: 'x' }),
      () => p.rawAesWrappingKey('local', 'st'),
    ]) {
      await rejectsKms(call(), (e) => {
        assert.equal(e.kind, 'provider');
        assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.disabled);
        assert.equal(e.details.keyId, k.keyId);
        assert.equal(e.details.region, 'local');
        assert.match(e.message, new RegExp(`${k.keyId} \\(st\\) in region local is disabled`));
        assert.ok(e.hintIn(cliStep)?.includes(`kms-envelope keys enable --provider local --key ${k.keyId}`), e.hintIn(cliStep));
      });
    }
    await rejectsKms(p.scheduleDeletion('local', k.keyId, 6), (e) => assert.equal(e.kind, 'usage'));
    await rejectsKms(p.scheduleDeletion('local', k.keyId, 31), (e) => assert.equal(e.kind, 'usage'));
    const { deletionDate } = await p.scheduleDeletion('local', k.keyId, 7);
    assert.equal(Date.parse(deletionDate!), clock + 7 * DAY);
    await rejectsKms(p.generateDataKey('local', k.keyId, {}), (e) => {
      assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.pendingDeletion);
      assert.match(e.hintIn(cliStep) ?? '', /cancel-deletion --provider local/);
    });
    await rejectsKms(p.enableKey('local', k.keyId), (e) => assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.pendingDeletion));
    await p.cancelDeletion('local', k.keyId);
    const d = await p.describeKey('local', k.keyId);
    assert.equal(d.state, 'Disabled');
    assert.equal(d.deletionDate, undefined);
    await rejectsKms(p.cancelDeletion('local', k.keyId), (e) => assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.notPendingDeletion));
    await p.enableKey('local', k.keyId);
    await rejectsKms(p.scheduleDeletion('local', k.keyId, 7), (e) => {
      assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.mustBeDisabled);
      assert.match(e.hint ?? '', /Disable it first/);
    });
    assert.deepEqual((await p.decryptDataKey('local', k.keyId, dk.ciphertext, { app: 'x' })).plaintext, dk.plaintext);
  });

  it('data keys bind the encryption context; tampering or another key fails as a format error', async () => {
    const k = await p.createKey('local');
    const other = await p.createKey('local');
    const dk = await p.generateDataKey('local', k.keyId, { b: '2', a: '1' });
    assert.deepEqual((await p.decryptDataKey('local', k.keyId, dk.ciphertext, { a: '1', b: '2' })).plaintext, dk.plaintext);
    const bad = Buffer.from(dk.ciphertext);
    bad[bad.length - 1] ^= 1;
    for (const [key, ct, ctx] of [
      [k.keyId, dk.ciphertext, { a: '1' }],
      [k.keyId, bad, { a: '1', b: '2' }],
      [other.keyId, dk.ciphertext, { a: '1', b: '2' }],
      [k.keyId, dk.ciphertext.subarray(0, 10), { a: '1', b: '2' }],
    ] as const) {
      await rejectsKms(p.decryptDataKey('local', key, ct, ctx), (e) => {
        assert.equal(e.kind, 'format');
        assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.invalidCiphertext);
        assert.equal(e.details.region, 'local');
      });
    }
  });

  it('paging: stable order, every key once', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 7; i++) {
      clock += 1000;
      ids.add((await p.createKey('local')).keyId);
    }
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await p.listKeys('local', { pageSize: 3, nextToken: token });
      assert.ok(page.keys.length <= 3);
      assert.equal(page.total, 7);
      seen.push(...page.keys.map((k) => k.keyId));
      token = page.nextToken;
      pages++;
    } while (token);
    assert.equal(pages, 3);
    assert.deepEqual(new Set(seen), ids);
    assert.equal(seen.length, 7);
  });

  it('purges keys whose deletion date has passed: metadata and key material', async () => {
    const keep = await p.createKey('local', { alias: 'keep' });
    const gone = await p.createKey('local', { alias: 'gone' });
    await p.disableKey('local', gone.keyId);
    await p.scheduleDeletion('local', gone.keyId, 7);
    clock += 6 * DAY;
    assert.equal((await p.listKeys('local')).keys.length, 2, 'still listed inside the window');
    assert.ok(await secrets.get(LOCAL_KEYS_SERVICE, gone.keyId));
    clock += 1 * DAY + 1000;
    const left = (await p.listKeys('local')).keys.map((k) => k.keyId);
    assert.deepEqual(left, [keep.keyId]);
    assert.equal(await secrets.get(LOCAL_KEYS_SERVICE, gone.keyId), undefined, 'material removed from the store');
    assert.ok(!readFileSync(path.join(dir, METADATA_FILE), 'utf8').includes(gone.keyId));
    // The alias is free again.
    await p.createKey('local', { alias: 'gone' });
  });

  it('import/recovery: the exported key imported on another machine opens blobs sealed before', async () => {
    const k = await p.createKey('local', { alias: 'team-key', description: 'shared' });
    const ctx = { purpose: 'recovery' };
    const dk = await p.generateDataKey('local', 'team-key', ctx);
    // A whole Encryption SDK message, sealed with the stock raw-AES keyring on machine A.
    const client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
    const a = await p.rawAesWrappingKey('local', 'team-key');
    const { result: blob } = await client.encrypt(
      new RawAesKeyringNode({
        keyName: a.keyName,
        keyNamespace: 'local',
        unencryptedMasterKey: new Uint8Array(a.material),
        wrappingSuite: WRAP,
      }),
      Buffer.from('old secret'),
      { encryptionContext: ctx, suiteId: SUITE },
    );
    a.material.fill(0);

    const { metadata, material } = await p.exportKey('local', 'team-key');
    const exported = serializeExport({
      keyId: metadata.keyId,
      alias: metadata.alias,
      description: metadata.description,
      createdAt: metadata.createdAt,
      material: material.toString('base64'),
    });
    material.fill(0);

    // Machine B: empty config dir, empty keychain.
    const dirB = mkdtempSync(path.join(os.tmpdir(), 'kms-local-b-'));
    try {
      const b = new LocalKmsProvider({ secretStore: new MemorySecretStore(), configDir: dirB });
      await rejectsKms(b.decryptDataKey('local', k.keyId, dk.ciphertext, ctx), (e) =>
        assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.notFound),
      );
      const parsed = parseImport(Buffer.from(exported), 'team-key.json');
      const imp = await b.importKey(parsed.material, { keyId: parsed.keyId, alias: parsed.alias, description: parsed.description });
      assert.equal(imp.keyId, k.keyId);
      assert.equal(imp.alias, 'team-key');
      assert.equal(imp.origin, 'EXTERNAL');
      assert.deepEqual((await b.decryptDataKey('local', 'team-key', dk.ciphertext, ctx)).plaintext, dk.plaintext);
      const w = await b.rawAesWrappingKey('local', k.keyId);
      const { plaintext } = await client.decrypt(
        new RawAesKeyringNode({
          keyName: w.keyName,
          keyNamespace: 'local',
          unencryptedMasterKey: new Uint8Array(w.material),
          wrappingSuite: WRAP,
        }),
        blob,
      );
      assert.equal(plaintext.toString(), 'old secret');
      // Importing the same id again is refused; different material under a stored id too.
      await rejectsKms(b.importKey(parsed.material, { keyId: parsed.keyId }), (e) =>
        assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.keyExists),
      );
      await rejectsKms(b.importKey(randomBytes(31)), (e) => assert.equal(e.kind, 'usage'));
      await rejectsKms(b.importKey(randomBytes(32), { keyId: 'not-local' }), (e) => assert.equal(e.kind, 'usage'));
    } finally {
      rmSync(dirB, { recursive: true, force: true });
    }
  });

  it('import re-attaches material still in the keychain after the metadata file was lost, and refuses different material', async () => {
    const k = await p.createKey('local', { alias: 'x' });
    const { material } = await p.exportKey('local', k.keyId);
    await fsp.rm(path.join(dir, METADATA_FILE));
    await rejectsKms(p.importKey(randomBytes(32), { keyId: k.keyId }), (e) => {
      assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.keyExists);
      assert.match(e.message, /Different key material/);
    });
    const again = await p.importKey(material, { keyId: k.keyId, alias: 'x' });
    assert.equal(again.keyId, k.keyId);
    assert.equal(again.state, 'Enabled');
  });

  it('missing key material is a clear error naming the key and how to import it', async () => {
    const k = await p.createKey('local', { alias: 'lost' });
    await secrets.delete(LOCAL_KEYS_SERVICE, k.keyId);
    await rejectsKms(p.generateDataKey('local', 'lost', {}), (e) => {
      assert.equal(e.details.providerCode, LOCAL_ERROR_CODES.materialMissing);
      assert.match(e.message, new RegExp(`${k.keyId} \\(lost\\) is missing in memory`));
      assert.match(e.hintIn(cliStep) ?? '', /keys import --provider local/);
    });
  });

  it('import accepts an export document, 32 raw bytes, base64 and hex; refuses anything else', () => {
    const m = randomBytes(32);
    m[0] = 0x00; // make sure the raw form is not printable
    assert.deepEqual(parseImport(m, 'raw').material, m);
    assert.deepEqual(parseImport(Buffer.from(m.toString('base64') + '\n'), 'b64').material, m);
    assert.deepEqual(parseImport(Buffer.from(m.toString('hex')), 'hex').material, m);
    const doc = parseImport(Buffer.from(serializeExport({ keyId: 'local-abc', material: m.toString('base64') })), 'doc');
    assert.equal(doc.keyId, 'local-abc');
    assert.deepEqual(doc.material, m);
    for (const bad of ['{"format":"other"}', '{not json', 'short', m.toString('base64').slice(4)]) {
      assert.throws(
        () => parseImport(Buffer.from(bad), 'bad.txt'),
        (e: unknown) => e instanceof KmsEnvelopeError && e.kind === 'usage' && /bad\.txt/.test(e.message),
      );
    }
  });

  it('concurrent writers (two provider instances, one config dir) lose no key', async () => {
    const q = new LocalKmsProvider({ secretStore: secrets, configDir: dir });
    const made = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? p : q).createKey('local', { alias: `c${i}` })));
    const listed = (await p.listKeys('local', { pageSize: 100 })).keys.map((k) => k.keyId);
    assert.deepEqual(new Set(listed), new Set(made.map((k) => k.keyId)));
  });

  it('an aborted signal fails fast', async () => {
    const ctl = new AbortController();
    ctl.abort();
    await assert.rejects(
      p.listKeys('local', { signal: ctl.signal }),
      (e: unknown) => e instanceof KmsEnvelopeError && e.kind === 'cancelled',
    );
  });
});

describe('local wire format = the stock RawAesKeyringNode', () => {
  const suite = new NodeAlgorithmSuite(SUITE);
  const ctxs: Array<Record<string, string>> = [{}, { a: '1' }, { zeta: 'z', alpha: 'a', Mid: 'm', ключ: 'значение' }];

  it('stock keyring wraps → local provider unwraps (through edk → ciphertext)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kms-wire-'));
    try {
      const secrets = new MemorySecretStore();
      const p = new LocalKmsProvider({ secretStore: secrets, configDir: dir });
      const k = await p.createKey('local');
      const { material } = await p.exportKey('local', k.keyId);
      const stock = new RawAesKeyringNode({
        keyName: k.keyId,
        keyNamespace: 'local',
        unencryptedMasterKey: new Uint8Array(material),
        wrappingSuite: WRAP,
      });
      for (const ctx of ctxs) {
        const em = await stock.onEncrypt(new NodeEncryptionMaterial(suite, ctx));
        const edk = em.encryptedDataKeys[0]!;
        assert.equal(edk.providerId, 'local');
        const { keyName, ciphertext } = ciphertextFromEdk(edk.rawInfo!, edk.encryptedDataKey);
        assert.equal(keyName, k.keyId);
        const { plaintext } = await p.decryptDataKey('local', keyName, ciphertext, ctx);
        assert.deepEqual(new Uint8Array(plaintext), new Uint8Array(unwrapDataKey(em.getUnencryptedDataKey())));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('local provider wraps → stock keyring unwraps (through ciphertext → edk)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kms-wire-'));
    try {
      const p = new LocalKmsProvider({ secretStore: new MemorySecretStore(), configDir: dir });
      const k = await p.createKey('local');
      const { material } = await p.exportKey('local', k.keyId);
      const stock = new RawAesKeyringNode({
        keyName: k.keyId,
        keyNamespace: 'local',
        unencryptedMasterKey: new Uint8Array(material),
        wrappingSuite: WRAP,
      });
      for (const ctx of ctxs) {
        const dk = await p.generateDataKey('local', k.keyId, ctx);
        const parts = edkFromCiphertext(dk.keyId, dk.ciphertext);
        const edk = new EncryptedDataKey({
          providerId: parts.providerId,
          providerInfo: parts.rawInfo.toString('latin1'),
          rawInfo: new Uint8Array(parts.rawInfo),
          encryptedDataKey: new Uint8Array(parts.encryptedDataKey),
        });
        const dm = await stock.onDecrypt(new NodeDecryptionMaterial(suite, ctx), [edk]);
        assert.ok(dm.hasValidKey(), `context ${JSON.stringify(ctx)}`);
        assert.deepEqual(new Uint8Array(unwrapDataKey(dm.getUnencryptedDataKey())), new Uint8Array(dk.plaintext));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('opt-in key files (KMS_ENVELOPE_KEY_FILE_DIR)', () => {
  it('one file per key, 0600 in a 0700 directory, atomic, listed and deleted; used only when the env var is set', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'kms-keyfiles-'));
    try {
      const keyDir = path.join(root, 'keys');
      const cfg = path.join(root, 'cfg');
      const env = { KMS_ENVELOPE_KEY_FILE_DIR: keyDir, KMS_ENVELOPE_CONFIG_DIR: cfg };
      const store = localSecretStore(env);
      assert.ok(store instanceof FileSecretStore);
      assert.match(store.description, /key files in .*keys/);
      assert.ok(!(localSecretStore({}) instanceof FileSecretStore), 'keychain unless opted in');

      const p = (await createProvider('local', { env })) as LocalKmsProvider;
      assert.equal(p.materialLocation, store.description);
      const k = await p.createKey('local', { alias: 'srv' });
      const file = path.join(keyDir, LOCAL_KEYS_SERVICE, `${k.keyId}.key`);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(keyDir).mode & 0o777, 0o700);
      assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
      assert.equal(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64').length, 32);
      assert.deepEqual(await store.list(LOCAL_KEYS_SERVICE), [k.keyId]);
      assert.deepEqual(
        (await fsp.readdir(path.dirname(file))).filter((n) => n.endsWith('.tmp')),
        [],
        'no temp files left',
      );
      const dk = await p.generateDataKey('local', 'srv', {});
      assert.deepEqual((await p.decryptDataKey('local', 'srv', dk.ciphertext, {})).plaintext, dk.plaintext);
      assert.ok(!readFileSync(path.join(cfg, METADATA_FILE), 'utf8').includes(readFileSync(file, 'utf8').trim()));
      assert.equal(await store.delete(LOCAL_KEYS_SERVICE, k.keyId), true);
      assert.equal(await store.delete(LOCAL_KEYS_SERVICE, k.keyId), false);
      await assert.rejects(store.get(LOCAL_KEYS_SERVICE, '../escape'), (e: unknown) => e instanceof KmsEnvelopeError && e.kind === 'usage');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('registry', () => {
  it('builds local, refuses unknown builds clearly, and the resolver caches one instance per provider', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'kms-reg-'));
    try {
      const opts = { secretStore: new MemorySecretStore(), env: { KMS_ENVELOPE_CONFIG_DIR: dir } };
      const local = await createProvider('local', opts);
      assert.equal(local.name, 'local');
      const noService = () => assert.fail('a provider without credentials needs no credentials service');
      const resolve = providerResolver((name) => openProvider(noService, name, opts));
      const a = await resolve('local', 'local');
      assert.equal(a, await resolve('local', 'local'));
      assert.equal(await resolve('nonesuch', 'x'), undefined);
      await assert.rejects(
        createProvider('nonesuch', opts),
        (e: unknown) => e instanceof KmsEnvelopeError && e.kind === 'provider' && /nonesuch/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

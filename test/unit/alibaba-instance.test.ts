// The Alibaba Cloud KMS 3.0 instance-gateway client's low-level pieces, pinned to the fact sheet
// (PROTOCOLS-alibaba-instance.md): request signing against its two worked examples, the protobuf
// bodies, the EncryptionContext → Aad rule and the ciphertext layouts of the transfer mapping, and
// the PKCS#12 client key (the emulator issues it; OpenSSL reads it too).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { KmsEnvelopeError } from '../../src/core/errors';
import { checkClientKeyValidity, loadClientKey, parseClientKeyJson } from '../../src/core/kms/alibaba-instance/client-key';
import { parseCaPem, parseInstanceEndpoint } from '../../src/core/kms/alibaba-instance/client';
import { decodeError, decodeResponse, encodeRequest } from '../../src/core/kms/alibaba-instance/proto';
import { contentSha256, signedHeaders, stringToSign } from '../../src/core/kms/alibaba-instance/signing';
import { advanceToKms1, encryptionContextAad, splitKms1Blob } from '../../src/core/kms/alibaba-instance/transfer';
import { issueClientKey, newInstanceCa } from '../../src/emulator/instance-pki';

/** The throw-away test key of the sheet's worked examples (PKCS#8). */
const SHEET_KEY = createPrivateKey(
  [
    '-----BEGIN PRIVATE KEY-----',
    'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDmwAX9t2yBnWju',
    'GhiYc4v5RUpDbrb6id+hAV6NS1QJjLzQEkNHPO6AreiWxRIk4zoshZwa7Iu8Kuwf',
    'O1vYrl6m7PbnOUZo0L69VKNF79Om9jpHtKr4D8HuJWkj1U3EZwEfW/TZS4SSvVSt',
    'XGWtcsMGu8ZWn0Ycrxi+JL8mEuCMeoxQ2hwoy7NWjRuivQokrXir9MsrSazaB71J',
    '6hMIXBj7pjb6OggZC3rDHRLK5KxNh82OuNP/8maCj2X8cXXunjAC9Aox2aiGTzNG',
    'tqgq9kt77kQxjj/qzUsNNM2YvGs2V0tVDNp1+mtZAmbwNFOuGwZJHQXh9XpLQwJM',
    '8XL9rSVRAgMBAAECggEAOac3t/041Ke2PGtzwr939SedVvzWJgIFyG4VqDrue9ZY',
    'pKozehycwLTy/JyvnFzTv6UAbG+2uCSHS4RiveBPUOi7Bem3EGA7kAWSJ9q0qK4z',
    'wI/A+erB+xUI0IWugQh1bNbmddZbAOjiO9BurSgT115aP3FbLLaI+ZUn10T3KtHI',
    'QeqiDhw3ffU0MhYJFfGMVVnTcYgNoKE5SHyfwVeJFr+cIeoGWM6IqyRUG53aEq90',
    'O7bMd3TL44Jd90kEfvH84R/qNoVTRIjurOU7owR1QI1ZfGZ1PGF12bT3omTHc8zD',
    'JzneLCSpfvKPtTq+UXJz5fv3xlx4QPdDqk14AvlDywKBgQD0FgCzFgaLn/fTDwRN',
    'at8ewtGy39JVp4CuOKfnTeCH4DwLmnf4fKjASFnbTgs8hjnJEnvXu04a7jClJ1jR',
    'Fzk1ThBQ3xUzWiRlZp3chjIsmVle2lnB4p9MZ3jzlOcoTTyGwNYEmY09yf+0hFAW',
    'SIA2ghMPDSHx9c+Wd92x6+nphwKBgQDyA2GdZ5CngtrSSQC4uUu9ak+hum/Tcj0c',
    'cGaqLWN1zjnqsA9aCht+ARUqpyng9fTVkpotYOlwdp9Qg9ClB5IyHqo/cO7ITRDj',
    'L/MD6B29HAcEIMajLlbfynwJLWPGrlkwCDX4I3hiqnSKstT28GJUAutjQZqzcBtO',
    'OmpCpzpQZwKBgCyKQ1BqqYEbDMcHy3oxEUv0sv1YGHKm4TVpg0ITFPDWez6GznOa',
    'k9San0MEh8pgl/TYGZ8xP7xsUJYiivOEsFzIxPNs8dpwDYovYokWN9uplARaBdz6',
    'dKUlkI2qU1AoX+4bDDLErmBjFvUi29ZlHnhT3hR2Cga0G1BSyTKpYQLLAoGAfTX4',
    'pAp4EeKmuhNhFzFvGUHOj1s5DgnVykfxJeyzv7iByIVse+Ys0SVYQSgZh7VZBcKC',
    'mCXCwRfuVybLpQZkwh+Rb59LO0B8Ez60mXnXIQdGLgGTI8wO0FwfjlP4gkukAzDM',
    'U2RunYWZJEVf358BEHwuMr03f8zpo7CfV3rTtdMCgYEA0ume75osLw4vCdCWfBTW',
    'TI/wcfA1Ze8N5Jpij81yO9gJ9qXx4II3EnZH9z+6E5woUifG+wQ/eKSQdR3Z7Agr',
    'GgwO71D6OB+8LDgft6qTGFgf/7BBacb2i72XGX7Kn3g5PYpCtNsi3CPWbFNoB5Po',
    '3NYE1zBReL2ofT5yGAEPTzs=',
    '-----END PRIVATE KEY-----',
  ].join('\n'),
);
const SHEET_CLIENT_KEY_ID = 'KAAP.66abf237-63f6-4625-b8cf-47e1086e0001';

describe("instance gateway signing (the sheet's worked examples)", () => {
  it('example 1, Encrypt: body, content-sha256, string to sign, signature', () => {
    const body = encodeRequest('Encrypt', { KeyId: 'key-hzz62f1cb66fa42qo3aqf', Plaintext: Buffer.from('hello') });
    assert.equal(body.toString('hex'), '0a196b65792d687a7a363266316362363666613432716f33617166120568656c6c6f');
    assert.equal(contentSha256(body), '38B1A8F0B50054D42BAF77DE5B3C5059ECD08649A2A9A100822C18438218D993');
    const h = signedHeaders({
      apiName: 'Encrypt',
      body,
      clientKeyId: SHEET_CLIENT_KEY_ID,
      privateKey: SHEET_KEY,
      date: 'Mon, 01 Jan 2024 00:00:00 GMT',
    });
    const sts = stringToSign('POST', h);
    assert.equal(
      sts,
      [
        'POST',
        '38B1A8F0B50054D42BAF77DE5B3C5059ECD08649A2A9A100822C18438218D993',
        'application/x-protobuf',
        'Mon, 01 Jan 2024 00:00:00 GMT',
        `x-kms-acccesskeyid:${SHEET_CLIENT_KEY_ID}`,
        'x-kms-apiname:Encrypt',
        'x-kms-apiversion:dkms-gcs-0.2',
        'x-kms-signaturemethod:RSA_PKCS1_SHA_256',
        '/',
      ].join('\n'),
    );
    assert.equal(createHash('sha256').update(sts).digest('hex'), '35a8042799e70533d80cc55636eb593a6117ccb92a6381166cc6b64a51ef5f35');
    assert.equal(
      h.authorization,
      'Bearer KHQXFmTs1jJhjvvfYn4e5TMPH35ngXbCOZrctge8EYkY85xdrcxpRbOa1AKtVyFljvYtPBq1pO3bnZhITuJpRUkY8a4pNGHicoJdlKz8WdtWvYHSVJwBjch2ZLFvzqItstMD6ZRZEj84u23toqY/QXwHRnK9VfaL7f7yjqhtalcKo0Vsqnauuy7Gh4TRDNYlkSGie0Sw/tgvUwRrU94mnHxYlyzRIQ2spAbvnxOFFMsucxOi3a7nlkpC07J0TUbzLIm9hJFv+B6X/EO/mzoW5xaCTvtrKfzt99Kl9hJioVmY2YPI5Hgi9r3J7P8JiZx3PmsJCYd1BZ+fHfnWNoXwxw==',
    );
    assert.equal(h['x-kms-acccesskeyid'], SHEET_CLIENT_KEY_ID, 'the header name has three c');
  });

  it('example 2, low-version Decrypt: an extra x-kms- header is signed in sort order', () => {
    const body = encodeRequest('Decrypt', {
      CiphertextBlob: Buffer.from('00112233445566778899aabbccddeeff0011', 'hex'),
      Iv: Buffer.from('000102030405060708090a0b', 'hex'),
    });
    assert.equal(body.toString('hex'), '0a1200112233445566778899aabbccddeeff00112a0c000102030405060708090a0b');
    const h = signedHeaders({
      apiName: 'Decrypt',
      body,
      clientKeyId: SHEET_CLIENT_KEY_ID,
      privateKey: SHEET_KEY,
      date: 'Tue, 02 Jan 2024 03:04:05 GMT',
      extra: { 'x-kms-migrationkeyversionid': '2ab1a983-7072-4bbc-a582-584b5bd8b1e0' },
    });
    assert.equal(h['content-sha256'], '57EF67D69DFF7742B5C6956D4CB50E1CB659B0597A4ED21EC1E945558AD98DD2');
    assert.match(
      stringToSign('POST', h),
      /x-kms-apiversion:dkms-gcs-0\.2\nx-kms-migrationkeyversionid:2ab1a983-7072-4bbc-a582-584b5bd8b1e0\nx-kms-signaturemethod/,
    );
    assert.equal(
      h.authorization,
      'Bearer LXEQ4+EduPV50rH6PF8juhk0c7agYuvrys+F8GBjm29uPHDycNcKZxF6D9b4mCwF2hjcRmojH2siAtDlrnHkh63FUj8cfc627bzAOHND/IsjRWmXxYEYITJSD+nNMNhD969ECZFxSNl0njc6pobMPIHiP0/QXqemPD/V+EmbeNk9KpPsuN8HS5moGbJl/9UwjDYEZ/jWq/N4VY2re/LyuXvEeKRJHlfpv0Tw1+2emALeMVNhIHyRrUlhzdth1FxF6jMQuh87P4a4JxuUohcTJ3gjYdz08KcIDtDvoqWPu//HjvTcoEqR2jpcmsnlkJup+oYM+Y3ehhU5MZx6oXqEFA==',
    );
  });

  it('an all-default request is an empty body with the SHA-256 of nothing', () => {
    const body = encodeRequest('Encrypt', { KeyId: '', Plaintext: Buffer.alloc(0), Aad: undefined });
    assert.equal(body.length, 0);
    assert.equal(contentSha256(body), 'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855');
  });
});

describe('instance gateway protobuf bodies', () => {
  it('decodes answers with absent fields as defaults and bytes as Buffers', () => {
    const enc = encodeRequest('AdvanceEncrypt', { KeyId: 'k', Plaintext: Buffer.from('p') });
    // A request and its answer share field numbers 1 (KeyId) and 2 (bytes): decode as the answer.
    const r = decodeResponse('AdvanceEncrypt', enc);
    assert.equal(r.KeyId, 'k');
    assert.ok(Buffer.isBuffer(r.CiphertextBlob));
    assert.equal(r.CiphertextBlob.toString(), 'p');
    assert.equal(r.KeyVersionId, '');
    assert.equal(r.RequestId, '');
  });
  it('reads protobuf Error bodies, and says so when an error body is not one', () => {
    // StatusCode 429, ErrorCode "Rejected.Throttling", ErrorMessage "QPS Limit Exceeded" (bytes written out by hand).
    const raw = Buffer.from('08ad03121352656a65637465642e5468726f74746c696e671a12515053204c696d6974204578636565646564', 'hex');
    const e = decodeError(raw);
    assert.deepEqual(e, { StatusCode: 429, ErrorCode: 'Rejected.Throttling', ErrorMessage: 'QPS Limit Exceeded', RequestId: '' });
    assert.equal(decodeError(Buffer.from('{"Code":"Throttling"}')), undefined, 'a JSON error body is not a protobuf Error');
    assert.equal(decodeError(Buffer.alloc(0)), undefined);
  });
});

describe('transfer mapping: EncryptionContext → Aad, ciphertext layouts', () => {
  it('no or empty context → no Aad; else SHA-256 of k=v&… with keys in byte order', () => {
    assert.equal(encryptionContextAad(undefined), undefined);
    assert.equal(encryptionContextAad({}), undefined);
    assert.equal(
      encryptionContextAad({ b: '2', a: '1' })?.toString('hex'),
      '8e85be58c1c372ac29fe7bfa80d8ddcbd04a4032c7b51c1c026d67c55b1ab23f',
    );
    // "B" (0x42) sorts before "a" (0x61) in byte order.
    assert.equal(
      encryptionContextAad({ a: '1', b: '2', B: 'x' })?.toString('hex'),
      'a1852382a861af2a13a3c464000bfedd32e97a467d3eda50acac3619b0468349',
    );
  });
  it('advance blob ↔ KMS 1.0 blob', () => {
    const version = '2ab1a983-7072-4bbc-a582-584b5bd8b1e0';
    const iv = Buffer.alloc(12, 7);
    const ct = Buffer.alloc(40, 9);
    const advance = Buffer.concat([Buffer.from([0x24, 0x00, 0x02]), Buffer.from(version), iv, ct]);
    const kms1 = advanceToKms1(advance)!;
    assert.equal(kms1.subarray(0, 36).toString(), version);
    const split = splitKms1Blob(kms1)!;
    assert.equal(split.keyVersionId, version);
    assert.deepEqual(split.iv, iv);
    assert.deepEqual(split.advance, advance);
    assert.equal(advanceToKms1(Buffer.concat([Buffer.from([0x25]), advance.subarray(1)])), undefined, 'wrong magic');
    assert.equal(splitKms1Blob(kms1.subarray(0, 63)), undefined, 'too short for version + IV + tag');
    assert.equal(splitKms1Blob(Buffer.concat([Buffer.from('x'.repeat(35) + '!'), iv, ct])), undefined, 'no key version id');
  });
});

describe('endpoint and CA parsing', () => {
  it('takes https URLs and host[:port], refuses http and paths', () => {
    const e = parseInstanceEndpoint('kst-hzz65f1abc.cryptoservice.kms.aliyuncs.com');
    assert.deepEqual(e, {
      url: 'https://kst-hzz65f1abc.cryptoservice.kms.aliyuncs.com',
      hostname: 'kst-hzz65f1abc.cryptoservice.kms.aliyuncs.com',
      port: 443,
      instanceId: 'kst-hzz65f1abc',
    });
    assert.equal(parseInstanceEndpoint('https://127.0.0.1:8443').port, 8443);
    assert.throws(() => parseInstanceEndpoint('http://127.0.0.1:8443'), /HTTPS only/);
    assert.throws(() => parseInstanceEndpoint('https://h/x'), /host only/);
  });
  it('a CA file must hold a readable certificate', async () => {
    const ca = await newInstanceCa('kst-hzztest');
    assert.equal(parseCaPem(ca.certPem, 'ca.pem').length, 1);
    assert.throws(
      () => parseCaPem('hello', 'ca.pem'),
      (e: unknown) => e instanceof KmsEnvelopeError && /ca\.pem holds no PEM certificate/.test(e.message),
    );
    assert.throws(() => parseCaPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', 'ca.pem'), /cannot be read/);
  });
});

describe("client key files (PKCS#12 in the console's JSON form)", () => {
  const issued = (async () => {
    const ca = await newInstanceCa('kst-hzztest');
    return { ca, key: await issueClientKey(ca) };
  })();

  it('loads with its password: id, a working RSA key, the certificate and its validity', async () => {
    const { key } = await issued;
    const ck = await loadClientKey({ json: key.json, password: key.password, source: 'clientKey.json' });
    assert.equal(ck.id, key.id);
    assert.match(ck.id, /^KAAP\.[0-9a-f-]{36}$/);
    assert.equal(ck.privateKey.asymmetricKeyType, 'rsa');
    assert.equal(ck.privateKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(ck.notAfter, key.notAfter);
    assert.match(ck.certificatePem, /BEGIN CERTIFICATE/);
    checkClientKeyValidity(ck, 'clientKey.json');
  });

  it('is a standard legacy PKCS#12: OpenSSL reads it, certificate bag first, 3DES key bag, SHA-1 MAC', async (t) => {
    const { key } = await issued;
    const pfx = parseClientKeyJson(key.json, 'x').pfx;
    assert.doesNotThrow(() => createSecureContext({ pfx, passphrase: key.password }), "Node's TLS (OpenSSL) opens it");
    assert.throws(() => createSecureContext({ pfx, passphrase: 'wrong' }));
    const probe = spawnSync('openssl', ['version'], { encoding: 'utf8' });
    if (probe.status !== 0) return t.skip('the openssl command is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'kms-p12-'));
    try {
      writeFileSync(join(dir, 'k.p12'), pfx);
      writeFileSync(join(dir, 'pw'), key.password);
      const r = spawnSync(
        'openssl',
        ['pkcs12', '-info', '-nokeys', '-noout', '-in', join(dir, 'k.p12'), '-passin', `file:${join(dir, 'pw')}`],
        {
          encoding: 'utf8',
        },
      );
      const out = r.stdout + r.stderr;
      assert.equal(r.status, 0, out);
      assert.match(out, /MAC: sha1/);
      assert.match(out, /Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC/);
      assert.ok(out.indexOf('Certificate bag') < out.indexOf('Shrouded Keybag'), 'certificate bag before the key bag (Go SDK order)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a wrong password is named as such (credentials), never echoed', async () => {
    const { key } = await issued;
    await assert.rejects(
      loadClientKey({ json: key.json, password: 'not-the-password', source: 'clientKey.json' }),
      (e: unknown) =>
        e instanceof KmsEnvelopeError &&
        e.kind === 'credentials' &&
        /password of client key KAAP\.[^ ]+ \(clientKey\.json\) is wrong/.test(e.message) &&
        /_Password\.txt/.test(e.hint ?? '') &&
        !e.message.includes('not-the-password'),
    );
  });

  it('a file that is not a client key is a usage error naming the file', () => {
    for (const [text, why] of [
      ['nope', /not JSON/],
      ['[]', /not a JSON object/],
      ['{"PrivateKeyData":"AAAA"}', /no "KeyId"/],
      ['{"KeyId":"KAAP.x"}', /no "PrivateKeyData"/],
      ['{"KeyId":"KAAP.x","PrivateKeyData":"*"}', /not base64/],
    ] as const) {
      assert.throws(
        () => parseClientKeyJson(text, 'k.json'),
        (e: unknown) =>
          e instanceof KmsEnvelopeError &&
          e.kind === 'usage' &&
          /^k\.json is not a KMS 3\.0 client key file/.test(e.message) &&
          why.test(e.message),
      );
    }
  });

  it('an expired client key is refused before any request, with what to do', async () => {
    const { ca } = await issued;
    const old = await issueClientKey(ca, { notBefore: Date.now() - 10 * 86_400_000, notAfter: Date.now() - 86_400_000 });
    const ck = await loadClientKey({ json: old.json, password: old.password, source: 'old.json' });
    assert.throws(
      () => checkClientKeyValidity(ck, 'old.json'),
      (e: unknown) =>
        e instanceof KmsEnvelopeError &&
        e.kind === 'credentials' &&
        /expired on/.test(e.message) &&
        /Create a new client key/.test(e.hint ?? ''),
    );
  });
});

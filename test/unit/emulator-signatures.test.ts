// Pins the emulator's signature functions to every test vector in PROTOCOLS.md
// (Tencent TC3 vectors A and B, Alibaba V2 HMAC-SHA1 and V3 ACS3-HMAC-SHA256).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  acs3CanonicalRequest,
  acs3Signature,
  acsPercentEncode,
  acsV2Signature,
  parseAcs3Authorization,
  parseTc3Authorization,
  sha256Hex,
  signaturesEqual,
  tc3CanonicalRequest,
  tc3Signature,
  tc3StringToSign,
  type Tc3Input,
} from '../../src/emulator/signatures';

const tencentBody = '{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}';

function tencentInput(secretKey: string, signedHeaders: string[]): Tc3Input {
  return {
    method: 'POST',
    path: '/',
    query: '',
    headers: { 'content-type': 'application/json; charset=utf-8', host: 'cvm.tencentcloudapi.com', 'x-tc-action': 'DescribeInstances' },
    signedHeaders,
    body: tencentBody,
    timestamp: 1551113065,
    service: 'cvm',
    secretKey,
  };
}

describe('Tencent TC3-HMAC-SHA256 (PROTOCOLS.md vectors)', () => {
  it('vector A: payload hash, canonical request hash, scope and signature', () => {
    assert.equal(tencentBody.includes('\\u672a'), true, 'the \\u escapes are literal in the body');
    assert.equal(sha256Hex(tencentBody), '35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064');
    const i = tencentInput('*'.repeat(32), ['content-type', 'host', 'x-tc-action']);
    assert.equal(sha256Hex(tc3CanonicalRequest(i)), '7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84');
    assert.match(tc3StringToSign(i), /\n2019-02-25\/cvm\/tc3_request\n/);
    assert.equal(tc3Signature(i), '10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f');
  });

  it('vector B: signed headers content-type;host', () => {
    const i = tencentInput('Gu5t9xGARNpq86cd98joQYCN3EXAMPLE', ['content-type', 'host']);
    assert.equal(tc3Signature(i), '72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168');
  });

  it('one changed byte anywhere changes the signature', () => {
    const base = tencentInput('Gu5t9xGARNpq86cd98joQYCN3EXAMPLE', ['content-type', 'host']);
    const sig = tc3Signature(base);
    assert.notEqual(tc3Signature({ ...base, body: tencentBody.replace('1', '2') }), sig);
    assert.notEqual(tc3Signature({ ...base, timestamp: base.timestamp + 1 }), sig);
    assert.notEqual(tc3Signature({ ...base, service: 'kms' }), sig);
    assert.notEqual(tc3Signature({ ...base, headers: { ...base.headers, host: 'cvm.tencentcloudapi.co' } }), sig);
    assert.notEqual(tc3Signature({ ...base, secretKey: base.secretKey.replace('G', 'H') }), sig);
  });

  it('parses the Authorization header the SDK writes (comma + space)', () => {
    const a = parseTc3Authorization(
      'TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/127/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168',
    );
    assert.deepEqual(a, {
      secretId: 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE',
      date: '2019-02-25',
      service: '127',
      signedHeaders: ['content-type', 'host'],
      signature: '72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168',
    });
    assert.equal(parseTc3Authorization('TC3-HMAC-SHA256 Credential=x, Signature=y'), undefined);
    assert.equal(parseTc3Authorization(undefined), undefined);
  });
});

describe('Alibaba V2 HMAC-SHA1 (PROTOCOLS.md vector)', () => {
  const params = {
    AccessKeyId: 'testid',
    Action: 'DescribeDedicatedHosts',
    Format: 'JSON',
    RegionId: 'cn-beijing',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: 'edb2b34af0af9a6d14deaf7c1a5315eb',
    SignatureVersion: '1.0',
    Timestamp: '2023-03-13T08:34:30Z',
    Version: '2014-05-26',
  };
  it('signs the documented request', () => {
    assert.equal(acsV2Signature('GET', params, 'testsecret'), '9NaGiOspFP5UPcwX8Iwt2YJXXuk=');
  });
  it('ignores a Signature parameter, and any other change breaks it', () => {
    assert.equal(acsV2Signature('GET', { ...params, Signature: 'x' }, 'testsecret'), '9NaGiOspFP5UPcwX8Iwt2YJXXuk=');
    assert.notEqual(acsV2Signature('POST', params, 'testsecret'), '9NaGiOspFP5UPcwX8Iwt2YJXXuk=');
    assert.notEqual(acsV2Signature('GET', { ...params, RegionId: 'cn-beijinh' }, 'testsecret'), '9NaGiOspFP5UPcwX8Iwt2YJXXuk=');
    assert.notEqual(acsV2Signature('GET', params, 'testsecreT'), '9NaGiOspFP5UPcwX8Iwt2YJXXuk=');
  });
  it('percent-encodes canonically (trap 4)', () => {
    assert.equal(acsPercentEncode("a b*c!d'e(f)g~h/+="), 'a%20b%2Ac%21d%27e%28f%29g~h%2F%2B%3D');
    assert.equal(acsPercentEncode('中'), '%E4%B8%AD');
  });
});

describe('Alibaba V3 ACS3-HMAC-SHA256 (PROTOCOLS.md vector)', () => {
  const input = {
    method: 'POST',
    path: '/',
    query: { ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd', RegionId: 'cn-shanghai' },
    headers: {
      host: 'ecs.cn-shanghai.aliyuncs.com',
      'x-acs-action': 'RunInstances',
      'x-acs-version': '2014-05-26',
      'x-acs-date': '2023-10-26T10:22:32Z',
      'x-acs-signature-nonce': '3156853299f313e23d1673dc12e1703d',
      'x-acs-content-sha256': sha256Hex(''),
    },
    signedHeaders: ['host', 'x-acs-action', 'x-acs-content-sha256', 'x-acs-date', 'x-acs-signature-nonce', 'x-acs-version'],
    payloadHash: sha256Hex(''),
    secret: 'YourAccessKeySecret',
  };
  it('canonical request hash and signature', () => {
    assert.equal(sha256Hex(acs3CanonicalRequest(input)), '7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259');
    assert.equal(acs3Signature(input), '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0');
  });
  it('signed header order in the Authorization header does not matter; a changed header does', () => {
    assert.equal(
      acs3Signature({ ...input, signedHeaders: [...input.signedHeaders].reverse() }),
      '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    );
    assert.notEqual(
      acs3Signature({ ...input, headers: { ...input.headers, 'x-acs-date': '2023-10-26T10:22:33Z' } }),
      '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    );
    assert.notEqual(
      acs3Signature({ ...input, query: { ...input.query, RegionId: 'cn-shanghaj' } }),
      '06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    );
  });
  it('parses the Authorization header the SDK writes (no spaces)', () => {
    assert.deepEqual(
      parseAcs3Authorization('ACS3-HMAC-SHA256 Credential=LTAIabc,SignedHeaders=host;x-acs-action,Signature=' + 'a'.repeat(64)),
      {
        accessKeyId: 'LTAIabc',
        signedHeaders: ['host', 'x-acs-action'],
        signature: 'a'.repeat(64),
      },
    );
    assert.equal(parseAcs3Authorization('ACS3-HMAC-SM3 Credential=a,SignedHeaders=host,Signature=' + 'a'.repeat(64)), undefined);
  });
  it('signaturesEqual compares exactly', () => {
    assert.equal(signaturesEqual('abc', 'abc'), true);
    assert.equal(signaturesEqual('abc', 'abd'), false);
    assert.equal(signaturesEqual('abc', 'abcd'), false);
  });
});

// Pins the emulator's SigV4 verifier to PROTOCOLS-aws-kms.md §3: the worked example (canonical
// request, its hash, string to sign, signature) and AWS's get-vanilla suite vector.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '../../src/emulator/signatures';
import {
  formatAmzDate,
  parseAmzDate,
  parseSigV4Authorization,
  sigv4CanonicalQuery,
  sigv4CanonicalRequest,
  sigv4CanonicalUri,
  sigv4Signature,
  sigv4StringToSign,
  type SigV4Request,
} from '../../src/emulator/sigv4';

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const BODY = '{"KeyId":"alias/demo","Plaintext":"aGVsbG8=","EncryptionContext":{"purpose":"test"}}';
const SCOPE = { date: '20240101', region: 'us-east-1', service: 'kms' };

const worked = (): SigV4Request => ({
  method: 'POST',
  path: '/',
  query: '',
  headers: {
    'content-type': 'application/x-amz-json-1.1',
    host: '127.0.0.1:4566',
    'x-amz-date': '20240101T000000Z',
    'x-amz-security-token': 'FQoGZXIvYXdzEXAMPLETOKEN',
    'x-amz-target': 'TrentService.Encrypt',
  },
  // In the order of an Authorization header; the canonical request sorts them.
  signedHeaders: ['x-amz-target', 'content-type', 'host', 'x-amz-date', 'x-amz-security-token'],
  payloadHash: sha256Hex(BODY),
});

describe('SigV4 (PROTOCOLS-aws-kms.md worked example)', () => {
  it('body hash, canonical request, its hash, string to sign and signature', () => {
    assert.equal(sha256Hex(BODY), '44dd3219bf3e6a4016055949ca0dd938418dcc8c1c4a9457a6cb8f2c0d363119');
    const canonical = sigv4CanonicalRequest(worked());
    assert.equal(
      canonical,
      [
        'POST',
        '/',
        '',
        'content-type:application/x-amz-json-1.1',
        'host:127.0.0.1:4566',
        'x-amz-date:20240101T000000Z',
        'x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN',
        'x-amz-target:TrentService.Encrypt',
        '',
        'content-type;host;x-amz-date;x-amz-security-token;x-amz-target',
        '44dd3219bf3e6a4016055949ca0dd938418dcc8c1c4a9457a6cb8f2c0d363119',
      ].join('\n'),
    );
    assert.equal(sha256Hex(canonical), '96d90815ae3dacd92a700b99fa5239c14654cd40844ded2b3bee3a9febe1c193');
    assert.equal(
      sigv4StringToSign('20240101T000000Z', SCOPE, canonical),
      'AWS4-HMAC-SHA256\n20240101T000000Z\n20240101/us-east-1/kms/aws4_request\n96d90815ae3dacd92a700b99fa5239c14654cd40844ded2b3bee3a9febe1c193',
    );
    assert.equal(
      sigv4Signature(SECRET, '20240101T000000Z', SCOPE, worked()),
      '45adc7f885a2f768ab2765b29165a096fa46bd08a74cc326d2344b9076ec29f5',
    );
  });

  it("AWS's get-vanilla suite vector", () => {
    const r: SigV4Request = {
      method: 'GET',
      path: '/',
      query: '',
      headers: { host: 'example.amazonaws.com', 'x-amz-date': '20150830T123600Z' },
      signedHeaders: ['host', 'x-amz-date'],
      payloadHash: sha256Hex(''),
    };
    assert.equal(
      sigv4Signature(SECRET, '20150830T123600Z', { date: '20150830', region: 'us-east-1', service: 'service' }, r),
      '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
  });

  it('one changed byte anywhere changes the signature', () => {
    const sig = sigv4Signature(SECRET, '20240101T000000Z', SCOPE, worked());
    const changed: Array<[string, () => string]> = [
      [
        'body',
        () => sigv4Signature(SECRET, '20240101T000000Z', SCOPE, { ...worked(), payloadHash: sha256Hex(BODY.replace('demo', 'demp')) }),
      ],
      [
        'host port',
        () => sigv4Signature(SECRET, '20240101T000000Z', SCOPE, { ...worked(), headers: { ...worked().headers, host: '127.0.0.1:4567' } }),
      ],
      ['date', () => sigv4Signature(SECRET, '20240101T000001Z', SCOPE, worked())],
      ['region', () => sigv4Signature(SECRET, '20240101T000000Z', { ...SCOPE, region: 'us-east-2' }, worked())],
      ['service', () => sigv4Signature(SECRET, '20240101T000000Z', { ...SCOPE, service: 'kmt' }, worked())],
      ['secret', () => sigv4Signature(SECRET.replace('w', 'x'), '20240101T000000Z', SCOPE, worked())],
      [
        'signed header list',
        () => sigv4Signature(SECRET, '20240101T000000Z', SCOPE, { ...worked(), signedHeaders: ['host', 'x-amz-date'] }),
      ],
    ];
    for (const [label, f] of changed) assert.notEqual(f(), sig, label);
  });

  it('header values: blanks trimmed and runs collapsed; query sorted and re-encoded; path segments encoded', () => {
    const a = sigv4CanonicalRequest({ ...worked(), headers: { ...worked().headers, 'x-amz-target': '  TrentService.Encrypt  ' } });
    assert.equal(a, sigv4CanonicalRequest(worked()));
    const b = sigv4CanonicalRequest({ ...worked(), headers: { ...worked().headers, 'content-type': 'a   b\t c' } });
    assert.match(b, /\ncontent-type:a b c\n/);
    assert.equal(sigv4CanonicalQuery('b=2&a=1&a=0&c=x%20y&d=%7E*'), 'a=0&a=1&b=2&c=x%20y&d=~%2A');
    assert.equal(sigv4CanonicalQuery(''), '');
    assert.equal(sigv4CanonicalUri('/'), '/');
    assert.equal(sigv4CanonicalUri('/a b/%2F'), '/a%20b/%252F');
  });

  it('Authorization header: parsed, or a text naming what is missing', () => {
    const v =
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=45adc7f885a2f768ab2765b29165a096fa46bd08a74cc326d2344b9076ec29f5';
    assert.deepEqual(parseSigV4Authorization(v), {
      accessKeyId: 'AKIDEXAMPLE',
      date: '20240101',
      region: 'us-east-1',
      service: 'kms',
      terminator: 'aws4_request',
      signedHeaders: ['content-type', 'host', 'x-amz-date'],
      signature: '45adc7f885a2f768ab2765b29165a096fa46bd08a74cc326d2344b9076ec29f5',
    });
    assert.match(parseSigV4Authorization('AWS4-HMAC-SHA1 Credential=x') as string, /must start with/);
    assert.match(parseSigV4Authorization(v.replace(/, Signature=.*/, '')) as string, /'Signature'/);
    assert.match(parseSigV4Authorization(v.replace('/kms/aws4_request', '/kms')) as string, /5 slash-delimited/);
    assert.match(parseSigV4Authorization(v.replace('Signature=45', 'Signature=4')) as string, /64/);
  });

  it('X-Amz-Date', () => {
    assert.equal(parseAmzDate('20240101T000000Z'), Date.UTC(2024, 0, 1));
    assert.equal(formatAmzDate(Date.UTC(2024, 1, 29, 23, 59, 58, 999)), '20240229T235958Z');
    for (const bad of ['2024-01-01T00:00:00Z', '20240101T000000', '20240230T000000Z', '20240101T250000Z', ''])
      assert.equal(parseAmzDate(bad), undefined, bad);
  });
});

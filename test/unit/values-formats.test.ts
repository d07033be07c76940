// Format adapters of sealed config values: where each value is written (paths, raw text, the value as
// the format reads it), header entries added and removed as exact inverses, key paths and patterns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KmsEnvelopeError } from '../../src/core/errors';
import {
  applyEdits,
  envFromText,
  envValue,
  formatFromName,
  formatPath,
  matchesPathOrParent,
  parsePath,
  parsePathPattern,
  parseValues,
  type ValuesFormat,
} from '../../src/core/values';

const FIXTURES = join(__dirname, '..', 'fixtures', 'values');
const fixture = (name: string) => readFileSync(join(FIXTURES, name), 'utf8');
const slotsOf = (text: string, format: ValuesFormat) =>
  Object.fromEntries(parseValues(text, format, 'f').slots.map((s) => [s.pathText, { raw: s.raw, value: s.value }]));

test('YAML: every leaf value with its path, as written and as read; keys, comments and null values are not values', () => {
  const slots = slotsOf(fixture('app.yaml'), 'yaml');
  assert.deepEqual(Object.keys(slots), [
    'defaults.timeout',
    'defaults.api_key',
    'database.host',
    'database.port',
    'database.user',
    'database.password',
    'database.replicas[0]',
    'database.replicas[1]',
    'database.options.sslmode',
    'database.options.secret_token',
    'services[0].name',
    'services[0].token',
    'services[1].name',
    'services[1].token',
    'empty_secret',
    'note',
    'unicode_secret',
  ]);
  assert.deepEqual(slots['defaults.api_key'], { raw: "'ab''cd:ef#gh'", value: "ab'cd:ef#gh" });
  assert.deepEqual(slots['database.password'], { raw: '"p@ss: w\\"ord # not a comment"', value: 'p@ss: w"ord # not a comment' });
  assert.deepEqual(slots['database.port'], { raw: '5432', value: undefined });
  // Block scalars: the header and content lines, without the line break that ends them.
  assert.deepEqual(slots['services[1].token'], { raw: '|\n      literal\n        indented', value: 'literal\n  indented\n' });
  assert.deepEqual(slots['services[0].token'], { raw: '>-\n      folded token\n      on two lines', value: 'folded token on two lines' });
  assert.deepEqual(slots['empty_secret'], { raw: '""', value: '' });
});

test('YAML: aliases and merge keys make the anchored value reachable under their own paths', () => {
  const doc = parseValues(fixture('app.yaml'), 'yaml', 'app.yaml');
  const apiKey = doc.slots.find((s) => s.pathText === 'defaults.api_key')!;
  assert.deepEqual(apiKey.aliasPaths.map(formatPath), ['services[1].api_key']);
  const doc2 = parseValues('a: &pw secret\nb:\n  password: *pw\n', 'yaml', 'x');
  assert.deepEqual(
    doc2.slots.map((s) => [s.pathText, s.aliasPaths.map(formatPath)]),
    [['a', ['b.password']]],
  );
});

test('JSON and JSONC: values with escapes, numbers, booleans; null is not a value; comments and trailing commas allowed', () => {
  const json = slotsOf(fixture('app.json'), 'json');
  assert.deepEqual(Object.keys(json), [
    'name',
    'database.host',
    'database.port',
    'database.password',
    'database.ssl',
    'tokens[0]',
    'tokens[1]',
    'apiKey',
    'secretNumber',
    'nested.deep.privateKey',
  ]);
  assert.deepEqual(json['database.password'], { raw: '"p@ss\\"word\\u0021"', value: 'p@ss"word!' });
  assert.deepEqual(json['secretNumber'], { raw: '42', value: undefined });
  const jsonc = slotsOf(fixture('app.jsonc'), 'json');
  assert.deepEqual(Object.keys(jsonc), ['database.password', 'database.host', 'api_token']);
});

test('.env: values where dotenv reads them, quotes kept as written; envValue reads them as dotenv does', () => {
  const slots = slotsOf(fixture('app.env'), 'dotenv');
  // What dotenv 17's parse() returns for this fixture (checked against lib/main.js), less EMPTY_SECRET (no value to seal).
  assert.deepEqual(Object.fromEntries(Object.entries(slots).map(([k, v]) => [k, v.value])), {
    DB_HOST: 'db.internal',
    DB_PASSWORD: 'p@ss w#ord',
    API_TOKEN: 'single $quoted',
    SECRET_KEY: 'plain-value',
    MULTILINE_SECRET: 'line one\nline two',
    BACKTICK_TOKEN: 'back tick',
    INDENTED_PASSWORD: 'spaced value',
    LOG_LEVEL: 'keep',
  });
  assert.equal(slots['DB_PASSWORD']!.raw, '"p@ss w#ord"');
  assert.equal(slots['API_TOKEN']!.raw, "'single $quoted'");
  assert.equal(slots['INDENTED_PASSWORD']!.raw, 'spaced value');
  assert.equal(envValue('"a\\nb"'), 'a\nb');
  assert.equal(envValue("'a\\nb'"), 'a\\nb');
  // CRLF files: the value stops before the \r.
  const crlf = slotsOf('WINDOWS_PASSWORD=crlf-secret\r\nOTHER="q"\r\n', 'dotenv');
  assert.deepEqual(crlf, { WINDOWS_PASSWORD: { raw: 'crlf-secret', value: 'crlf-secret' }, OTHER: { raw: '"q"', value: 'q' } });
});

for (const [name, format] of [
  ['app.yaml', 'yaml'],
  ['app.json', 'json'],
  ['app.jsonc', 'json'],
  ['app.env', 'dotenv'],
] as const) {
  test(`${name}: adding a header entry and removing it again gives back the same bytes; the entry is found and is no value`, () => {
    const text = fixture(name);
    const doc = parseValues(text, format, name);
    const token = 'kmsenv:h1:AAAA';
    const withHeader = applyEdits(text, [doc.insertHeader(token)]);
    const again = parseValues(withHeader, format, name);
    assert.equal(again.header?.token, token);
    assert.equal(withHeader.slice(again.header!.start, again.header!.end), token);
    assert.deepEqual(
      again.slots.map((s) => s.pathText),
      doc.slots.map((s) => s.pathText),
    );
    assert.equal(applyEdits(withHeader, [again.header!.remove]), text);
  });
}

test('header entries: the variants of where a file ends or how an object starts are undone exactly', () => {
  const cases: Array<[string, ValuesFormat]> = [
    ['a: 1', 'yaml'],
    ['a: 1\n', 'yaml'],
    ['a: 1\r\nb: 2\r\n', 'yaml'],
    ['A=1', 'dotenv'],
    ['A=1\n\n', 'dotenv'],
    ['{"a":1}', 'json'],
    ['{ "a": 1 }', 'json'],
    ['{\n\t"a": 1 // c\n}', 'json'],
    ['// lead\n{ // after brace\n    "a": [1, 2],\n}\n', 'json'],
  ];
  for (const [text, format] of cases) {
    const doc = parseValues(text, format, 'x');
    const withHeader = applyEdits(text, [doc.insertHeader('kmsenv:h1:QUJD')]);
    const again = parseValues(withHeader, format, 'x');
    assert.equal(again.header?.token, 'kmsenv:h1:QUJD', JSON.stringify(withHeader));
    assert.equal(applyEdits(withHeader, [again.header!.remove]), text, JSON.stringify(withHeader));
  }
  // The JSON entry takes the first property's line break and indentation.
  const doc = parseValues('{\n    "a": 1\n}\n', 'json', 'x');
  assert.equal(
    applyEdits('{\n    "a": 1\n}\n', [doc.insertHeader('kmsenv:h1:QUJD')]),
    '{\n    "kms-envelope": "kmsenv:h1:QUJD",\n    "a": 1\n}\n',
  );
  // A header moved by hand is still removed (by jsonc-parser).
  const moved = '{\n  "a": 1,\n  "kms-envelope": "kmsenv:h1:QUJD"\n}';
  const m = parseValues(moved, 'json', 'x');
  assert.equal(JSON.parse(applyEdits(moved, [m.header!.remove])).a, 1);
  assert.equal(applyEdits(moved, [m.header!.remove]).includes('kms-envelope'), false);
});

test('files that cannot take a header, or are not valid, are refused with line and column', () => {
  const refuse = (text: string, format: ValuesFormat, re: RegExp, kind = 'usage') => {
    try {
      parseValues(text, format, 'f.' + format).insertHeader('kmsenv:h1:QUJD');
    } catch (err) {
      assert.ok(err instanceof KmsEnvelopeError, String(err));
      assert.equal(err.kind, kind, err.message);
      assert.match(err.message, re);
      assert.ok(err.hint);
      return;
    }
    assert.fail(`expected a refusal for ${JSON.stringify(text)}`);
  };
  refuse('- a\n- b\n', 'yaml', /block mapping/);
  refuse('{a: 1}\n', 'yaml', /block mapping/);
  refuse('a: 1\n---\nb: 2\n', 'yaml', /2 YAML documents/);
  refuse('a: 1\n...\n', 'yaml', /"\.\.\."/);
  refuse('a: [1\nb: 2\n', 'yaml', /^f\.yaml:\d+:\d+: not valid YAML/, 'format');
  refuse('[1, 2]', 'json', /an array/);
  refuse('{"a": 1,, }', 'json', /^f\.json:1:\d+: not valid JSON/, 'format');
  refuse('kms-envelope: 3\n', 'yaml', /reserved/, 'format');
});

test('key paths: canonical text, parse back, patterns with * and **', () => {
  assert.equal(formatPath(['database', 'password']), 'database.password');
  assert.equal(formatPath(['servers', 0, 'token']), 'servers[0].token');
  assert.equal(formatPath(['a.b', 'c d', '1x', '*', 'ok_key-2']), '["a.b"]["c d"]["1x"]["*"].ok_key-2');
  for (const p of ['database.password', 'servers[0].token', '["a.b"]["c d"].x[12]', '["quote\\"d"]'])
    assert.equal(formatPath(parsePath(p)), p);
  assert.throws(() => parsePath('a..b'), /expected a key/);
  assert.throws(() => parsePath('a[x]'), /neither an index/);
  const m = (pattern: string, path: string) => matchesPathOrParent(parsePathPattern(pattern), parsePath(path));
  assert.ok(m('database.password', 'database.password'));
  assert.ok(m('database', 'database.password'), 'a container pattern covers what is below it');
  assert.ok(!m('database.password', 'database'));
  assert.ok(m('services[*].token', 'services[3].token'));
  assert.ok(m('services[*].token', 'services.x.token'), '* matches a key as well as an index');
  assert.ok(m('**.password', 'a.b[2].password'));
  assert.ok(m('**.password', 'password'));
  assert.ok(!m('**.password', 'a.passwords'));
  assert.throws(
    () => parsePathPattern('a.[b'),
    (e: KmsEnvelopeError) => e.kind === 'usage' && /Bad key path pattern/.test(e.message),
  );
});

test('format from the file name', () => {
  assert.equal(formatFromName('config/values.yaml'), 'yaml');
  assert.equal(formatFromName('x.YML'), 'yaml');
  assert.equal(formatFromName('settings.jsonc'), 'json');
  assert.equal(formatFromName('.env'), 'dotenv');
  assert.equal(formatFromName('.env.production'), 'dotenv');
  assert.equal(formatFromName('app.env'), 'dotenv');
  assert.equal(formatFromName('README.md'), undefined);
  assert.equal(formatFromName('environment.txt'), undefined);
});

test('environment variables from a config text: .env as dotenv reads it, YAML/JSON top-level keys with numbers as written', () => {
  const env = envFromText(fixture('app.env'), 'dotenv', 'app.env');
  assert.equal(env.get('EMPTY_SECRET'), '');
  assert.equal(env.get('MULTILINE_SECRET'), 'line one\nline two');
  assert.equal(env.get('API_TOKEN'), 'single $quoted');
  const y = envFromText(
    'version: 1.10\nhex: 0x1F\nname: "a b"\nflag: true\nnothing:\nlist: [1, x]\nmap: {a: 1}\nkms-envelope: kmsenv:h1:AA\n',
    'yaml',
    'y.yaml',
  );
  assert.deepEqual(Object.fromEntries(y), {
    version: '1.10',
    hex: '0x1F',
    name: 'a b',
    flag: 'true',
    nothing: '',
    list: '[1,"x"]',
    map: '{"a":1}',
  });
  const j = envFromText(
    '{"kms-envelope": "kmsenv:h1:AA", "v": 1.10, "s": "x\\ny", "n": null, "o": {"a": [1]}, // c\n "b": false,}',
    'json',
    'j.json',
  );
  assert.deepEqual(Object.fromEntries(j), { v: '1.10', s: 'x\ny', n: '', o: '{"a":[1]}', b: 'false' });
  assert.throws(
    () => envFromText('"a=b": 1\n', 'yaml', 'bad.yaml'),
    (e: KmsEnvelopeError) => e.kind === 'usage' && /bad\.yaml: "a=b" cannot be an environment variable name/.test(e.message),
  );
  assert.throws(() => envFromText('- 1\n', 'yaml', 'seq.yaml'), /top level is not a mapping/);
});

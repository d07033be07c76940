// The policy file .kms-envelope.yaml: validation errors that name line, column and field; lookup upward
// from the file; rule matching relative to the policy's folder; which values a rule selects; and the
// JSON schema for editors agreeing with the validator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse as parseYaml } from 'yaml';
import { KmsEnvelopeError } from '../../src/core/errors';
import { POLICY_FILE, compileRegex, findPolicy, parsePolicy, parseValues, policyFor, ruleFor, ruleSelects } from '../../src/core/values';

const GOOD = `# team policy
version: 1
rules:
  - path: "config/*.yaml"          # glob, relative to the policy file's folder
    keys: [local:local:team, tencent:ap-guangzhou:alias-app]
    values: "(?i)(password|secret|token)"   # regex on the key name
  - pathRegex: "(?i)\\\\.env(\\\\..*)?$"
    keys: [alibaba:cn-hangzhou:alias/app]
    keyPaths: [DB_PASSWORD, API_TOKEN]
    context: { app: billing, tier: 2 }
  - path: "**/*.conf"
    description: every value of .conf files, read as dotenv
    keys: [local:local:team]
    all: true
    format: dotenv
`;

function refusal(text: string): KmsEnvelopeError {
  try {
    parsePolicy(text, '/repo/.kms-envelope.yaml');
  } catch (err) {
    assert.ok(err instanceof KmsEnvelopeError, String(err));
    assert.equal(err.kind, 'usage');
    assert.ok(err.hint, `a next step for: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be refused`);
}

test('a valid policy: rules with globs, regexes, keyrefs, key-name regex, key paths, all, context, format', () => {
  const p = parsePolicy(GOOD, '/repo/.kms-envelope.yaml');
  assert.equal(p.dir, '/repo');
  assert.equal(p.rules.length, 3);
  const [a, b, c] = p.rules;
  assert.deepEqual(a!.keys, ['local:local:team', 'tencent:ap-guangzhou:alias-app']);
  assert.equal(a!.line, 4);
  assert.ok(a!.values!.flags.includes('i'));
  assert.deepEqual(
    b!.keyPaths.map((k) => k.text),
    ['DB_PASSWORD', 'API_TOKEN'],
  );
  assert.deepEqual(b!.context, { app: 'billing', tier: '2' });
  assert.equal(c!.all, true);
  assert.equal(c!.format, 'dotenv');
});

test('rules match paths relative to the policy folder; the first match wins', () => {
  const p = parsePolicy(GOOD, '/repo/.kms-envelope.yaml');
  assert.equal(ruleFor(p, '/repo/config/app.yaml')?.index, 0);
  assert.equal(ruleFor(p, '/repo/config/deep/app.yaml'), undefined, '* does not cross folders');
  assert.equal(ruleFor(p, '/repo/deploy/.env.production')?.index, 1);
  assert.equal(ruleFor(p, '/repo/APP.ENV')?.index, 1);
  assert.equal(ruleFor(p, '/repo/a/b/x.conf')?.index, 2);
  assert.equal(ruleFor(p, '/elsewhere/config/app.yaml'), undefined, 'files outside the policy folder');
});

test('which values a rule selects: key names anywhere on the path, key paths (and below), all, aliases', () => {
  const p = parsePolicy(GOOD, '/repo/.kms-envelope.yaml');
  const doc = parseValues(
    'db:\n  password: x\n  host: h\nsecrets:\n  a: 1\ntokens: [t1, t2]\nplain: &p v\nsecret_ref: *p\n',
    'yaml',
    'x.yaml',
  );
  const chosen = (i: number) => doc.slots.filter((s) => ruleSelects(p.rules[i]!, s)).map((s) => s.pathText);
  assert.deepEqual(chosen(0), ['db.password', 'secrets.a', 'tokens[0]', 'tokens[1]', 'plain']);
  assert.deepEqual(
    chosen(2),
    doc.slots.map((s) => s.pathText),
  );
  const env = parseValues('DB_PASSWORD=a\nAPI_TOKEN=b\nOTHER_TOKEN=c\n', 'dotenv', '.env');
  assert.deepEqual(
    env.slots.filter((s) => ruleSelects(p.rules[1]!, s)).map((s) => s.pathText),
    ['DB_PASSWORD', 'API_TOKEN'],
  );
});

test('(?i), (?s), (?m) prefixes become JavaScript flags', () => {
  assert.ok(compileRegex('(?i)pass').test('PASSWORD'));
  assert.ok(!compileRegex('pass').test('PASSWORD'));
  assert.equal(compileRegex('(?is)a.b').flags, 'is');
});

test('every mistake is refused with file:line:col, the field and a next step', () => {
  const cases: Array<[string, RegExp]> = [
    ['rules: []\n', /:1:8: rules: expected a non-empty list/],
    ['version: 2\nrules: []\n', /:1:10: version: must be 1/],
    ['ruels:\n  - path: a\n', /:1:1: ruels: unknown field \(expected one of: version, rules\)/],
    ['rules:\n  - keys: [local:local:k]\n    values: x\n', /:2:5: rules\[0\]: give exactly one of path .* or pathRegex/],
    ['rules:\n  - path: a\n    pathRegex: b\n    keys: [local:local:k]\n    values: x\n', /:2:5: rules\[0\]: give exactly one/],
    ['rules:\n  - path: a\n    values: x\n', /:2:5: rules\[0\]\.keys: missing/],
    [
      'rules:\n  - path: a\n    keys: [local:local:k, "tencent:ap-guangzhou"]\n    values: x\n',
      /:3:27: rules\[0\]\.keys\[1\]: "tencent:ap-guangzhou" is not a keyref/,
    ],
    ['rules:\n  - path: a\n    keys: [nope:r:k]\n    values: x\n', /:3:12: rules\[0\]\.keys\[0\]: Unknown provider "nope"/],
    ['rules:\n  - path: a\n    keys: [local:local:k, local:local:k]\n    values: x\n', /rules\[0\]\.keys: lists local:local:k twice/],
    [
      'rules:\n  - path: a\n    keys: [local:local:k]\n    values: "(?i)(pass"\n',
      /:4:13: rules\[0\]\.values: not a valid regular expression/,
    ],
    ['rules:\n  - path: a\n    keys: [local:local:k]\n', /:2:5: rules\[0\]: say which values to seal/],
    [
      'rules:\n  - path: a\n    keys: [local:local:k]\n    all: true\n    values: x\n',
      /:4:5: rules\[0\]\.all: all: true seals every value/,
    ],
    ['rules:\n  - path: a\n    keys: [local:local:k]\n    all: yes\n', /:4:10: rules\[0\]\.all: expected true or false/],
    ['rules:\n  - path: a\n    keys: [local:local:k]\n    keyPaths: ["a..b"]\n', /:4:16: rules\[0\]\.keyPaths\[0\]: Bad key path pattern/],
    [
      'rules:\n  - path: a\n    keys: [local:local:k]\n    values: x\n    context: {kmsenv:path: a}\n',
      /rules\[0\]\.context\.kmsenv:path: keys starting with/,
    ],
    ['rules:\n  - path: a\n    keys: [local:local:k]\n    values: x\n    context: {aws-crypto-x: a}\n', /reserved/],
    [
      'rules:\n  - path: a\n    keys: [local:local:k]\n    values: x\n    format: toml\n',
      /:5:13: rules\[0\]\.format: expected one of yaml, json, dotenv/,
    ],
    ['rules:\n  - path: ../up/*.env\n    keys: [local:local:k]\n    values: x\n', /rules\[0\]\.path: must be relative/],
    ['rules:\n  - path: a\n    keys: [local:local:k]\n    valuez: x\n', /:4:5: rules\[0\]\.valuez: unknown field/],
    ['rules:\n  - path: [a\n', /:\d+:\d+: not valid YAML/],
    ['rules:\n  - path: a\n    keys: local:local:k\n    values: x\n', /rules\[0\]\.keys: expected a non-empty list of keyrefs/],
  ];
  for (const [text, re] of cases) {
    const err = refusal(text);
    assert.match(err.message, /^\/repo\/\.kms-envelope\.yaml/, err.message);
    assert.match(err.message, re);
  }
});

test('the policy is found upward from the file, whatever the working directory; policyFor explains what is missing', async () => {
  const root = mkdtempSync(join(tmpdir(), 'kmsenv-policy-'));
  try {
    mkdirSync(join(root, 'repo', 'config', 'deep'), { recursive: true });
    writeFileSync(join(root, 'repo', POLICY_FILE), GOOD);
    const p = await findPolicy(join(root, 'repo', 'config', 'deep', 'x.yaml'));
    assert.equal(p?.file, join(root, 'repo', POLICY_FILE));
    const { rule } = await policyFor(join(root, 'repo', 'config', 'app.yaml'));
    assert.equal(rule.index, 0);
    await assert.rejects(policyFor(join(root, 'repo', 'config', 'deep', 'x.yaml')), (e: KmsEnvelopeError) => {
      assert.match(e.message, /No rule in .*\.kms-envelope\.yaml matches config\/deep\/x\.yaml \(rules: config\/\*\.yaml, /);
      assert.match(e.hint!, /Add a rule whose path matches config\/deep\/x\.yaml/);
      return true;
    });
    const outside = join(root, 'other', 'x.yaml');
    mkdirSync(join(root, 'other'));
    if (!(await findPolicy(outside))) {
      await assert.rejects(
        policyFor(outside),
        (e: KmsEnvelopeError) => e.kind === 'usage' && /No \.kms-envelope\.yaml in /.test(e.message),
      );
    }
    // A nearer policy wins.
    writeFileSync(join(root, 'repo', 'config', POLICY_FILE), 'rules:\n  - path: "**"\n    keys: [local:local:k]\n    all: true\n');
    assert.equal((await findPolicy(join(root, 'repo', 'config', 'deep', 'x.yaml')))?.dir, join(root, 'repo', 'config'));
    writeFileSync(join(root, 'repo', 'config', POLICY_FILE), 'rules: 3\n');
    await assert.rejects(findPolicy(join(root, 'repo', 'config', 'x.yaml')), /\.kms-envelope\.yaml:1:8: rules: expected a non-empty list/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the JSON schema contributed to editors accepts what the validator accepts and refuses what it refuses', () => {
  const schema = JSON.parse(readFileSync(join(__dirname, '..', '..', 'schemas', 'kms-envelope-policy.schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  const check = (text: string) => {
    const data = parseYaml(text);
    let ours = true;
    try {
      parsePolicy(text, '/p/.kms-envelope.yaml');
    } catch {
      ours = false;
    }
    assert.equal(validate(data), ours, `schema and validator disagree on ${JSON.stringify(text)}: ${JSON.stringify(validate.errors)}`);
  };
  check(GOOD);
  for (const text of [
    'rules: []\n',
    'version: 2\nrules:\n  - path: a\n    keys: [local:local:k]\n    values: x\n',
    'rules:\n  - keys: [local:local:k]\n    values: x\n',
    'rules:\n  - path: a\n    pathRegex: b\n    keys: [local:local:k]\n    values: x\n',
    'rules:\n  - path: a\n    values: x\n',
    'rules:\n  - path: a\n    keys: [nope:r:k]\n    values: x\n',
    'rules:\n  - path: a\n    keys: [local:local:k, local:local:k]\n    values: x\n',
    'rules:\n  - path: a\n    keys: [local:local:k]\n',
    'rules:\n  - path: a\n    keys: [local:local:k]\n    all: true\n    values: x\n',
    'rules:\n  - path: a\n    keys: [local:local:k]\n    all: false\n',
    'rules:\n  - path: a\n    keys: [local:local:k]\n    values: x\n    context: {kmsenv:path: a}\n',
    'rules:\n  - path: a\n    keys: [local:local:k]\n    values: x\n    format: toml\n',
    'rules:\n  - path: ../a\n    keys: [local:local:k]\n    values: x\n',
    'rules:\n  - path: a\n    keys: [local:local:k]\n    valuez: x\n',
    'rules:\n  - path: a\n    keys: [local:local:k]\n    keyPaths: [a.b]\n    all: false\n',
    // A keyref whose key is an ARN (colons in the key part).
    'rules:\n  - path: a\n    keys: [alibaba:cn-hangzhou:acs:kms:cn-hangzhou:1:key/x]\n    all: true\n',
  ]) {
    check(text);
  }
});

test('package.json contributes the schema for .kms-envelope.yaml; it accepts the issue example as written and refuses a bad one', () => {
  const root = join(__dirname, '..', '..');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const entry = pkg.contributes.yamlValidation?.find((v: { fileMatch: string | string[] }) => [v.fileMatch].flat().includes(POLICY_FILE));
  assert.ok(entry, 'contributes.yamlValidation names .kms-envelope.yaml');
  assert.equal(entry.url, './schemas/kms-envelope-policy.schema.json');
  assert.ok(pkg.devDependencies.ajv, 'ajv is a declared devDependency (not a transitive one)');
  const schema = JSON.parse(readFileSync(join(root, entry.url), 'utf8'));
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
  const issue = `rules:
  - path: "config/*.yaml"          # glob, relative to the policy file's folder
    keys: [local:local:team, tencent:ap-guangzhou:alias-app]
    values: "(?i)(password|secret|token)"   # regex on the key name (the last path segment)
`;
  assert.equal(validate(parseYaml(issue)), true, JSON.stringify(validate.errors));
  parsePolicy(issue, '/p/.kms-envelope.yaml');
  // keys as one string, an unknown field, a glob that leaves the folder: each refused, by path.
  const bad = parseYaml('rules:\n  - path: "../config/*.yaml"\n    keys: local:local:team\n    valuez: "(?i)password"\n');
  assert.equal(validate(bad), false);
  const where = new Set(validate.errors!.map((e) => `${e.instancePath} ${e.keyword}`));
  for (const w of ['/rules/0/path not', '/rules/0/keys type', '/rules/0 additionalProperties'])
    assert.ok(where.has(w), `${w} in ${[...where].join(', ')}`);
});

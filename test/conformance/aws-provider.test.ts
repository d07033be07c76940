// AWS KMS as an AWS user meets it (the shared conformance suite runs in providers.test.ts): blobs
// the AWS Encryption SDK opens and the reverse, mixed recipients across clouds, credentials the way
// AWS users have them (environment, ~/.aws/config and credentials, credential_process, SSO), key
// ARNs as keyrefs, the SDK's partition data as the region list. Real HTTP with real SigV4 to the
// emulator; the CLI runs in-process (`main`) with its own environment.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KMS } from '@aws-sdk/client-kms';
import { buildClient, CommitmentPolicy } from '@aws-crypto/client-node';
import { getClient, KmsKeyringNode } from '@aws-crypto/kms-keyring-node';
import { main } from '../../src/cli/main';
import { printError, type Io } from '../../src/cli/common';
import { KmsEnvelopeError } from '../../src/core/errors';
import { parseKeyRef } from '../../src/core/keyref';
import { inspect, sealBuffer, unsealBuffer } from '../../src/core/envelope/index';
import { AwsKmsProvider } from '../../src/core/kms/aws/index';
import { partitionRegions } from '../../src/core/kms/aws/regions';
import { discoverAwsConfig } from '../../src/core/kms/aws/discovery';
import { nullLogger } from '../../src/core/log';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';
import { TEST_RETRY } from './provider-harness';
import { cliStep } from '../../src/cli/hints';

const RA = 'us-east-1';
const RB = 'eu-west-1';
const uniq = () => randomBytes(3).toString('hex');

describe('AWS KMS: the AWS Encryption SDK both ways, mixed recipients, credentials as AWS users have them', () => {
  let em: RunningEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let aws: AwsKmsProvider;
  let keyA: { keyId: string; arn: string; alias: string };
  let keyB: { keyId: string; arn: string };
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const stockKeyring = (keys: { generatorKeyId?: string; keyIds?: string[] }) =>
    new KmsKeyringNode({ ...keys, clientProvider: getClient(KMS, { endpoint: em.url, credentials: em.accounts[0].aws }) });
  const count = (action: string) => em.counters()[`aws:${action}`] ?? 0;

  const run = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}, drop: string[] = [], input?: string) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (c) => (stdout += c));
    err.on('data', (c) => (stderr += c));
    const e: NodeJS.ProcessEnv = { ...env, ...extraEnv };
    for (const k of drop) delete e[k];
    const stdin = new PassThrough();
    if (input !== undefined) stdin.end(input);
    const io = { stdout: out, stderr: err, stdin, env: e, signal: new AbortController().signal } as unknown as Io;
    let code: number;
    try {
      code = await main(args, io);
    } catch (x) {
      code = printError(io, x);
    }
    return { code, stdout, stderr };
  };

  before(async () => {
    em = await startEmulator({ port: 0, seed: true });
    dir = await mkdtemp(join(tmpdir(), 'kms-aws-'));
    const a = em.accounts[0];
    env = {
      PATH: process.env.PATH,
      DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS,
      HOME: join(dir, 'home'),
      KMS_ENVELOPE_CONFIG_DIR: join(dir, 'config'),
      KMS_ENVELOPE_KEY_FILE_DIR: join(dir, 'local-keys'),
      AWS_ACCESS_KEY_ID: a.aws.accessKeyId,
      AWS_SECRET_ACCESS_KEY: a.aws.secretAccessKey,
      AWS_ENDPOINT_URL_KMS: em.url,
      TENCENTCLOUD_SECRET_ID: a.tencent.secretId,
      TENCENTCLOUD_SECRET_KEY: a.tencent.secretKey,
      ALIBABA_CLOUD_ACCESS_KEY_ID: a.alibaba.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: a.alibaba.accessKeySecret,
      KMS_ENVELOPE_ENDPOINT: em.url,
    };
    await mkdir(join(dir, 'home', '.aws'), { recursive: true });
    aws = new AwsKmsProvider({
      profile: 'test',
      endpoint: em.url,
      retry: TEST_RETRY,
      credentials: async () => ({ accessKeyId: a.aws.accessKeyId, accessKeySecret: a.aws.secretAccessKey }),
    });
    const alias = `app-${uniq()}`;
    const ka = await aws.createKey(RA, { alias, description: 'interop A' });
    const kb = await aws.createKey(RB, { description: 'interop B' });
    keyA = { keyId: ka.keyId, arn: ka.arn!, alias };
    keyB = { keyId: kb.keyId, arn: kb.arn! };
  });
  after(async () => {
    aws?.dispose();
    await em?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('our blob is a standard one: the stock KmsKeyringNode + buildClient(...).decrypt opens it; 1 KMS call per recipient to seal, 1 to unseal', async () => {
    const plaintext = randomBytes(100_000);
    const context = { app: 'billing', stage: 'prod' };
    em.resetCounters();
    const blob = await sealBuffer(plaintext, {
      recipients: [
        { provider: aws, region: RA, key: `alias/${keyA.alias}` },
        { provider: aws, region: RB, key: keyB.keyId },
      ],
      context,
    });
    assert.deepEqual([count('GenerateDataKey'), count('Encrypt'), em.counters().total], [1, 1, 2]);
    const info = await inspect(blob);
    assert.deepEqual(
      info.recipients.map((r) => [r.providerId, r.region, r.keyId]),
      [
        ['aws-kms', RA, keyA.arn],
        ['aws-kms', RB, keyB.arn],
      ],
      'providerId aws-kms, providerInfo the key ARN, as the AWS ESDK writes it',
    );
    for (const arn of [keyA.arn, keyB.arn]) {
      const { plaintext: out, messageHeader } = await decrypt(stockKeyring({ keyIds: [arn] }), blob);
      assert.deepEqual(Buffer.from(out), plaintext);
      assert.equal(messageHeader.encryptionContext.app, 'billing');
    }
    em.resetCounters();
    const back = await unsealBuffer(blob, { resolve: async (name) => (name === 'aws' ? aws : undefined) });
    assert.deepEqual(Buffer.from(back.plaintext), plaintext);
    assert.deepEqual([count('Decrypt'), em.counters().total], [1, 1], 'one Decrypt');
  });

  it('a message from the stock encrypt with KmsKeyringNode opens with `kms-envelope unseal` (credentials and endpoint from the environment)', async () => {
    const { result } = await encrypt(stockKeyring({ generatorKeyId: keyA.arn, keyIds: [keyB.arn] }), 'made by the AWS Encryption SDK\n', {
      encryptionContext: { purpose: 'interop' },
    });
    const file = join(dir, 'stock.bin');
    await writeFile(file, result);
    em.resetCounters();
    const r = await run(['unseal', file, '-o', join(dir, 'stock.txt')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(join(dir, 'stock.txt'), 'utf8'), 'made by the AWS Encryption SDK\n');
    assert.equal(count('Decrypt'), 1);
    const shown = await run(['inspect', file]);
    assert.match(shown.stdout, new RegExp(`aws:${RA}:${keyA.arn.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
    assert.match(shown.stdout, /purpose/);
  });

  it('seal mixing AWS, Tencent, Alibaba and local keys; an AWS + Tencent blob opens with either after the other key is disabled', async () => {
    let r = await run(['keys', 'create', '--provider', 'local', '--alias', 'mix', '--json']);
    assert.equal(r.code, 0, r.stderr);
    r = await run(['keys', 'create', '--provider', 'tencent', '--region', 'ap-guangzhou', '--alias', `mix-${uniq()}`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const tcKey = (JSON.parse(r.stdout) as { keyId: string }).keyId;
    r = await run(['keys', 'create', '--provider', 'alibaba', '--region', 'cn-hangzhou', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const aliKey = (JSON.parse(r.stdout) as { keyId: string }).keyId;
    const plain = join(dir, 'mixed.txt');
    await writeFile(plain, 'four recipients\n');
    em.resetCounters();
    r = await run([
      'seal',
      plain,
      '--key',
      `aws:${RA}:alias/${keyA.alias}`,
      '--key',
      `tencent:ap-guangzhou:${tcKey}`,
      '--key',
      `alibaba:cn-hangzhou:${aliKey}`,
      '--key',
      'local:local:mix',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const c = em.counters();
    assert.deepEqual(
      [c['aws:GenerateDataKey'], c['tencent:Encrypt'], c['alibaba:Encrypt'], c.total],
      [1, 1, 1, 3],
      'the first recipient generates, the other clouds Encrypt once each, local keys need no call',
    );
    const recipients = (await run(['inspect', `${plain}.sealed`])).stdout;
    for (const p of ['aws:us-east-1:arn:aws:kms:', 'tencent:ap-guangzhou:', 'alibaba:cn-hangzhou:', 'local:local:'])
      assert.ok(recipients.includes(p), `${p} in ${recipients}`);

    // AWS + Tencent: open with either while the other key is disabled.
    const two = join(dir, 'two.txt');
    await writeFile(two, 'aws or tencent\n');
    r = await run(['seal', two, '--key', keyA.arn, '--key', `tencent:ap-guangzhou:${tcKey}`]);
    assert.equal(r.code, 0, r.stderr);
    for (const [off, on] of [
      [['keys', 'disable', '--provider', 'aws', '--region', RA, '--key', `alias/${keyA.alias}`], 'tencent'],
      [['keys', 'disable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', tcKey], 'aws'],
    ] as const) {
      for (const x of [
        ['keys', 'enable', '--provider', 'aws', '--region', RA, '--key', keyA.keyId],
        ['keys', 'enable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', tcKey],
      ])
        assert.equal((await run(x)).code, 0);
      assert.equal((await run([...off])).code, 0);
      const out = join(dir, `two-${on}.txt`);
      r = await run(['unseal', `${two}.sealed`, '-o', out]);
      assert.equal(r.code, 0, `opens with ${on}: ${r.stderr}`);
      assert.equal(await readFile(out, 'utf8'), 'aws or tencent\n');
    }
    // Both disabled: one error naming both recipients and what to do.
    assert.equal((await run(['keys', 'disable', '--provider', 'aws', '--region', RA, '--key', keyA.keyId])).code, 0);
    r = await run(['unseal', `${two}.sealed`, '-o', join(dir, 'none.txt')]);
    assert.equal(r.code, 3);
    assert.match(r.stderr, /No recipient of this blob could be opened here/);
    assert.match(r.stderr, /is disabled/);
    for (const x of [
      ['keys', 'enable', '--provider', 'aws', '--region', RA, '--key', keyA.keyId],
      ['keys', 'enable', '--provider', 'tencent', '--region', 'ap-guangzhou', '--key', tcKey],
    ])
      assert.equal((await run(x)).code, 0);
  });

  it('keyrefs: aws:<region>:<key id | alias/name | ARN>, and a key or alias ARN by itself', async () => {
    assert.deepEqual(parseKeyRef(keyA.arn), { provider: 'aws', region: RA, key: keyA.arn });
    const aliasArn = keyA.arn.replace(/key\/.*/, `alias/${keyA.alias}`);
    assert.deepEqual(parseKeyRef(aliasArn), { provider: 'aws', region: RA, key: aliasArn });
    assert.deepEqual(parseKeyRef(`aws:${RA}:alias/${keyA.alias}`), { provider: 'aws', region: RA, key: `alias/${keyA.alias}` });
    assert.throws(() => parseKeyRef('arn:aws:kms:us-east-1:12345:key/x'), /not a keyref|Unknown provider/);
    for (const key of [keyA.arn, aliasArn, keyA.keyId, `alias/${keyA.alias}`, keyA.alias]) {
      const r = await run(['keys', 'describe', '--provider', 'aws', '--region', RA, '--key', key, '--json']);
      assert.equal(r.code, 0, `${key}: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as { keyId: string }).keyId, keyA.keyId, key);
    }
    const sealed = join(dir, 'arn.txt');
    await writeFile(sealed, 'sealed to an ARN\n');
    for (const ref of [keyA.arn, aliasArn, `aws:${RA}:${keyA.alias}`, `aws:${RA}:${keyA.arn}`]) {
      const out = `${sealed}.${uniq()}.sealed`;
      const r = await run(['seal', sealed, '--key', ref, '-o', out]);
      assert.equal(r.code, 0, `${ref}: ${r.stderr}`);
      assert.match((await run(['inspect', out])).stdout, new RegExp(keyA.keyId), ref);
    }
  });

  it('regions: the AWS SDK partition data of the profile’s region, checked with one ListKeys call', async () => {
    const table = partitionRegions();
    for (const r of ['us-east-1', 'eu-west-1', 'ap-southeast-2', 'sa-east-1']) assert.ok(table.get('aws')?.includes(r), r);
    assert.deepEqual(table.get('aws-cn'), ['cn-north-1', 'cn-northwest-1']);
    em.resetCounters();
    const regions = await aws.listRegions();
    assert.ok(regions.includes(RA) && regions.includes(RB) && !regions.includes('cn-north-1'), regions.join(','));
    assert.equal(count('ListKeys'), 1);
    const cn = new AwsKmsProvider({
      profile: 'cn',
      endpoint: em.url,
      defaultRegion: 'cn-north-1',
      credentials: async () => ({ accessKeyId: em.accounts[0].aws.accessKeyId, accessKeySecret: em.accounts[0].aws.secretAccessKey }),
    });
    try {
      assert.deepEqual(await cn.listRegions(), ['cn-north-1', 'cn-northwest-1']);
      const k = await cn.createKey('cn-north-1', {});
      assert.match(k.arn ?? '', /^arn:aws-cn:kms:cn-north-1:\d{12}:key\//, 'the aws-cn partition in ARNs');
    } finally {
      cn.dispose();
    }
  });

  it('listing: customer keys with aliases and rotation status, not the AWS managed keys', async () => {
    const page = await aws.listKeys(RA, { pageSize: 1000 });
    const byAlias = new Map(page.keys.map((k) => [k.alias, k]));
    assert.equal(byAlias.get('seed-enabled')?.state, 'Enabled');
    assert.equal(byAlias.get('seed-disabled')?.state, 'Disabled');
    assert.equal(byAlias.get('seed-pending-deletion')?.state, 'PendingDeletion');
    assert.equal(byAlias.get('seed-enabled')?.rotationEnabled, false);
    assert.equal(byAlias.get(keyA.alias)?.keyId, keyA.keyId);
    assert.ok(!page.keys.some((k) => k.alias?.startsWith('aws/')), 'no AWS managed key');
    const r = await run(['keys', 'list', '--provider', 'aws', '--region', RA]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /seed-enabled/);
  });

  it('credentials from ~/.aws: static keys, a session token, credential_process; AWS_PROFILE picks the default; region and endpoint from the profile', async () => {
    const home = join(dir, 'home-files');
    await mkdir(join(home, '.aws'), { recursive: true });
    const def = em.accounts[0].aws;
    const second = em.accounts[1].aws;
    const sts = em.accounts.find((x) => x.name === 'sts')!.aws;
    const proc = join(home, 'creds.js');
    await writeFile(
      proc,
      `process.stdout.write(JSON.stringify({ Version: 1, AccessKeyId: ${JSON.stringify(sts.accessKeyId)}, SecretAccessKey: ${JSON.stringify(
        sts.secretAccessKey,
      )}, SessionToken: ${JSON.stringify(sts.sessionToken)}, Expiration: new Date(Date.now() + 3600e3).toISOString() }));\n`,
    );
    await writeFile(
      join(home, '.aws', 'config'),
      [
        '[default]',
        'region = us-east-1',
        '',
        '[profile dev]',
        'region = eu-west-1',
        `endpoint_url = ${em.url}`,
        '',
        '[profile proc]',
        `credential_process = ${process.execPath} ${proc}`,
        'services = local-kms',
        '',
        '[services local-kms]',
        'kms =',
        `  endpoint_url = ${em.url}`,
        '',
        '[profile nothing]',
        'region = ap-south-1',
        '',
      ].join('\n'),
    );
    await writeFile(
      join(home, '.aws', 'credentials'),
      [
        '[default]',
        `aws_access_key_id = ${def.accessKeyId}`,
        `aws_secret_access_key = ${def.secretAccessKey}`,
        '',
        '[dev]',
        `aws_access_key_id = ${second.accessKeyId}`,
        `aws_secret_access_key = ${second.secretAccessKey}`,
        '',
        '[old-session]',
        `aws_access_key_id = ${sts.expired!.accessKeyId}`,
        `aws_secret_access_key = ${sts.expired!.secretAccessKey}`,
        `aws_session_token = ${sts.expired!.sessionToken}`,
        '',
      ].join('\n'),
    );
    await chmod(join(home, '.aws', 'credentials'), 0o600);
    const found = await discoverAwsConfig({ env: {}, homeDir: home, logger: nullLogger });
    const info = Object.fromEntries(found.map((d) => [d.info.name, d]));
    assert.deepEqual(Object.keys(info).sort(), ['default', 'dev', 'old-session', 'proc'], 'a profile without credentials is skipped');
    assert.equal(info.default.isCliDefault, true);
    assert.deepEqual([info.dev.info.regions, info.dev.info.endpoint, info.dev.info.kind], [['eu-west-1'], em.url, 'long-term']);
    assert.equal(info.proc.info.endpoint, em.url, 'the kms entry of the [services] section');
    assert.equal(info['old-session'].info.kind, 'sts');
    assert.equal(
      (await discoverAwsConfig({ env: { AWS_PROFILE: 'dev' }, homeDir: home, logger: nullLogger })).find((d) => d.isCliDefault)?.info.name,
      'dev',
    );
    const c = await info.proc.load();
    assert.deepEqual([c.accessKeyId, c.securityToken !== undefined, !!c.expiration], [sts.accessKeyId, true, true]);

    // The CLI with nothing but the files (no AWS_* variables): the default profile, then --profile.
    // (In-process, the credential service and the SDK find the home folder through this process's HOME.)
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    try {
      await cliWithFiles(home);
    } finally {
      process.env.HOME = savedHome;
    }
  });

  async function cliWithFiles(home: string): Promise<void> {
    const fileEnv = { HOME: home };
    const noVars = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_ENDPOINT_URL_KMS', 'KMS_ENVELOPE_ENDPOINT'];
    let r = await run(['keys', 'list', '--provider', 'aws', '--region', RA, '--endpoint', em.url, '--json'], fileEnv, noVars);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      (JSON.parse(r.stdout) as Array<{ keyId: string }>).some((k) => k.keyId === keyA.keyId),
      'default profile = account "default"',
    );
    r = await run(['keys', 'list', '--provider', 'aws', '--profile', 'dev', '--json'], fileEnv, noVars);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      (JSON.parse(r.stdout) as Array<{ region: string }>).every((k) => k.region === 'eu-west-1'),
      'dev: its region and its endpoint_url',
    );
    r = await run(['keys', 'list', '--provider', 'aws', '--profile', 'proc', '--region', RA, '--json'], fileEnv, noVars);
    assert.equal(r.code, 0, `credential_process: ${r.stderr}`);

    // Session credentials KMS finds expired: one message saying how to renew them.
    r = await run(['keys', 'list', '--provider', 'aws', '--profile', 'old-session', '--region', RA, '--endpoint', em.url], fileEnv, noVars);
    assert.equal(r.code, 4);
    assert.match(r.stderr, /The AWS session of profile old-session has expired \(ExpiredTokenException/);
    assert.match(r.stderr, /new session credentials .* into \[old-session\] of .*credentials/);
  }

  it('endpoints as the AWS SDK picks them: AWS_ENDPOINT_URL_KMS, then AWS_ENDPOINT_URL, over a profile’s endpoint_url', async () => {
    const home = join(dir, 'home-endpoints');
    await mkdir(join(home, '.aws'), { recursive: true });
    const def = em.accounts[0].aws;
    // A profile whose endpoint_url goes nowhere (port 9, discard): an environment variable wins over it.
    await writeFile(
      join(home, '.aws', 'config'),
      ['[profile far]', 'region = us-east-1', 'endpoint_url = http://127.0.0.1:9', ''].join('\n'),
    );
    await writeFile(
      join(home, '.aws', 'credentials'),
      ['[far]', `aws_access_key_id = ${def.accessKeyId}`, `aws_secret_access_key = ${def.secretAccessKey}`, ''].join('\n'),
    );
    const noVars = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_ENDPOINT_URL_KMS', 'KMS_ENVELOPE_ENDPOINT'];
    const listed = (r: { code: number; stdout: string; stderr: string }) => {
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(r.stdout) as Array<{ keyId: string }>).some((k) => k.keyId === keyA.keyId);
    };
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    try {
      const found = await discoverAwsConfig({ env: {}, homeDir: home, logger: nullLogger });
      assert.equal(found.find((d) => d.info.name === 'far')?.info.endpoint, 'http://127.0.0.1:9', 'the profile’s endpoint_url');
      for (const v of ['AWS_ENDPOINT_URL_KMS', 'AWS_ENDPOINT_URL']) {
        const r = await run(
          ['keys', 'list', '--provider', 'aws', '--profile', 'far', '--json'],
          { HOME: home, [v]: em.url },
          noVars.filter((x) => x !== v),
        );
        assert.ok(listed(r), `${v} wins over the profile's endpoint_url`);
      }
      const r = await run(['keys', 'list', '--provider', 'aws', '--profile', 'far', '--region', RA], { HOME: home }, noVars);
      assert.notEqual(r.code, 0, 'without the variable the profile’s endpoint_url (nothing listening) is used');
      assert.match(r.stderr, /127\.0\.0\.1:9/);
      assert.match(
        r.stderr,
        /profile far's endpoint, or AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL, KMS_ENVELOPE_ENDPOINT/,
        'the variables to check',
      );
      const ignored = await discoverAwsConfig({ env: { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, homeDir: home, logger: nullLogger });
      assert.equal(ignored.find((d) => d.info.name === 'far')?.info.endpoint, undefined, 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS');
    } finally {
      process.env.HOME = savedHome;
    }
    // Environment credentials with AWS_ENDPOINT_URL_KMS alone (no KMS_ENVELOPE_ENDPOINT, no --endpoint).
    const r = await run(['keys', 'list', '--provider', 'aws', '--region', RA, '--json'], {}, ['KMS_ENVELOPE_ENDPOINT']);
    assert.ok(listed(r), 'AWS_ENDPOINT_URL_KMS with environment credentials');
  });

  it('a keychain profile with session credentials (id, secret, token on stdin): lists and seals; nothing secret in profiles.json', async () => {
    const sts = em.accounts.find((x) => x.name === 'sts')!.aws;
    const noVars = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_ENDPOINT_URL_KMS', 'KMS_ENVELOPE_ENDPOINT'];
    const name = `ops-${uniq()}`;
    let r = await run(
      ['profiles', 'add', '--provider', 'aws', '--name', name, '--sts', '--endpoint', em.url, '--region', RB, '--test'],
      {},
      noVars,
      `${sts.accessKeyId}\n${sts.secretAccessKey}\n${sts.sessionToken}\n`,
    );
    assert.equal(r.code, 0, r.stderr);
    const stored = await readFile(join(dir, 'config', 'profiles.json'), 'utf8');
    assert.ok(stored.includes(name), 'the profile is stored');
    for (const secret of [sts.secretAccessKey, sts.sessionToken!]) assert.ok(!stored.includes(secret), 'a secret in profiles.json');
    em.resetCounters();
    r = await run(
      ['keys', 'create', '--provider', 'aws', '--profile', name, '--region', RB, '--description', 'session key', '--json'],
      {},
      noVars,
    );
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { keyId: string; region: string };
    assert.equal(created.region, RB);
    const plain = join(dir, `${name}.txt`);
    await writeFile(plain, 'sealed with session credentials\n');
    r = await run(['seal', plain, '--key', `aws:${RB}:${created.keyId}`, '--profile', name], {}, noVars);
    assert.equal(r.code, 0, r.stderr);
    r = await run(['unseal', `${plain}.sealed`, '-o', `${plain}.out`, '--profile', name], {}, noVars);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await readFile(`${plain}.out`, 'utf8'), 'sealed with session credentials\n');
    assert.deepEqual([count('CreateKey'), count('GenerateDataKey'), count('Decrypt')], [1, 1, 1]);
    // Without the token the same key id is refused: the token really travels with the requests.
    r = await run(
      ['profiles', 'add', '--provider', 'aws', '--name', `${name}-notoken`, '--endpoint', em.url, '--region', RB],
      {},
      noVars,
      `${sts.accessKeyId}\n${sts.secretAccessKey}\n`,
    );
    assert.equal(r.code, 0, r.stderr);
    r = await run(['keys', 'list', '--provider', 'aws', '--profile', `${name}-notoken`], {}, noVars);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /UnrecognizedClientException|security token/);
  });

  it('an SSO profile whose login expired: one credentials error that says `aws sso login --profile …`', async () => {
    const home = join(dir, 'home-sso');
    await mkdir(join(home, '.aws', 'sso', 'cache'), { recursive: true });
    await writeFile(
      join(home, '.aws', 'config'),
      [
        '[profile corp-dev]',
        'sso_session = corp',
        'sso_account_id = 111122223333',
        'sso_role_name = Developer',
        'region = us-east-1',
        '',
        '[sso-session corp]',
        'sso_start_url = https://corp.awsapps.com/start',
        'sso_region = us-east-1',
        'sso_registration_scopes = sso:account:access',
        '',
      ].join('\n'),
    );
    // An expired token in the SDK's cache (named by the SHA-1 of the session name), without a refresh token.
    const { createHash } = await import('node:crypto');
    await writeFile(
      join(home, '.aws', 'sso', 'cache', `${createHash('sha1').update('corp').digest('hex')}.json`),
      JSON.stringify({ accessToken: 'expired-token', expiresAt: new Date(Date.now() - 3600e3).toISOString(), region: 'us-east-1' }),
    );
    // The SDK finds the SSO cache through HOME of this process.
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const r = await run(
        ['keys', 'list', '--provider', 'aws', '--profile', 'corp-dev', '--region', RA, '--endpoint', em.url],
        { HOME: home },
        ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'],
      );
      assert.equal(r.code, 4, r.stderr);
      assert.match(r.stderr, /The AWS SSO session of profile corp-dev has expired or was never started/);
      assert.match(r.stderr, /aws sso login --profile corp-dev/);
      assert.ok(!r.stderr.includes('expired-token'), 'no token in the message');
    } finally {
      process.env.HOME = saved;
    }
  });

  it('an SSO profile with a valid login: the SDK gets role credentials from the portal, once for many requests', async () => {
    const home = join(dir, 'home-sso-ok');
    await mkdir(join(home, '.aws', 'sso', 'cache'), { recursive: true });
    await writeFile(
      join(home, '.aws', 'config'),
      [
        '[profile corp-ok]',
        'sso_session = corp-ok',
        'sso_account_id = 111122223333',
        'sso_role_name = Developer',
        'region = us-east-1',
        `endpoint_url = ${em.url}`,
        '',
        '[sso-session corp-ok]',
        'sso_start_url = https://corp.awsapps.com/start',
        'sso_region = us-east-1',
        '',
      ].join('\n'),
    );
    const { createHash } = await import('node:crypto');
    const token = `sso-${uniq()}`;
    await writeFile(
      join(home, '.aws', 'sso', 'cache', `${createHash('sha1').update('corp-ok').digest('hex')}.json`),
      JSON.stringify({ accessToken: token, expiresAt: new Date(Date.now() + 3600e3).toISOString(), region: 'us-east-1' }),
    );
    // The IAM Identity Center portal (GetRoleCredentials), as the SDK's SSO client calls it: it hands
    // out the emulator's session credentials for the right token, account and role only.
    const sts = em.accounts.find((x) => x.name === 'sts')!.aws;
    const asked: string[] = [];
    const { createServer } = await import('node:http');
    const portal = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://portal');
      asked.push(`${req.method} ${u.pathname} ${u.searchParams.get('account_id')} ${u.searchParams.get('role_name')}`);
      const ok =
        req.method === 'GET' &&
        u.pathname === '/federation/credentials' &&
        u.searchParams.get('account_id') === '111122223333' &&
        u.searchParams.get('role_name') === 'Developer' &&
        req.headers['x-amz-sso_bearer_token'] === token;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          ok
            ? {
                roleCredentials: {
                  accessKeyId: sts.accessKeyId,
                  secretAccessKey: sts.secretAccessKey,
                  sessionToken: sts.sessionToken,
                  expiration: Date.now() + 3600e3,
                },
              }
            : { message: 'Session token not found or invalid' },
        ),
      );
    });
    await new Promise<void>((r) => portal.listen(0, '127.0.0.1', r));
    const saved = { HOME: process.env.HOME, SSO: process.env.AWS_ENDPOINT_URL_SSO };
    process.env.HOME = home;
    process.env.AWS_ENDPOINT_URL_SSO = `http://127.0.0.1:${(portal.address() as { port: number }).port}`;
    try {
      const found = (await discoverAwsConfig({ env: {}, homeDir: home, logger: nullLogger })).find((d) => d.info.name === 'corp-ok');
      assert.ok(found, 'the SSO profile is discovered');
      assert.deepEqual([found.info.kind, found.info.source, found.info.endpoint], ['sts', 'aws-config', em.url]);
      const p = new AwsKmsProvider({ profile: 'corp-ok', endpoint: em.url, retry: TEST_RETRY, credentials: found.load });
      try {
        em.resetCounters();
        await p.listKeys(RA);
        await p.describeKey(RA, keyA.keyId).then(
          () => assert.fail('the sts account sees the default account’s key'),
          (e: KmsEnvelopeError) => assert.equal(e.details.providerCode, 'NotFoundException', 'the role’s own account'),
        );
        assert.equal(count('ListKeys'), 1, 'the role credentials reached KMS');
      } finally {
        p.dispose();
      }
      assert.deepEqual(asked, ['GET /federation/credentials 111122223333 Developer'], 'one GetRoleCredentials for many requests');
      // The CLI with nothing but the files: the same profile by name.
      const r = await run(['keys', 'list', '--provider', 'aws', '--profile', 'corp-ok', '--json'], { HOME: home }, [
        'AWS_ACCESS_KEY_ID',
        'AWS_SECRET_ACCESS_KEY',
        'AWS_ENDPOINT_URL_KMS',
        'KMS_ENVELOPE_ENDPOINT',
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!r.stderr.includes(token) && !r.stdout.includes(token), 'no SSO token in the output');
    } finally {
      process.env.HOME = saved.HOME;
      if (saved.SSO === undefined) delete process.env.AWS_ENDPOINT_URL_SSO;
      else process.env.AWS_ENDPOINT_URL_SSO = saved.SSO;
      await new Promise((r) => portal.close(r));
    }
  });

  it('ExpiredTokenException with stored or environment credentials: the renewal that fits the source', async () => {
    const expired = em.accounts.find((x) => x.name === 'sts')!.aws.expired!;
    const stale = new AwsKmsProvider({
      profile: 'ops',
      endpoint: em.url,
      retry: TEST_RETRY,
      credentials: async () => ({
        accessKeyId: expired.accessKeyId,
        accessKeySecret: expired.secretAccessKey,
        securityToken: expired.sessionToken,
      }),
    });
    try {
      const e = await stale.listKeys(RA).then(
        () => assert.fail('expired credentials were accepted'),
        (x: unknown) => x as KmsEnvelopeError,
      );
      assert.ok(e instanceof KmsEnvelopeError);
      assert.equal(e.kind, 'credentials');
      assert.equal(e.details.providerCode, 'ExpiredTokenException');
      assert.match(e.message, /The AWS session of profile ops has expired/);
      assert.match(e.hintIn(cliStep) ?? '', /profiles rotate --provider aws --name ops --sts/);
    } finally {
      stale.dispose();
    }
    const r = await run(['keys', 'list', '--provider', 'aws', '--region', RA], {
      AWS_ACCESS_KEY_ID: expired.accessKeyId,
      AWS_SECRET_ACCESS_KEY: expired.secretAccessKey,
      AWS_SESSION_TOKEN: expired.sessionToken,
    });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /profile env has expired/);
    assert.match(r.stderr, /Export new AWS_ACCESS_KEY_ID/);
  });

  it('the clock: a skewed local clock is corrected from the answer once (two requests, no error)', async () => {
    const skewed = await startEmulator({ port: 0, now: () => Date.now() - 20 * 60_000 });
    const p = new AwsKmsProvider({
      profile: 'skew',
      endpoint: skewed.url,
      retry: TEST_RETRY,
      credentials: async () => ({
        accessKeyId: skewed.accounts[0].aws.accessKeyId,
        accessKeySecret: skewed.accounts[0].aws.secretAccessKey,
      }),
    });
    try {
      await p.listKeys(RA);
      assert.equal(skewed.counters()['aws:ListKeys'], 2, 'refused once as expired, then sent with the corrected clock');
      skewed.resetCounters();
      await p.listKeys(RA);
      assert.equal(skewed.counters()['aws:ListKeys'], 1, 'the correction stays');
    } finally {
      p.dispose();
      await skewed.stop();
    }
  });
});

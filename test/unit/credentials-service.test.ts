/**
 * CredentialService against the REAL OS keychain (gnome-keyring through keytar, under
 * scripts/with-keyring.sh), plus discovery from env / fake ~/.tccli / ~/.aliyun, precedence,
 * STS expiry, redaction and the behaviour without a Secret Service.
 *
 * After every test, each file under the test's temp root (config dir, HOME, scratch) other than
 * the fixtures the test wrote itself, and every captured log line, is searched for every secret
 * value the test used: none may appear.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { CredentialService, type ProfileChange } from '../../src/core/credentials/service';
import type { CloudCredentials } from '../../src/core/credentials/types';
import type { AccessKeyCredentials } from '../../src/core/kms/access-key';
import { KmsEnvelopeError } from '../../src/core/errors';
import { redact, redactString, REDACTED, type Logger } from '../../src/core/log';
import { KEYCHAIN_SERVICE, KeytarSecretStore, MemorySecretStore, type SecretStore } from '../../src/core/secrets';
import { cliStep } from '../../src/cli/hints';

const IN_KEYRING = process.env.KMS_ENVELOPE_IN_KEYRING === '1';
const needsKeyring = IN_KEYRING ? false : 'needs the real keychain: run under scripts/with-keyring.sh';
const REPO = path.resolve(__dirname, '..', '..');

const hex = (n: number) => randomBytes(n).toString('hex');

interface Ctx {
  root: string;
  configDir: string;
  home: string;
  secrets: string[];
  fixtures: Set<string>;
  logs: string[];
  logger: Logger;
  accounts: string[];
  cleanups: Array<() => Promise<void>>;
}

/** The real keychain, with the service name swapped for a private one. */
class RenamedServiceStore implements SecretStore {
  readonly description: string;
  constructor(
    private readonly inner: SecretStore,
    private readonly service: string,
  ) {
    this.description = inner.description;
  }
  get(_s: string, a: string) {
    return this.inner.get(this.service, a);
  }
  set(_s: string, a: string, v: string) {
    return this.inner.set(this.service, a, v);
  }
  delete(_s: string, a: string) {
    return this.inner.delete(this.service, a);
  }
  list(_s: string) {
    return this.inner.list(this.service);
  }
}

let ctx: Ctx;

function newCreds(prefix = 'AKID', withToken = false): AccessKeyCredentials {
  const c: AccessKeyCredentials = { accessKeyId: `${prefix}${hex(14)}`, accessKeySecret: `sk${hex(16)}` };
  if (withToken) c.securityToken = `tok${hex(40)}`;
  ctx.secrets.push(c.accessKeyId, c.accessKeySecret, ...(c.securityToken ? [c.securityToken] : []));
  return c;
}

function uniqueName(base = 'p'): string {
  return `${base}-${hex(4)}`;
}

async function writeFixture(file: string, content: string): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, content);
  ctx.fixtures.add(path.resolve(file));
}

function service(opts: Partial<ConstructorParameters<typeof CredentialService>[0]> = {}): CredentialService {
  return new CredentialService({
    secretStore: opts.secretStore ?? new KeytarSecretStore(5000),
    configDir: ctx.configDir,
    env: opts.env ?? {},
    homeDir: ctx.home,
    logger: ctx.logger,
    ...opts,
  });
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

async function assertNoSecretsLeaked(): Promise<number> {
  const files = (await walk(ctx.root)).filter((f) => !ctx.fixtures.has(path.resolve(f)));
  for (const f of files) {
    const text = await fsp.readFile(f, 'latin1');
    for (const s of ctx.secrets) assert.ok(!text.includes(s), `secret value found in ${f}`);
  }
  const logText = ctx.logs.join('\n');
  for (const s of ctx.secrets) assert.ok(!logText.includes(s), 'secret value found in the log');
  return files.length;
}

function secretTool(...args: string[]): { stdout: string; status: number | null } {
  const r = spawnSync('secret-tool', args, { encoding: 'utf8', timeout: 10_000 });
  return { stdout: (r.stdout ?? '') + (r.stderr ?? ''), status: r.status };
}

async function rejectsKind(p: Promise<unknown>, kind: string, re?: RegExp): Promise<KmsEnvelopeError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof KmsEnvelopeError, `expected KmsEnvelopeError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    if (re) assert.match(`${err.message}\n${err.hintIn(cliStep) ?? ''}`, re); // as the CLI prints it
    for (const s of ctx.secrets) assert.ok(!`${err.message}${err.hint}`.includes(s), 'secret in an error message');
    return err;
  }
  assert.fail('expected a rejection');
}

beforeEach(async () => {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'kmse-cred-'));
  const logs: string[] = [];
  const rec =
    (lvl: string) =>
    (m: string | Error, ...a: unknown[]) =>
      logs.push(`${lvl} ${m instanceof Error ? m.message : m} ${a.map((x) => JSON.stringify(redact(x))).join(' ')}`);
  ctx = {
    root,
    configDir: path.join(root, 'config'),
    home: path.join(root, 'home'),
    secrets: [],
    fixtures: new Set(),
    logs,
    logger: { trace: rec('trace'), debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error') },
    accounts: [],
    cleanups: [],
  };
  await fsp.mkdir(ctx.home, { recursive: true });
});

afterEach(async () => {
  const scanned = await assertNoSecretsLeaked();
  assert.ok(scanned >= 0);
  if (IN_KEYRING) {
    const store = new KeytarSecretStore(5000);
    for (const a of ctx.accounts) await store.delete(KEYCHAIN_SERVICE, a).catch(() => undefined);
  }
  for (const c of ctx.cleanups) await c();
  await fsp.rm(ctx.root, { recursive: true, force: true });
});

describe('stored profiles in the real OS keychain', { skip: needsKeyring }, () => {
  it('add: the secret is in the keychain (secret-tool finds it), metadata without secret in profiles.json', async () => {
    const svc = service();
    const events: ProfileChange[] = [];
    svc.onDidChange((e) => events.push(e));
    const name = uniqueName('dev');
    ctx.accounts.push(`tencent:${name}`);
    const creds = newCreds('AKID');
    const info = await svc.addProfile(
      { provider: 'tencent', name, regions: ['ap-guangzhou', 'ap-shanghai'], endpoint: 'http://127.0.0.1:9' },
      creds,
    );
    assert.equal(info.source, 'keychain');
    assert.equal(info.kind, 'long-term');
    assert.equal(info.keyIdHint, `${creds.accessKeyId.slice(0, 4)}…${creds.accessKeyId.slice(-4)}`);
    assert.deepEqual(events, [{ type: 'add', provider: 'tencent', name }]);

    const st = secretTool('search', 'service', KEYCHAIN_SERVICE, 'account', `tencent:${name}`);
    assert.equal(st.status, 0);
    assert.match(st.stdout, new RegExp(`label = kms-envelope/tencent:${name}`));
    assert.ok(st.stdout.includes(creds.accessKeySecret), 'secret-tool shows the stored secret');

    const raw = await new KeytarSecretStore().get(KEYCHAIN_SERVICE, `tencent:${name}`);
    assert.deepEqual(JSON.parse(raw!), { accessKeyId: creds.accessKeyId, accessKeySecret: creds.accessKeySecret });

    const file = JSON.parse(await fsp.readFile(path.join(ctx.configDir, 'profiles.json'), 'utf8'));
    assert.equal(file.version, 1);
    assert.equal(file.profiles[0].name, name);
    assert.deepEqual(file.profiles[0].regions, ['ap-guangzhou', 'ap-shanghai']);
    assert.equal(file.profiles[0].endpoint, 'http://127.0.0.1:9');
    assert.equal((await fsp.stat(path.join(ctx.configDir, 'profiles.json'))).mode & 0o777, 0o600);

    const listed = await svc.listProfiles('tencent');
    assert.deepEqual(
      listed.map((p) => [p.name, p.source]),
      [[name, 'keychain']],
    );
    assert.deepEqual(await svc.credentialsFor('tencent', name)(), creds);
    // A second service instance (another process in real life) sees the same profile.
    assert.deepEqual(await service().credentialsFor('tencent', name)(), creds);
  });

  it('several profiles per provider and both clouds are usable at once', async () => {
    const svc = service();
    const a = uniqueName('a');
    const b = uniqueName('b');
    ctx.accounts.push(`tencent:${a}`, `tencent:${b}`, `alibaba:${a}`);
    const ca = newCreds('AKID');
    const cb = newCreds('AKID');
    const cc = newCreds('LTAI');
    await Promise.all([
      svc.addProfile({ provider: 'tencent', name: a }, ca),
      svc.addProfile({ provider: 'tencent', name: b }, cb),
      svc.addProfile({ provider: 'alibaba', name: a, regions: ['cn-hangzhou'] }, cc),
    ]);
    const [ra, rb, rc] = await Promise.all([
      svc.credentialsFor('tencent', a)(),
      svc.credentialsFor('tencent', b)(),
      svc.credentialsFor('alibaba', a)(),
    ]);
    assert.deepEqual([ra, rb, rc], [ca, cb, cc]);
    const all = await svc.listProfiles();
    assert.deepEqual(all.map((p) => `${p.provider}:${p.name}`).sort(), [`alibaba:${a}`, `tencent:${a}`, `tencent:${b}`].sort());
  });

  it('refuses to overwrite without replace; replace swaps the secret', async () => {
    const svc = service();
    const name = uniqueName('dup');
    ctx.accounts.push(`alibaba:${name}`);
    const c1 = newCreds('LTAI');
    const c2 = newCreds('LTAI');
    await svc.addProfile({ provider: 'alibaba', name }, c1);
    await rejectsKind(svc.addProfile({ provider: 'alibaba', name }, c2), 'usage', /already exists[\s\S]*--replace/);
    assert.deepEqual(await svc.credentialsFor('alibaba', name)(), c1);
    await svc.addProfile({ provider: 'alibaba', name, regions: ['cn-shanghai'] }, c2, { replace: true });
    assert.deepEqual(await svc.credentialsFor('alibaba', name)(), c2);
    assert.deepEqual((await svc.getProfile('alibaba', name))?.regions, ['cn-shanghai']);
  });

  it('rotate: a credentials function taken before the rotation returns the new secret', async () => {
    const svc = service();
    const events: string[] = [];
    svc.onDidChange((e) => events.push(e.type));
    const name = uniqueName('rot');
    ctx.accounts.push(`tencent:${name}`);
    const c1 = newCreds();
    const c2 = newCreds();
    await svc.addProfile({ provider: 'tencent', name }, c1);
    const get = svc.credentialsFor('tencent', name);
    assert.deepEqual(await get(), c1);
    const info = await svc.rotateSecret('tencent', name, c2);
    assert.equal(info.keyIdHint, `${c2.accessKeyId.slice(0, 4)}…${c2.accessKeyId.slice(-4)}`);
    assert.deepEqual(await get(), c2);
    assert.deepEqual(events, ['add', 'rotate']);
    const st = secretTool('search', 'service', KEYCHAIN_SERVICE, 'account', `tencent:${name}`);
    assert.ok(st.stdout.includes(c2.accessKeySecret) && !st.stdout.includes(c1.accessKeySecret));
  });

  it('remove: the keychain entry is gone, secret-tool no longer finds it, the profile is gone', async () => {
    const svc = service();
    const events: string[] = [];
    svc.onDidChange((e) => events.push(e.type));
    const name = uniqueName('rm');
    ctx.accounts.push(`tencent:${name}`);
    const c = newCreds();
    await svc.addProfile({ provider: 'tencent', name }, c);
    const get = svc.credentialsFor('tencent', name);
    await get();
    await svc.removeProfile('tencent', name);
    assert.equal(await new KeytarSecretStore().get(KEYCHAIN_SERVICE, `tencent:${name}`), undefined);
    const st = secretTool('search', 'service', KEYCHAIN_SERVICE, 'account', `tencent:${name}`);
    assert.ok(!st.stdout.includes(`tencent:${name}`), 'secret-tool still finds the entry');
    assert.ok(!st.stdout.includes(c.accessKeySecret));
    assert.deepEqual(await svc.listProfiles('tencent'), []);
    await rejectsKind(
      get(),
      'credentials',
      new RegExp(`no Tencent Cloud profile named ${name}[\\s\\S]*profiles add --provider tencent --name ${name}`),
    );
    await rejectsKind(svc.removeProfile('tencent', name), 'usage', /no stored Tencent Cloud profile/);
    assert.deepEqual(events, ['add', 'remove']);
  });

  it('validates names, keys, regions and endpoints without quoting the secret', async () => {
    const svc = service();
    const good = newCreds();
    const bad: Array<[Parameters<CredentialService['addProfile']>[0], CloudCredentials, RegExp]> = [
      [{ provider: 'tencent', name: 'has space' }, good, /profile name/],
      [{ provider: 'tencent', name: '' }, good, /No profile name/],
      [{ provider: 'tencent', name: 'a:b' }, good, /profile name/],
      [{ provider: 'local' as never, name: 'x' }, good, /Unknown provider "local"/],
      [{ provider: 'tencent', name: 'x' }, { accessKeyId: '', accessKeySecret: good.accessKeySecret }, /SecretId is empty/],
      [
        { provider: 'tencent', name: 'x' },
        { accessKeyId: good.accessKeyId, accessKeySecret: `${good.accessKeySecret} tail` },
        /SecretKey contains spaces/,
      ],
      [
        { provider: 'alibaba', name: 'x' },
        { accessKeyId: good.accessKeyId, accessKeySecret: 'short' },
        /AccessKey secret has 5 characters/,
      ],
      [
        { provider: 'tencent', name: 'x' },
        { accessKeyId: good.accessKeySecret, accessKeySecret: good.accessKeySecret },
        /are the same value/,
      ],
      [{ provider: 'tencent', name: 'x', regions: ['ap guangzhou'] }, good, /not a region id/],
      [{ provider: 'tencent', name: 'x', endpoint: 'ftp://127.0.0.1' }, good, /only http and https/],
      [{ provider: 'tencent', name: 'x', endpoint: 'http://user:pw@127.0.0.1:1' }, good, /user name or password/],
      [{ provider: 'tencent', name: 'x', kind: 'sts' }, good, /session token is empty/],
      [{ provider: 'tencent', name: 'x', kind: 'long-term' }, { ...good, securityToken: `tok${hex(20)}` }, /long-term key/],
    ];
    for (const [info, creds, re] of bad) await rejectsKind(svc.addProfile(info, creds), 'usage', re);
    assert.deepEqual(await svc.listProfiles(), []);
    await assert.rejects(fsp.stat(path.join(ctx.configDir, 'profiles.json')));
  });

  it('STS: token and expiry are stored; an expired key gives "expired at …; rotate it"', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const svc = service({ now: () => now, secretCacheMs: 0 });
    const name = uniqueName('sts');
    ctx.accounts.push(`alibaba:${name}`);
    const c = { ...newCreds('STS.', true), expiration: '2030-01-01T01:00:00Z' };
    const info = await svc.addProfile({ provider: 'alibaba', name }, c);
    assert.equal(info.kind, 'sts');
    assert.equal(info.expiration, '2030-01-01T01:00:00.000Z');
    const get = svc.credentialsFor('alibaba', name);
    assert.deepEqual(await get(), { ...c, expiration: '2030-01-01T01:00:00.000Z' });
    now = Date.parse('2030-01-01T01:00:01Z');
    const err = await rejectsKind(
      get(),
      'credentials',
      new RegExp(`temporary key of Alibaba Cloud profile ${name} expired at 2030-01-01T01:00:00.000Z; rotate it`),
    );
    assert.match(err.hintIn(cliStep)!, /profiles rotate --provider alibaba --name/);
    // Rotating to a fresh STS key fixes it.
    const fresh = { ...newCreds('STS.', true), expiration: '2030-01-01T03:00:00Z' };
    await svc.rotateSecret('alibaba', name, fresh);
    assert.equal((await get()).securityToken, fresh.securityToken);
  });

  it('a keychain entry in another format gives a clear error', async () => {
    const svc = service();
    const name = uniqueName('bad');
    ctx.accounts.push(`tencent:${name}`);
    await svc.addProfile({ provider: 'tencent', name }, newCreds());
    await new KeytarSecretStore().set(KEYCHAIN_SERVICE, `tencent:${name}`, 'not json');
    await rejectsKind(service().credentialsFor('tencent', name)(), 'credentials', /not in the format[\s\S]*profiles rotate/);
  });
});

describe('discovery (read-only)', () => {
  it('environment variables become the `env` profile, with KMS_ENVELOPE_ENDPOINT as endpoint', async () => {
    const t = newCreds('AKID', true);
    const a = newCreds('LTAI');
    const env = {
      TENCENTCLOUD_SECRET_ID: t.accessKeyId,
      TENCENTCLOUD_SECRET_KEY: t.accessKeySecret,
      TENCENTCLOUD_SESSION_TOKEN: t.securityToken,
      TENCENTCLOUD_REGION: 'ap-beijing',
      ALIBABA_CLOUD_ACCESS_KEY_ID: a.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: a.accessKeySecret,
      KMS_ENVELOPE_ENDPOINT: 'http://127.0.0.1:18443',
    };
    const svc = service({ env, secretStore: new MemorySecretStore() });
    const list = await svc.listProfiles();
    assert.deepEqual(
      list.map((p) => [p.provider, p.name, p.source, p.kind, p.endpoint, p.regions?.join()]),
      [
        ['tencent', 'env', 'env', 'sts', 'http://127.0.0.1:18443', 'ap-beijing'],
        ['alibaba', 'env', 'env', 'long-term', 'http://127.0.0.1:18443', undefined],
      ],
    );
    assert.deepEqual(await svc.credentialsFor('tencent')(), t);
    assert.deepEqual(await svc.credentialsFor('alibaba', 'env')(), a);
    await rejectsKind(
      svc.rotateSecret('tencent', 'env', newCreds()),
      'usage',
      /discovered from env and is read-only[\s\S]*TENCENTCLOUD_SECRET_ID/,
    );
    await rejectsKind(svc.removeProfile('alibaba', 'env'), 'usage', /read-only/);
  });

  it('tccli files: <profile>.credential (+ .configure region) become profiles; malformed files are skipped without quoting them', async () => {
    const d = newCreds();
    const w = newCreds();
    const broken = newCreds();
    await writeFixture(
      path.join(ctx.home, '.tccli', 'default.credential'),
      JSON.stringify({ secretId: d.accessKeyId, secretKey: d.accessKeySecret }),
    );
    await writeFixture(
      path.join(ctx.home, '.tccli', 'default.configure'),
      JSON.stringify({ _sys_param: { region: 'ap-chengdu', output: 'json' } }),
    );
    await writeFixture(
      path.join(ctx.home, '.tccli', 'work.credential'),
      JSON.stringify({ secretId: w.accessKeyId, secretKey: w.accessKeySecret }),
    );
    await writeFixture(
      path.join(ctx.home, '.tccli', 'broken.credential'),
      `{"secretId": "${broken.accessKeyId}", "secretKey": ${broken.accessKeySecret}`,
    );
    await writeFixture(path.join(ctx.home, '.tccli', 'role.credential'), JSON.stringify({ type: 'cvm-role' }));
    const svc = service({ secretStore: new MemorySecretStore() });
    const list = await svc.listProfiles('tencent');
    assert.deepEqual(
      list.map((p) => [p.name, p.source, p.regions?.join(), p.keyIdHint]),
      [
        ['default', 'tccli', 'ap-chengdu', `${d.accessKeyId.slice(0, 4)}…${d.accessKeyId.slice(-4)}`],
        ['work', 'tccli', undefined, `${w.accessKeyId.slice(0, 4)}…${w.accessKeyId.slice(-4)}`],
      ],
    );
    assert.deepEqual(await svc.credentialsFor('tencent')(), d);
    assert.deepEqual(await svc.credentialsFor('tencent', 'work')(), w);
    assert.ok(
      ctx.logs.some((l) => l.includes('broken.credential is not valid JSON')),
      ctx.logs.join('\n'),
    );
    await rejectsKind(svc.removeProfile('tencent', 'work'), 'usage', /discovered from tccli[\s\S]*work\.credential/);
    // An edited file applies to the next call.
    const w2 = newCreds();
    await writeFixture(
      path.join(ctx.home, '.tccli', 'work.credential'),
      JSON.stringify({ secretId: w2.accessKeyId, secretKey: w2.accessKeySecret }),
    );
    assert.deepEqual(await svc.credentialsFor('tencent', 'work')(), w2);
  });

  it('aliyun CLI config: AK and StsToken profiles are discovered, `current` is the CLI default, other modes skipped', async () => {
    const ak = newCreds('LTAI');
    const sts = newCreds('STS.', true);
    const role = newCreds('LTAI');
    await writeFixture(
      path.join(ctx.home, '.aliyun', 'config.json'),
      JSON.stringify({
        current: 'prod',
        profiles: [
          {
            name: 'default',
            mode: 'RamRoleArn',
            access_key_id: role.accessKeyId,
            access_key_secret: role.accessKeySecret,
            ram_role_arn: 'acs:ram::1:role/x',
            region_id: 'cn-beijing',
          },
          { name: 'prod', mode: 'AK', access_key_id: ak.accessKeyId, access_key_secret: ak.accessKeySecret, region_id: 'cn-hangzhou' },
          {
            name: 'tmp',
            mode: 'StsToken',
            access_key_id: sts.accessKeyId,
            access_key_secret: sts.accessKeySecret,
            sts_token: sts.securityToken,
            region_id: 'cn-shanghai',
          },
        ],
      }),
    );
    const svc = service({ secretStore: new MemorySecretStore() });
    const list = await svc.listProfiles('alibaba');
    assert.deepEqual(
      list.map((p) => [p.name, p.source, p.kind, p.regions?.join()]),
      [
        ['prod', 'aliyun-cli', 'long-term', 'cn-hangzhou'],
        ['tmp', 'aliyun-cli', 'sts', 'cn-shanghai'],
      ],
    );
    const r = await svc.resolve('alibaba');
    assert.equal(r.profile.name, 'prod');
    assert.deepEqual(await r.credentials(), ak);
    assert.deepEqual(await svc.credentialsFor('alibaba', 'tmp')(), sts);
    await rejectsKind(svc.credentialsFor('alibaba', 'default')(), 'credentials', /no Alibaba Cloud profile named default/);
  });
});

describe('precedence', { skip: needsKeyring }, () => {
  it('no name: stored default → env → CLI default; a name: stored → discovered; nothing: three fixes', async () => {
    const cliDefault = newCreds();
    const envC = newCreds();
    const stored = newCreds();
    const storedWork = newCreds();
    // `default` and `work` are common account names: keep them in a service of their own (still the
    // real keychain) so no other test or earlier run can interfere.
    const keychain = new RenamedServiceStore(new KeytarSecretStore(5000), `kms-envelope-test-${hex(4)}`);
    ctx.cleanups.push(async () => {
      for (const a of await keychain.list(KEYCHAIN_SERVICE)) await keychain.delete(KEYCHAIN_SERVICE, a);
    });
    const env: NodeJS.ProcessEnv = {};
    const svc = service({ env, secretStore: keychain });
    await rejectsKind(
      svc.resolve('tencent'),
      'credentials',
      /No Tencent Cloud credentials[\s\S]*profiles add --provider tencent --name default[\s\S]*TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY[\s\S]*~\/\.tccli\/default\.credential/,
    );

    await writeFixture(
      path.join(ctx.home, '.tccli', 'default.credential'),
      JSON.stringify({ secretId: cliDefault.accessKeyId, secretKey: cliDefault.accessKeySecret }),
    );
    await writeFixture(
      path.join(ctx.home, '.tccli', 'work.credential'),
      JSON.stringify({ secretId: cliDefault.accessKeyId, secretKey: cliDefault.accessKeySecret }),
    );
    assert.equal((await svc.resolve('tencent')).profile.source, 'tccli');

    env.TENCENTCLOUD_SECRET_ID = envC.accessKeyId;
    env.TENCENTCLOUD_SECRET_KEY = envC.accessKeySecret;
    const viaEnv = await svc.resolve('tencent');
    assert.deepEqual([viaEnv.profile.name, viaEnv.profile.source], ['env', 'env']);
    assert.deepEqual(await viaEnv.credentials(), envC);

    await svc.addProfile({ provider: 'tencent', name: 'default' }, stored);
    const viaStored = await svc.resolve('tencent');
    assert.deepEqual([viaStored.profile.name, viaStored.profile.source], ['default', 'keychain']);
    assert.deepEqual(await svc.credentialsFor('tencent')(), stored);

    // Explicit names: the tccli `default` is shadowed by the stored one; `work` comes from tccli until stored.
    assert.deepEqual(await svc.credentialsFor('tencent', 'default')(), stored);
    assert.equal((await svc.resolve('tencent', 'work')).profile.source, 'tccli');
    await svc.addProfile({ provider: 'tencent', name: 'work' }, storedWork);
    assert.equal((await svc.resolve('tencent', 'work')).profile.source, 'keychain');
    assert.deepEqual(await svc.credentialsFor('tencent', 'work')(), storedWork);

    // Both stored and discovered profiles of the same name are listed, stored first.
    assert.deepEqual(
      (await svc.listProfiles('tencent')).map((p) => `${p.name}/${p.source}`),
      ['default/keychain', 'work/keychain', 'env/env', 'default/tccli', 'work/tccli'],
    );

    await svc.removeProfile('tencent', 'default');
    await svc.removeProfile('tencent', 'work');
    assert.equal((await svc.resolve('tencent')).profile.source, 'env');
    assert.deepEqual(await keychain.list(KEYCHAIN_SERVICE), []);
  });
});

describe('redaction of logged values', () => {
  it('masks SecretKey, AccessKeySecret, Plaintext, token and SecurityToken in objects and strings', () => {
    const obj = {
      SecretId: 'AKIDvisible?',
      SecretKey: 's1',
      AccessKeyId: 'LTAIkeyid',
      AccessKeySecret: 's2',
      Plaintext: 's3',
      token: 's4',
      SecurityToken: 's5',
      nested: { accessKeySecret: 's6', securityToken: 's7', 'X-TC-Token': 's8' },
      region: 'ap-guangzhou',
    };
    const r = redact(obj) as Record<string, any>;
    for (const k of ['SecretKey', 'AccessKeySecret', 'Plaintext', 'token', 'SecurityToken']) assert.equal(r[k], REDACTED, k);
    assert.deepEqual(r.nested, { accessKeySecret: REDACTED, securityToken: REDACTED, 'X-TC-Token': REDACTED });
    assert.equal(r.region, 'ap-guangzhou');
    assert.equal(r.AccessKeyId, 'LTAIkeyid');
    const s = redactString(
      'SecretKey=v1&AccessKeySecret=v2 {"Plaintext":"v3","token":"v4","SecurityToken":"v5"} X-TC-Token: v6 securityToken=v7',
    );
    for (const v of ['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']) assert.ok(!s.includes(v), `${v} survived: ${s}`);
    assert.ok(s.includes('SecretKey=') && s.includes('"SecurityToken":"[redacted]"'), s);
  });
});

describe('without a Secret Service', () => {
  it('adding or reading a stored profile fails with a clear credentials error in time, no hang, no crash', async () => {
    const script = path.join(ctx.root, 'no-keychain.ts');
    const src = `
      import { CredentialService } from ${JSON.stringify(path.join(REPO, 'src/core/credentials/service.ts'))};
      import { KeytarSecretStore } from ${JSON.stringify(path.join(REPO, 'src/core/secrets.ts'))};
      import { promises as fsp } from 'node:fs';
      (async () => {
      const out: Record<string, unknown> = {};
      const svc = new CredentialService({ secretStore: new KeytarSecretStore(3000), configDir: process.env.CFG!, env: {}, homeDir: process.env.HOME_DIR! });
      const describe = (e: any) => ({ kind: e.kind, message: e.message, hint: e.hint });
      try { await svc.addProfile({ provider: 'tencent', name: 'nokc' }, { accessKeyId: process.env.KID!, accessKeySecret: process.env.KSEC! }); out.add = 'ok'; }
      catch (e) { out.add = describe(e); }
      out.listed = (await svc.listProfiles()).length;
      await fsp.mkdir(process.env.CFG!, { recursive: true });
      await fsp.writeFile(process.env.CFG! + '/profiles.json', JSON.stringify({ version: 1, profiles: [{ provider: 'alibaba', name: 'default', kind: 'long-term' }] }));
      try { await svc.credentialsFor('alibaba')(); out.read = 'ok'; } catch (e) { out.read = describe(e); }
      process.stdout.write(JSON.stringify(out));
      })();
    `;
    await writeFixture(script, src);
    const c = newCreds();
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        HOME: ctx.home,
        DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
        CFG: path.join(ctx.root, 'nokc-config'),
        HOME_DIR: ctx.home,
        KID: c.accessKeyId,
        KSEC: c.accessKeySecret,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(-1);
      }, 30_000);
      child.on('exit', (n) => {
        clearTimeout(t);
        resolve(n);
      });
    });
    const elapsed = Date.now() - started;
    assert.equal(code, 0, `child exited ${code}: ${stderr}`);
    assert.ok(elapsed < 25_000, `took ${elapsed} ms`);
    const out = JSON.parse(stdout);
    assert.equal(out.add.kind, 'credentials', JSON.stringify(out));
    assert.match(out.add.message, /OS keychain/);
    assert.match(out.add.hint, /TENCENTCLOUD_SECRET_ID/);
    assert.equal(out.listed, 0, 'nothing half-added');
    assert.equal(out.read.kind, 'credentials');
    assert.match(out.read.message, /Alibaba Cloud profile default/);
    for (const s of ctx.secrets) assert.ok(!stdout.includes(s) && !stderr.includes(s), 'secret in the child output');
  });
});

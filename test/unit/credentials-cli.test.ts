/**
 * `kms-envelope profiles …` (profilesCommand, errors printed by common.ts's printError as main.ts does) with the REAL OS keychain (scripts/with-keyring.sh):
 * secrets from piped stdin lines and from a (fake) terminal with hidden input, list / test /
 * rotate / remove, `profiles test` through the real Tencent / Alibaba providers and their official
 * SDKs against a canned loopback server, and no secret in any file, output or log afterwards.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { printError, type Io } from '../../src/cli/common';
import { profilesCommand, type ProfilesDeps } from '../../src/cli/profiles';
import { CredentialService } from '../../src/core/credentials/service';
import type { CreateProviderFn } from '../../src/core/credentials/test-profile';
import { createProvider } from '../../src/core/kms/registry';
import { KEYCHAIN_SERVICE, KeytarSecretStore } from '../../src/core/secrets';

const IN_KEYRING = process.env.KMS_ENVELOPE_IN_KEYRING === '1';
const needsKeyring = IN_KEYRING ? false : 'needs the real keychain: run under scripts/with-keyring.sh';
const REPO = path.resolve(__dirname, '..', '..');
const hex = (n: number) => randomBytes(n).toString('hex');

interface Ctx {
  root: string;
  configDir: string;
  home: string;
  secrets: string[];
  accounts: string[];
  outputs: string[];
  servers: http.Server[];
}
let ctx: Ctx;

function creds(prefix = 'AKID') {
  const c = { id: `${prefix}${hex(14)}`, secret: `sk${hex(16)}`, token: `tok${hex(40)}` };
  ctx.secrets.push(c.id, c.secret, c.token);
  return c;
}

function svc(env: NodeJS.ProcessEnv = {}) {
  return new CredentialService({ secretStore: new KeytarSecretStore(5000), configDir: ctx.configDir, env, homeDir: ctx.home });
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  argv: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; createProvider?: CreateProviderFn } = {},
): Promise<RunResult> {
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  if (opts.input !== undefined) stdin.end(opts.input);
  else stdin.end();
  const env = opts.env ?? {};
  const code = await profiles(
    argv,
    { stdin, stdout, stderr, env },
    { service: svc(env), createProvider: opts.createProvider, testTimeoutMs: 10_000 },
  );
  ctx.outputs.push(out, err);
  return { code, stdout: out, stderr: err };
}

/** `kms-envelope profiles …` as main.ts runs it: the command, and printError for what it throws. */
async function profiles(
  argv: string[],
  streams: { stdin: PassThrough; stdout: PassThrough; stderr: PassThrough; env: NodeJS.ProcessEnv },
  deps: ProfilesDeps,
): Promise<number> {
  const io = { ...streams, signal: new AbortController().signal } as unknown as Io;
  try {
    return await profilesCommand(argv, io, deps);
  } catch (err) {
    return printError(io, err);
  }
}

/** A canned KMS on 127.0.0.1 that answers the region-list call of both clouds and records requests. */
async function regionServer(reply: 'ok' | 'authfail') {
  const seen: Array<{ headers: http.IncomingHttpHeaders; url: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ headers: req.headers, url: req.url ?? '', body });
      const isTencent = !!req.headers['x-tc-action'];
      res.writeHead(reply === 'ok' || isTencent ? 200 : 404, { 'content-type': 'application/json' });
      if (isTencent) {
        res.end(
          JSON.stringify(
            reply === 'ok'
              ? { Response: { Regions: ['ap-guangzhou', 'ap-shanghai', 'ap-beijing'], RequestId: 'r1' } }
              : { Response: { Error: { Code: 'AuthFailure.SecretIdNotFound', Message: 'The SecretId is not found' }, RequestId: 'r2' } },
          ),
        );
      } else {
        res.end(
          JSON.stringify(
            reply === 'ok'
              ? { RequestId: 'r3', Regions: { Region: [{ RegionId: 'cn-hangzhou' }, { RegionId: 'cn-shanghai' }] } }
              : { RequestId: 'r4', HostId: 'h', Code: 'InvalidAccessKeyId.NotFound', Message: 'Specified access key is not found.' },
          ),
        );
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ctx.servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** createProvider for the clouds through the shared factory (the real providers and official SDKs). */
const cloudFactory: CreateProviderFn = (name, o) =>
  createProvider(name, {
    profile: o.profile,
    credentials: o.credentials,
    settings: o.settings,
    endpoint: o.endpoint,
    retry: { maxAttempts: 1 },
  });

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

function inKeychain(account: string): string {
  const r = spawnSync('secret-tool', ['search', 'service', KEYCHAIN_SERVICE, 'account', account], { encoding: 'utf8', timeout: 10_000 });
  return (r.stdout ?? '') + (r.stderr ?? '');
}

beforeEach(async () => {
  const root = await fsp.mkdtemp(path.join(os.tmpdir(), 'kmse-cli-'));
  ctx = { root, configDir: path.join(root, 'config'), home: path.join(root, 'home'), secrets: [], accounts: [], outputs: [], servers: [] };
  await fsp.mkdir(ctx.home, { recursive: true });
});

afterEach(async () => {
  for (const s of ctx.servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  for (const f of await walk(ctx.root)) {
    const text = await fsp.readFile(f, 'latin1');
    for (const s of ctx.secrets) assert.ok(!text.includes(s), `secret value found in ${f}`);
  }
  const printed = ctx.outputs.join('\n');
  for (const s of ctx.secrets) assert.ok(!printed.includes(s), 'secret value printed on stdout/stderr');
  if (IN_KEYRING) for (const a of ctx.accounts) await new KeytarSecretStore(5000).delete(KEYCHAIN_SERVICE, a).catch(() => undefined);
  await fsp.rm(ctx.root, { recursive: true, force: true });
});

describe('profiles add/list/rotate/remove through stdin and the real keychain', { skip: needsKeyring }, () => {
  it('a new user adds a Tencent and an Alibaba profile, tests both, removes one; secrets only in the keychain', async () => {
    const tc = creds('AKID');
    const al = creds('LTAI');
    const tName = `dev-${hex(3)}`;
    const aName = `prod-${hex(3)}`;
    ctx.accounts.push(`tencent:${tName}`, `alibaba:${aName}`);
    const server = await regionServer('ok');

    let r = await run(['add', '--provider', 'tencent', '--name', tName, '--region', 'ap-guangzhou', '--endpoint', server.url], {
      input: `${tc.id}\n${tc.secret}\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`Saved tencent profile ${tName} \\(key AKID…${tc.id.slice(-4)}\\); the secret is in the OS keychain`),
    );
    r = await run(['add', '--provider', 'alibaba', '--profile', aName, '--region', 'cn-hangzhou', '--endpoint', server.url, '--test'], {
      input: `${al.id}\r\n${al.secret}\r\n`,
      createProvider: cloudFactory,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`OK    alibaba/${aName} \\(not saved yet\\): answered with 2 regions at ${server.url}`));
    assert.match(r.stdout, new RegExp(`Saved alibaba profile ${aName} \\(key LTAI…`));

    assert.match(inKeychain(`tencent:${tName}`), new RegExp(`label = kms-envelope/tencent:${tName}`));
    assert.match(inKeychain(`alibaba:${aName}`), new RegExp(`label = kms-envelope/alibaba:${aName}`));

    r = await run(['list']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^PROVIDER\s+NAME\s+SOURCE\s+KIND\s+KEY ID\s+REGIONS\s+ENDPOINT$/m);
    assert.match(
      r.stdout,
      new RegExp(`^tencent\\s+${tName}\\s+keychain\\s+long-term\\s+AKID…${tc.id.slice(-4)}\\s+ap-guangzhou\\s+${server.url}$`, 'm'),
    );
    assert.match(r.stdout, new RegExp(`^alibaba\\s+${aName}\\s+keychain\\s+long-term\\s+LTAI…${al.id.slice(-4)}\\s+cn-hangzhou`, 'm'));
    r = await run(['list', '--json', '--provider', 'alibaba']);
    const json = JSON.parse(r.stdout);
    assert.deepEqual(json, [
      {
        provider: 'alibaba',
        name: aName,
        kind: 'long-term',
        source: 'keychain',
        regions: ['cn-hangzhou'],
        endpoint: server.url,
        keyIdHint: `LTAI…${al.id.slice(-4)}`,
      },
    ]);

    // Both at once: each request is signed with its own profile's key id.
    server.seen.length = 0;
    r = await run(['test', '--name', tName], { createProvider: cloudFactory });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`OK    tencent/${tName} \\(keychain\\): answered with 3 regions`));
    r = await run(['test'], { createProvider: cloudFactory });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`OK    tencent/${tName}`));
    assert.match(r.stdout, new RegExp(`OK    alibaba/${aName}`));
    const tcReq = server.seen.find((s) => s.headers['x-tc-action'] === 'GetRegions');
    assert.match(String(tcReq?.headers.authorization), new RegExp(`Credential=${tc.id}/`));
    const alReq = server.seen.find((s) => !s.headers['x-tc-action']);
    assert.ok(
      alReq && (alReq.url + alReq.body + JSON.stringify(alReq.headers)).includes(al.id),
      'alibaba request signed with its AccessKey ID',
    );

    // Remove one: gone from keychain and list; the other keeps working.
    r = await run(['remove', '--name', tName]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Removed tencent profile ${tName} and its secret from the OS keychain`));
    assert.ok(!inKeychain(`tencent:${tName}`).includes(`tencent:${tName}`));
    assert.equal(await new KeytarSecretStore().get(KEYCHAIN_SERVICE, `tencent:${tName}`), undefined);
    r = await run(['test', '--provider', 'tencent', '--name', tName], { createProvider: cloudFactory });
    assert.equal(r.code, 4);
    assert.match(r.stderr, new RegExp(`no Tencent Cloud profile named ${tName}`));
    r = await run(['test', '--provider', 'alibaba', '--name', aName], { createProvider: cloudFactory });
    assert.equal(r.code, 0, r.stderr);
  });

  it('rotate reads the new secret from stdin; --sts stores token and expiry; an expired key fails the test with exit 4', async () => {
    const c1 = creds();
    const c2 = creds('STS.');
    const name = `rot-${hex(3)}`;
    ctx.accounts.push(`tencent:${name}`);
    let r = await run(['add', '--provider', 'tencent', '--name', name], { input: `${c1.id}\n${c1.secret}\n` });
    assert.equal(r.code, 0, r.stderr);
    r = await run(['add', '--provider', 'tencent', '--name', name], { input: `${c2.id}\n${c2.secret}\n` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already exists[\s\S]*profiles rotate/);
    r = await run(['rotate', '--provider', 'tencent', '--name', name, '--sts', '--expiration', '2001-01-01T00:00:00Z'], {
      input: `${c2.id}\n${c2.secret}\n${c2.token}\n`,
    });
    assert.equal(r.code, 0, r.stderr);
    const stored = JSON.parse((await new KeytarSecretStore().get(KEYCHAIN_SERVICE, `tencent:${name}`))!);
    assert.deepEqual(stored, {
      accessKeyId: c2.id,
      accessKeySecret: c2.secret,
      securityToken: c2.token,
      expiration: '2001-01-01T00:00:00.000Z',
    });
    r = await run(['list']);
    assert.match(r.stdout, /sts \(EXPIRED 2001-01-01T00:00:00\.000Z\)/);
    r = await run(['test', '--provider', 'tencent', '--name', name], { createProvider: cloudFactory });
    assert.equal(r.code, 4);
    assert.match(r.stderr, new RegExp(`temporary key of Tencent Cloud profile ${name} expired at 2001-01-01T00:00:00.000Z; rotate it`));
  });

  it('a rejected key: `profiles test` says what the cloud said and exits 4', async () => {
    const c = creds();
    const name = `bad-${hex(3)}`;
    ctx.accounts.push(`tencent:${name}`);
    const server = await regionServer('authfail');
    assert.equal(
      (await run(['add', '--provider', 'tencent', '--name', name, '--endpoint', server.url], { input: `${c.id}\n${c.secret}\n` })).code,
      0,
    );
    const r = await run(['test', '--provider', 'tencent', '--name', name], { createProvider: cloudFactory });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, new RegExp(`FAIL  tencent/${name} \\(keychain\\):`));
    assert.match(r.stderr, /SecretIdNotFound|SecretId/);
  });

  it('add --test with a wrong secret stores nothing (no profile, no keychain entry) unless --save-anyway', async () => {
    const c = creds();
    const name = `typo-${hex(3)}`;
    ctx.accounts.push(`tencent:${name}`);
    const server = await regionServer('authfail');
    const add = (...extra: string[]) =>
      run(['add', '--provider', 'tencent', '--name', name, '--endpoint', server.url, '--test', ...extra], {
        input: `${c.id}\n${c.secret}\n`,
        createProvider: cloudFactory,
      });
    let r = await add();
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, new RegExp(`FAIL  tencent/${name} \\(not saved yet\\):.*SecretId`));
    assert.match(r.stderr, new RegExp(`Not saved: the test of tencent profile ${name} failed, so nothing was stored`));
    assert.match(r.stderr, /--save-anyway/);
    assert.doesNotMatch(r.stdout, /Saved/);
    assert.equal(server.seen.length, 1, 'tested once, with the typed credentials');
    assert.equal(await svc().getProfile('tencent', name), undefined, 'no profile');
    if (IN_KEYRING) assert.doesNotMatch(inKeychain(`tencent:${name}`), /label/, 'no keychain entry');
    assert.doesNotMatch((await run(['list'])).stdout, new RegExp(name));

    r = await add('--save-anyway');
    assert.equal(r.code, 4, 'the test still failed');
    assert.match(
      r.stdout,
      new RegExp(`Saved tencent profile ${name} \\(key AKID…${c.id.slice(-4)}\\) although its test failed \\(--save-anyway\\)`),
    );
    assert.equal((await svc().getProfile('tencent', name))?.name, name);
    const bad = await run(['add', '--provider', 'tencent', '--name', `x-${hex(2)}`, '--save-anyway'], { input: `${c.id}\n${c.secret}\n` });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--save-anyway applies to --test only/);
  });

  it('terminal: prompts on stderr and does not echo the secret', async () => {
    const c = creds();
    const name = `tty-${hex(3)}`;
    ctx.accounts.push(`tencent:${name}`);
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let err = '';
    let out = '';
    stdout.on('data', (d) => (out += d));
    const answers: Array<[RegExp, string]> = [
      [/SecretId: $/, c.id],
      [/SecretKey \(hidden\): $/, c.secret],
    ];
    stderr.on('data', (d) => {
      err += d;
      const next = answers[0];
      if (next && next[0].test(err)) {
        answers.shift();
        stdin.write(`${next[1]}\r`);
      }
    });
    Object.assign(stdin, { isTTY: true });
    const code = await profiles(['add', '--provider', 'tencent', '--name', name], { stdin, stdout, stderr, env: {} }, { service: svc() });
    ctx.outputs.push(out, err);
    assert.equal(code, 0, err);
    assert.match(err, /SecretId: /);
    assert.match(err, /SecretKey \(hidden\): /);
    assert.ok(err.includes(c.id.slice(0, 8)), 'the key id is echoed (not a secret)');
    assert.deepEqual(JSON.parse((await new KeytarSecretStore().get(KEYCHAIN_SERVICE, `tencent:${name}`))!), {
      accessKeyId: c.id,
      accessKeySecret: c.secret,
    });
    // ctx.outputs holds stderr: afterEach asserts the secret was never echoed. The key id, which is
    // echoed on purpose, is not a secret; take it out of the list checked.
    ctx.secrets.splice(ctx.secrets.indexOf(c.id), 1);
  });
});

describe('profiles: usage errors never echo secrets', () => {
  it('secret-like options, stray arguments, too few stdin lines, unknown provider', async () => {
    const c = creds();
    let r = await run(['add', '--provider', 'tencent', '--name', 'x', `--secret-key=${c.secret}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--secret-key is not an option: secrets are never taken from the command line/);
    r = await run(['add', '--provider', 'tencent', '--name', 'x', c.secret]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unexpected argument #2 after "profiles add"/);
    r = await run(['add', '--provider', 'tencent', '--name', `x-${hex(3)}`], { input: `${c.id}\n` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Expected 2 lines on stdin \(SecretId, SecretKey\), got 1/);
    r = await run(['add', '--provider', 'gcp', '--name', 'x'], { input: `${c.id}\n${c.secret}\n` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Unknown provider "gcp"/);
    r = await run(['list', '--provider', 'local']);
    assert.equal(r.code, 1);
    r = await run([]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Usage: kms-envelope profiles/);
    r = await run(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: kms-envelope profiles/);
    assert.deepEqual(await walk(ctx.configDir), []);
  });

  it('discovered profiles are listed with their source and are read-only', async () => {
    const c = creds();
    const env = { TENCENTCLOUD_SECRET_ID: c.id, TENCENTCLOUD_SECRET_KEY: c.secret, KMS_ENVELOPE_ENDPOINT: 'http://127.0.0.1:1' };
    let r = await run(['list'], { env });
    assert.match(r.stdout, new RegExp(`^tencent\\s+env\\s+env\\s+long-term\\s+AKID…${c.id.slice(-4)}\\s+http://127\\.0\\.0\\.1:1$`, 'm'));
    r = await run(['rotate', '--provider', 'tencent', '--name', 'env'], { env, input: `${c.id}\n${c.secret}\n` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /discovered from env and is read-only/);
    r = await run(['remove', '--provider', 'tencent', '--name', 'env'], { env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /read-only/);
  });
});

describe('profiles without a Secret Service', () => {
  it('add fails with exit 4 and a clear message within the timeout; list still works', async () => {
    const c = creds();
    const script = path.join(ctx.root, 'cli-no-keychain.ts');
    await fsp.writeFile(
      script,
      `import { printError } from ${JSON.stringify(path.join(REPO, 'src/cli/common.ts'))};
       import { profilesCommand } from ${JSON.stringify(path.join(REPO, 'src/cli/profiles.ts'))};
       const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env, signal: new AbortController().signal };
       profilesCommand(process.argv.slice(2), io).then((code) => { process.exitCode = code; }, (err) => { process.exitCode = printError(io, err); });`,
    );
    const env = {
      PATH: process.env.PATH,
      HOME: ctx.home,
      DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
      KMS_ENVELOPE_CONFIG_DIR: ctx.configDir,
    };
    const runChild = (args: string[], input: string) =>
      new Promise<RunResult & { ms: number }>((resolve) => {
        const started = Date.now();
        const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('exit', (code) => {
          clearTimeout(t);
          resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
        });
        child.stdin.end(input);
      });
    const r = await runChild(['add', '--provider', 'alibaba', '--name', 'default'], `${c.id}\n${c.secret}\n`);
    ctx.outputs.push(r.stdout, r.stderr);
    assert.equal(r.code, 4, r.stderr);
    assert.ok(r.ms < 25_000, `took ${r.ms} ms`);
    assert.match(r.stderr, /OS keychain[\s\S]*while storing the secret of Alibaba Cloud profile default[\s\S]*ALIBABA_CLOUD_ACCESS_KEY_ID/);
    const l = await runChild(['list'], '');
    ctx.outputs.push(l.stdout, l.stderr);
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /No profiles/);
  });
});

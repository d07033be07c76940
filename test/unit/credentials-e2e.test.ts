/**
 * Issue 5 "done when", end to end: a new user adds a Tencent and an Alibaba profile through the
 * real `kms-envelope` command line (src/cli/main.ts in a child process, secrets piped on stdin)
 * against the KMS emulator on 127.0.0.1, sees them tested OK, uses both at once through the
 * provider registry, removes one, and no secret of theirs exists anywhere but the keychain.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openProvider } from '../../src/core/credentials/connect';
import { createCliCredentialService } from '../../src/core/credentials/index';
import { KEYCHAIN_SERVICE, KeytarSecretStore } from '../../src/core/secrets';
import { startEmulator, type RunningEmulator } from '../../src/emulator';

const IN_KEYRING = process.env.KMS_ENVELOPE_IN_KEYRING === '1';
const REPO = path.resolve(__dirname, '..', '..');
const hex = (n: number) => randomBytes(n).toString('hex');

describe(
  'profiles end to end against the emulator',
  { skip: IN_KEYRING ? false : 'needs the real keychain: run under scripts/with-keyring.sh' },
  () => {
    let emu: RunningEmulator;
    let root: string;
    let env: NodeJS.ProcessEnv;
    const tName = `dev-${hex(3)}`;
    const aName = `dev-${hex(3)}`;
    const printed: string[] = [];

    const cli = (args: string[], input = '') =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'src/cli/main.ts'), ...args], {
          cwd: REPO,
          env,
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.on('exit', (code) => {
          clearTimeout(t);
          printed.push(stdout, stderr);
          resolve({ code: code ?? -1, stdout, stderr });
        });
        child.stdin.end(input);
      });

    before(async () => {
      emu = await startEmulator({ seed: true });
      root = await fsp.mkdtemp(path.join(os.tmpdir(), 'kmse-e2e-'));
      await fsp.mkdir(path.join(root, 'home'));
      env = {
        PATH: process.env.PATH,
        HOME: path.join(root, 'home'),
        TMPDIR: path.join(root, 'home'),
        KMS_ENVELOPE_CONFIG_DIR: path.join(root, 'config'),
        DBUS_SESSION_BUS_ADDRESS: process.env.DBUS_SESSION_BUS_ADDRESS,
      };
    });

    after(async () => {
      await emu?.stop();
      const store = new KeytarSecretStore(5000);
      await store.delete(KEYCHAIN_SERVICE, `tencent:${tName}`).catch(() => undefined);
      await store.delete(KEYCHAIN_SERVICE, `alibaba:${aName}`).catch(() => undefined);
      if (root) await fsp.rm(root, { recursive: true, force: true });
    });

    it('add both (one STS), test OK, use both at once, remove one; secrets only in the keychain', async () => {
      const def = emu.accounts.find((a) => a.name === 'default')!;
      const sts = emu.accounts.find((a) => a.name === 'sts')!;
      assert.ok(sts.alibaba.securityToken, 'the emulator has an STS account');
      const secrets = [def.tencent.secretKey, sts.alibaba.accessKeySecret, sts.alibaba.securityToken!];

      let r = await cli(
        ['profiles', 'add', '--provider', 'tencent', '--name', tName, '--endpoint', emu.url, '--region', 'ap-guangzhou', '--test'],
        `${def.tencent.secretId}\n${def.tencent.secretKey}\n`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`OK    tencent/${tName} \\(not saved yet\\): answered with \\d+ regions at ${emu.url}`));
      r = await cli(
        ['profiles', 'add', '--provider', 'alibaba', '--name', aName, '--endpoint', emu.url, '--region', 'cn-hangzhou', '--sts', '--test'],
        `${sts.alibaba.accessKeyId}\n${sts.alibaba.accessKeySecret}\n${sts.alibaba.securityToken}\n`,
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`OK    alibaba/${aName} \\(not saved yet\\): answered with \\d+ regions`));

      r = await cli(['profiles', 'list', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        (JSON.parse(r.stdout) as Array<{ provider: string; name: string; kind: string }>).map((p) => `${p.provider}/${p.name}/${p.kind}`),
        [`tencent/${tName}/long-term`, `alibaba/${aName}/sts`],
      );

      // Both at once: two providers built from the two profiles (the CLI's credential service hands
      // each its credentials), data keys in parallel.
      const service = createCliCredentialService({ env });
      const [tc, al] = await Promise.all([
        openProvider(service, 'tencent', { profile: tName, env }),
        openProvider(service, 'alibaba', { profile: aName, env }),
      ]);
      const [tKeys, aKeys] = await Promise.all([tc.listKeys('ap-guangzhou'), al.listKeys('cn-hangzhou')]);
      const tKey = tKeys.keys.find((k) => k.state === 'Enabled') ?? (await tc.createKey('ap-guangzhou', { description: 'e2e' }));
      const aKey = aKeys.keys.find((k) => k.state === 'Enabled') ?? (await al.createKey('cn-hangzhou', { description: 'e2e' }));
      const ctx = { purpose: 'e2e' };
      const [tDk, aDk] = await Promise.all([
        tc.generateDataKey('ap-guangzhou', tKey.keyId, ctx),
        al.generateDataKey('cn-hangzhou', aKey.keyId, ctx),
      ]);
      const [tBack, aBack] = await Promise.all([
        tc.decryptDataKey('ap-guangzhou', tKey.keyId, tDk.ciphertext, ctx),
        al.decryptDataKey('cn-hangzhou', aKey.keyId, aDk.ciphertext, ctx),
      ]);
      assert.ok(tBack.plaintext.equals(tDk.plaintext) && aBack.plaintext.equals(aDk.plaintext));
      for (const b of [tDk.plaintext, aDk.plaintext, tBack.plaintext, aBack.plaintext]) b.fill(0);
      (tc as { dispose?: () => void }).dispose?.();
      (al as { dispose?: () => void }).dispose?.();

      // Remove the Tencent one: gone from the keychain; the Alibaba one keeps working.
      r = await cli(['profiles', 'remove', '--name', tName]);
      assert.equal(r.code, 0, r.stderr);
      const st = spawnSync('secret-tool', ['search', 'service', KEYCHAIN_SERVICE, 'account', `tencent:${tName}`], { encoding: 'utf8' });
      assert.ok(!(st.stdout + st.stderr).includes(def.tencent.secretKey));
      assert.ok(
        (
          spawnSync('secret-tool', ['search', 'service', KEYCHAIN_SERVICE, 'account', `alibaba:${aName}`], { encoding: 'utf8' }).stdout ??
          ''
        ).includes(`alibaba:${aName}`),
      );
      r = await cli(['profiles', 'test', '--provider', 'tencent', '--name', tName]);
      assert.equal(r.code, 4);
      r = await cli(['profiles', 'test', '--name', aName]);
      assert.equal(r.code, 0, r.stderr);

      // No secret anywhere but the keychain: every file under the temp root (config dir, HOME, TMPDIR
      // of the children) and everything the CLI printed.
      const files: string[] = [];
      const walk = async (d: string) => {
        for (const e of await fsp.readdir(d, { withFileTypes: true })) {
          const p = path.join(d, e.name);
          if (e.isDirectory()) await walk(p);
          else if (e.isFile()) files.push(p);
        }
      };
      await walk(root);
      assert.ok(files.some((f) => f.endsWith('profiles.json')));
      for (const f of files) {
        const text = await fsp.readFile(f, 'latin1');
        for (const s of secrets) assert.ok(!text.includes(s), `secret in ${f}`);
      }
      for (const s of secrets) assert.ok(!printed.join('\n').includes(s), 'secret printed by the CLI');
    });
  },
);

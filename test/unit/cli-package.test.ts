/**
 * The kms-envelope CLI as an npm package, the way a user gets it: `npm run pack:cli` stages and packs
 * it, `npm install -g` of the tarball into a clean prefix installs keytar and builds it as npm does
 * for anyone (offline here: node-gyp against the local Node headers), and the installed
 * `kms-envelope` creates a local key in the OS keychain, seals and unseals with it. Slow by nature
 * (npm install + a native build): about 10 s on an idle machine, 25 s on a loaded one.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const root = resolve(__dirname, '..', '..');
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

describe('CLI npm package: npm pack → npm install -g → kms-envelope', { timeout: 300_000 }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kms-envelope-cli-package-'));
  const prefix = join(tmp, 'prefix');
  const work = join(tmp, 'work');
  let tarball = '';
  after(() => rmSync(tmp, { recursive: true, force: true }));

  before(() => {
    mkdirSync(work, { recursive: true });
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'pack-cli.mjs'), '--out-dir', join(tmp, 'pack')], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(r.status, 0, `pack-cli failed:\n${r.stdout}\n${r.stderr}`);
    tarball = r.stdout.trim().split('\n').at(-1)!;
    assert.equal(tarball, join(tmp, 'pack', `${rootPkg.name}-${rootPkg.version}.tgz`));
  });

  const listTarball = () => {
    const r = spawnSync('tar', ['tzf', tarball], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  };
  const packedManifest = () => {
    const r = spawnSync('tar', ['xzf', tarball, '-O', 'package/package.json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  };

  it('holds the built CLI and the docs only: no sources, maps, extension bundle or node_modules', () => {
    const files = listTarball();
    for (const f of [
      'package/package.json',
      'package/README.md',
      'package/LICENSE',
      'package/CHANGELOG.md',
      'package/dist/cli.js',
      'package/dist/cli/main.mjs',
    ])
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    const other = files.filter(
      (f) => !/^package\/(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/cli\.js|dist\/cli\/(main|chunks\/[\w-]+)\.mjs)$/.test(f),
    );
    assert.deepEqual(other, [], 'unexpected files in the CLI package');
  });

  it('its manifest: publishable, a bin, the root version, and keytar as the only dependency (everything else is bundled)', () => {
    const m = packedManifest();
    assert.equal(m.private, undefined);
    assert.equal(m.name, rootPkg.name);
    assert.equal(m.version, rootPkg.version);
    assert.deepEqual(m.bin, { 'kms-envelope': 'dist/cli.js' });
    assert.deepEqual(m.dependencies, { keytar: rootPkg.dependencies.keytar });
    for (const k of ['devDependencies', 'contributes', 'scripts', 'main', 'activationEvents', 'allowScripts'])
      assert.equal(m[k], undefined, k);
    assert.deepEqual(m.repository, rootPkg.repository);
    assert.equal(m.engines.node, rootPkg.engines.node);
  });

  it('npm install -g into a clean prefix builds keytar and gives a kms-envelope that seals and unseals with a local key', () => {
    const t0 = Date.now();
    // As the README says; cwd outside the checkout, so nothing of the project's npm setup applies.
    const npm = spawnSync(
      'npm',
      ['install', '-g', '--prefix', prefix, '--allow-scripts=keytar', '--no-audit', '--no-fund', '--loglevel=error', tarball],
      { cwd: work, encoding: 'utf8', timeout: 240_000 },
    );
    assert.equal(npm.status, 0, `npm install -g failed:\n${npm.stdout}\n${npm.stderr}`);
    const installMs = Date.now() - t0;
    const pkgDir = join(prefix, 'lib', 'node_modules', rootPkg.name);
    readFileSync(join(pkgDir, 'node_modules', 'keytar', 'build', 'Release', 'keytar.node')); // built here, for this platform

    // Nothing of the extension's dev tooling or of the bundled libraries was installed.
    const installed = new Set<string>();
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (!e.isDirectory()) continue;
        if (e.name.startsWith('@')) {
          for (const s of readdirSync(join(dir, e.name))) installed.add(`${e.name}/${s}`);
          continue;
        }
        installed.add(e.name);
        try {
          walk(join(dir, e.name, 'node_modules'));
        } catch {
          /* no nested node_modules */
        }
      }
    };
    walk(join(pkgDir, 'node_modules'));
    assert.ok(installed.has('keytar'));
    const dragged = [...Object.keys(rootPkg.devDependencies), ...Object.keys(rootPkg.dependencies).filter((d) => d !== 'keytar')].filter(
      (d) => installed.has(d),
    );
    assert.deepEqual(dragged, [], 'the CLI package installed libraries it does not need');

    const bin = join(prefix, 'bin', 'kms-envelope');
    assert.equal(realpathSync(bin), join(realpathSync(pkgDir), 'dist', 'cli.js'));
    const env = { ...process.env, KMS_ENVELOPE_CONFIG_DIR: join(tmp, 'config'), PATH: `${join(prefix, 'bin')}:${process.env.PATH}` };
    const cli = (args: string[], input?: string) => {
      const r = spawnSync('kms-envelope', args, { cwd: work, env, input, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `kms-envelope ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    assert.equal(cli(['--version']).trim(), `kms-envelope ${rootPkg.version}`);
    const alias = `pkg-${process.pid}`;
    cli(['keys', 'create', '--provider', 'local', '--alias', alias]);
    const secret = `DB_PASSWORD=${tmp}\n`;
    writeFileSync(join(work, 'app.env'), secret);
    cli(['seal', 'app.env', '--key', `local:local:${alias}`, '--context', 'app=pkg-test']);
    assert.ok(!readFileSync(join(work, 'app.env.sealed')).includes(Buffer.from(tmp)), 'the sealed file holds the plaintext');
    rmSync(join(work, 'app.env'));
    cli(['unseal', 'app.env.sealed', '-o', 'app.env']);
    assert.equal(readFileSync(join(work, 'app.env'), 'utf8'), secret);
    assert.equal(cli(['unseal', '-'], cli(['seal', '-', '--key', `local:local:${alias}`, '--armor'], 'v=1')), 'v=1');
    console.log(`# npm install -g of the CLI package: ${installMs} ms`);
  });
});

/**
 * What a user meets before running anything: the release workflow that builds one .vsix per platform
 * plus the universal one (it cannot run here, so its file is parsed and checked against
 * scripts/package.sh), the manifest's listing and trust / remote declarations, the Marketplace icon
 * rendered from media/icon.svg, and `vsce ls`: exactly the files each package ships.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { parse } from 'yaml';

const root = resolve(__dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const tmp = mkdtempSync(join(tmpdir(), 'kms-envelope-packaging-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...opts.env } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** scripts/package.sh's TARGETS=(...) line: every package we publish. */
function packageTargets(): string[] {
  const m = /^TARGETS=\((.*)\)$/m.exec(readFileSync(join(root, 'scripts', 'package.sh'), 'utf8'));
  assert.ok(m, 'scripts/package.sh has no TARGETS=(...) line');
  return m[1].trim().split(/\s+/);
}

describe('release workflow (.github/workflows/release.yml)', () => {
  const wf = parse(readFileSync(join(root, '.github', 'workflows', 'release.yml'), 'utf8'));
  const job = wf.jobs.package;
  const include: Array<Record<string, string>> = job.strategy.matrix.include;

  it('builds every target of scripts/package.sh, each once, and only targets vsce knows', () => {
    const targets = packageTargets();
    assert.ok(
      targets.includes('universal') && targets.includes('linux-x64') && targets.includes('win32-x64') && targets.includes('darwin-arm64'),
    );
    const inMatrix = include.map((e) => e.target);
    assert.deepEqual([...inMatrix].sort(), [...targets].sort(), 'the matrix and scripts/package.sh TARGETS differ');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const vsceTargets = require(join(root, 'node_modules', '@vscode', 'vsce', 'out', 'package.js')).Targets as Set<string>;
    for (const t of targets) assert.ok(t === 'universal' || vsceTargets.has(t), `${t} is not a vsce target`);
  });

  it('runs each target on Linux, macOS or Windows of its own CPU (a container of it for Alpine and armhf), full npm test where Debian can run it', () => {
    const runners = new Set(include.map((e) => e.runner));
    for (const os of ['ubuntu', 'macos', 'windows'])
      assert.ok(
        [...runners].some((r) => r.startsWith(os)),
        `no ${os} runner`,
      );
    for (const e of include) {
      const [os, cpu] = e.target.split('-');
      if (os === 'darwin') assert.match(e.runner, cpu === 'x64' ? /^macos-.*intel/ : /^macos-\d+$/);
      if (os === 'win32') assert.match(e.runner, cpu === 'arm64' ? /^windows-.*arm/ : /^windows-/);
      if (os === 'linux' || os === 'alpine') {
        assert.ok(e.image, `${e.target} builds in a container`);
        assert.equal(e.image.includes('alpine'), os === 'alpine', `${e.target} image ${e.image}`);
        if (cpu === 'arm64') assert.match(e.runner, /-arm$/);
        if (cpu === 'armhf') assert.equal(e.platform, 'linux/arm/v7');
      }
      assert.ok(['full', 'build'].includes(e.tests), `${e.target}: tests ${e.tests}`);
    }
    assert.equal(include.find((e) => e.target === 'linux-x64')?.tests, 'full');
    assert.match(include.find((e) => e.target === 'linux-x64')!.image, /bookworm/, 'npm test needs Debian 12 like .ci/run');
  });

  it('every job step packages through scripts/release-package.sh → scripts/package.sh --target and uploads its .vsix', () => {
    const runs = job.steps.filter((s: { run?: string }) => s.run).map((s: { run: string }) => s.run);
    assert.equal(runs.length, 2, 'a step on the runner and one in the container');
    for (const r of runs) {
      assert.ok(r.includes('bash scripts/release-package.sh'), r);
      assert.ok(r.includes('"${{ matrix.target }}" "${{ matrix.tests }}"'), r);
    }
    const upload = job.steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/upload-artifact'));
    assert.equal(upload.with.path, 'dist/kms-envelope-*-${{ matrix.target }}.vsix', 'each job uploads its own target only');
    assert.equal(upload.with['if-no-files-found'], 'error');
    const script = readFileSync(join(root, 'scripts', 'release-package.sh'), 'utf8');
    assert.match(script, /bash scripts\/package\.sh --target "\$target"/);
    assert.match(script, /bash \.ci\/run/, 'full tests are what CI runs');
    assert.match(script, /npm ci/);
  });

  it('publishes every .vsix to the Marketplace and Open VSX and the CLI to npm, with tokens from secrets, on a v* tag', () => {
    assert.deepEqual(wf.on.push.tags, ['v*']);
    const pub = wf.jobs.publish;
    assert.deepEqual(pub.needs, ['package', 'cli']);
    const text = JSON.stringify(pub.steps);
    assert.match(text, /vsce@3 publish --packagePath vsix\/\*\.vsix/);
    assert.match(text, /ovsx@0 publish --packagePath vsix\/\*\.vsix/);
    assert.match(text, /npm publish cli\/\*\.tgz/);
    assert.match(text, /secrets\.VSCE_PAT/);
    assert.match(text, /secrets\.OVSX_PAT/);
    assert.match(text, /secrets\.NPM_TOKEN/);
    assert.match(text, /TARGETS=/, 'the publish job checks one .vsix per target is there');
    assert.match(JSON.stringify(wf.jobs.cli.steps), /npm run pack:cli/);
    assert.equal(pkg.scripts['pack:cli'], 'node scripts/pack-cli.mjs');
  });
});

// Settings a workspace may set even in Restricted Mode: they change what is shown or how fast, never
// which key seals, where plaintext goes or how long it lives. A new setting must be classified here or
// listed in capabilities.untrustedWorkspaces.restrictedConfigurations.
const HARMLESS_IN_RESTRICTED_MODE = new Set([
  'kmsEnvelope.regions', // which regions the Keys view lists
  'kmsEnvelope.frameLength', // frame size of new blobs (same keys, same protection)
  'kmsEnvelope.localKeys', // whether local keys are shown
  'kmsEnvelope.tree.pageSize', // keys per page
  'kmsEnvelope.git.decryptedDiffs', // a workspace can only turn decrypted diffs off (ciphertext shown)
]);

describe('manifest and listing (package.json)', () => {
  it('icon: media/icon.svg rendered at package time to a 256×256 PNG with transparent corners', async () => {
    assert.equal(pkg.icon, 'dist/icon.png');
    assert.match(pkg.scripts['vscode:prepublish'], /node scripts\/render-icon\.mjs/);
    const out = join(tmp, 'icon.png');
    run(process.execPath, [join(root, 'scripts', 'render-icon.mjs'), '--out', out]);
    const png = readFileSync(out);
    assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
    assert.equal(png.subarray(12, 16).toString('latin1'), 'IHDR');
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [256, 256]);
    const { Resvg } = await import('@resvg/resvg-js');
    const img = new Resvg(readFileSync(join(root, 'media', 'icon.svg')), { fitTo: { mode: 'width', value: 256 } }).render();
    const alpha = (x: number, y: number) => img.pixels[(y * img.width + x) * 4 + 3];
    assert.equal(alpha(0, 0), 0, 'corner is transparent');
    assert.equal(alpha(128, 128), 255, 'centre is opaque');
  });

  it('repository, bugs and homepage are real https URLs of one repository (set together in package.json)', () => {
    const repo = String(pkg.repository.url).replace(/\.git$/, '');
    assert.match(repo, /^https:\/\/github\.com\/[\w.-]+\/[\w.-]+$/);
    assert.doesNotMatch(JSON.stringify([pkg.repository, pkg.bugs, pkg.homepage]), /example|invalid|placeholder|TODO/i);
    assert.equal(pkg.bugs.url, `${repo}/issues`);
    assert.equal(pkg.homepage, `${repo}#readme`);
  });

  it('categories, keywords (at most 30, every provider) and gallery banner', () => {
    const valid = ['Azure', 'Data Science', 'Debuggers', 'Education', 'Extension Packs', 'Formatters', 'Keymaps', 'Language Packs'];
    valid.push('Linters', 'Machine Learning', 'Notebooks', 'Programming Languages', 'SCM Providers', 'Snippets', 'Testing', 'Themes');
    valid.push('Visualization', 'Chat', 'AI', 'Data', 'Other');
    for (const c of pkg.categories) assert.ok(valid.includes(c), `unknown category ${c}`);
    assert.ok(pkg.keywords.length <= 30, 'the Marketplace keeps at most 30 keywords');
    assert.equal(new Set(pkg.keywords).size, pkg.keywords.length, 'duplicate keyword');
    for (const k of ['kms', 'tencent kms', 'alibaba kms', 'kms 3.0', 'aws kms', 'envelope encryption', 'secrets'])
      assert.ok(pkg.keywords.includes(k), `keyword ${k}`);
    assert.match(pkg.galleryBanner.color, /^#[0-9a-f]{6}$/i);
    assert.ok(['dark', 'light'].includes(pkg.galleryBanner.theme));
    assert.equal(pkg.private, true, 'the manifest is never published to npm (the CLI package is staged by scripts/pack-cli.mjs)');
  });

  it('runs on the workspace side of remote hosts (files, keychain and KMS network are where the workspace is)', () => {
    assert.deepEqual(pkg.extensionKind, ['workspace']);
    assert.equal(pkg.browser, undefined, 'no web extension: the engine needs Node');
  });

  it('Restricted Mode: limited; every setting that picks keys or handles plaintext is restricted, the rest classified', () => {
    const u = pkg.capabilities.untrustedWorkspaces;
    assert.equal(u.supported, 'limited');
    assert.match(u.description, /\.kms-envelope\.yaml policy file/);
    const settings = Object.keys(pkg.contributes.configuration.properties);
    for (const s of u.restrictedConfigurations) assert.ok(settings.includes(s), `restricted ${s} is not a setting`);
    for (const s of ['kmsEnvelope.defaultKey', 'kmsEnvelope.defaultKeyProfile', 'kmsEnvelope.encryptionContext'])
      assert.ok(u.restrictedConfigurations.includes(s), `${s} must not come from an untrusted workspace`);
    const unclassified = settings.filter((s) => !u.restrictedConfigurations.includes(s) && !HARMLESS_IN_RESTRICTED_MODE.has(s));
    assert.deepEqual(
      unclassified,
      [],
      'classify each new setting: restrictedConfigurations in package.json, or HARMLESS_IN_RESTRICTED_MODE here',
    );
    const v = pkg.capabilities.virtualWorkspaces;
    assert.equal(v.supported, 'limited');
    assert.match(v.description, /files on disk/);
  });
});

describe('walkthrough and pictures', () => {
  const commands = new Set<string>(pkg.contributes.commands.map((c: { command: string }) => c.command));
  const isPng = (f: string) =>
    readFileSync(f)
      .subarray(0, 8)
      .equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));

  it('one walkthrough of four steps; each names a contributed command, completes on it, and has a PNG picture', () => {
    const [w, ...more] = pkg.contributes.walkthroughs;
    assert.equal(more.length, 0);
    assert.deepEqual(
      w.steps.map((s: { id: string }) => s.id),
      ['useLocalKeys', 'addProfile', 'sealValue', 'openSealedFile'],
    );
    for (const s of w.steps) {
      const linked = [...s.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]);
      assert.ok(linked.length > 0, `step ${s.id} has no command button`);
      for (const c of linked) assert.ok(commands.has(c), `step ${s.id} links to ${c}, which is not a contributed command`);
      assert.ok(
        s.completionEvents.some((e: string) => linked.includes(e.replace(/^onCommand:/, ''))),
        `step ${s.id} is not checked by running its own button's command`,
      );
      const img = join(root, s.media.image);
      assert.ok(existsSync(img) && isPng(img), `step ${s.id}: ${s.media.image} is not a PNG in the repository`);
      assert.ok(s.media.altText.length > 20, `step ${s.id}: the picture has no real alt text`);
    }
  });

  it('every picture of the README and the walkthrough is made by npm run screenshots (none hand-made), and the README shows them', async () => {
    const { PICTURES } = (await import(pathToFileURL(join(root, 'scripts', 'screenshots.mjs')).href)) as {
      PICTURES: Record<string, Record<string, string>>;
    };
    const made = new Set(Object.values(PICTURES).flatMap((m) => Object.values(m)));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const shown = [...readme.matchAll(/\]\((media\/screenshots\/[^)\s]+\.png)\)/g)].map((m) => m[1]);
    assert.ok(shown.length >= 3, `the README shows ${shown.length} screenshots`);
    const inRepo = ['screenshots', 'walkthrough'].flatMap((d) => readdirSync(join(root, 'media', d)).map((f) => `media/${d}/${f}`));
    for (const f of [...shown, ...inRepo, ...pkg.contributes.walkthroughs[0].steps.map((s: { media: { image: string } }) => s.media.image)])
      assert.ok(made.has(f), `${f} is not made by scripts/screenshots.mjs`);
    for (const f of made) assert.ok(existsSync(join(root, f)) && isPng(join(root, f)), `${f}: run npm run screenshots`);
  });
});

describe('vsce ls: exactly the intended files', () => {
  // Walkthrough media (media/walkthrough/, once there is a walkthrough) ship; README pictures
  // (media/screenshots/) do not: vsce points the README's relative links at the repository.
  const walkthrough = existsSync(join(root, 'media', 'walkthrough'))
    ? readdirSync(join(root, 'media', 'walkthrough'), { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
    : [];
  const common = [
    'package.json',
    'README.md',
    'LICENSE',
    'CHANGELOG.md',
    'media/kms.svg',
    'schemas/kms-envelope-policy.schema.json',
    'dist/icon.png',
    'dist/extension.js',
    ...walkthrough,
  ];
  // The bundle: the launcher above and the ES module chunks it loads (main.mjs at activation, the rest on
  // first use), as the build wrote them (hashed names); never their source maps.
  const chunks = () =>
    readdirSync(join(root, 'dist', 'extension'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.mjs'))
      .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'));
  const keytar = [
    'node_modules/keytar/package.json',
    'node_modules/keytar/LICENSE.md',
    'node_modules/keytar/lib/keytar.js',
    'node_modules/keytar/build/Release/keytar.node',
  ];
  const vsce = (...args: string[]) =>
    run(process.execPath, [join(root, 'node_modules', '@vscode', 'vsce', 'vsce'), 'ls', ...args])
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .sort();
  const prepare = () => {
    if (!existsSync(join(root, 'dist', 'extension', 'main.mjs'))) run(process.execPath, [join(root, 'esbuild.mjs')]);
    run(process.execPath, [join(root, 'scripts', 'render-icon.mjs')]);
  };

  it('platform package (npm run package): the bundle, the icons, the docs and keytar’s runtime files', () => {
    prepare();
    const bundle = chunks();
    assert.ok(bundle.includes('dist/extension/main.mjs') && bundle.length > 2, `the bundle's chunks: ${bundle.join(', ')}`);
    assert.deepEqual(vsce(), [...common, ...bundle, ...keytar].sort());
  });

  it('universal package (--no-dependencies): the same without node_modules', () => {
    prepare();
    assert.deepEqual(vsce('--no-dependencies'), [...common, ...chunks()].sort());
    assert.match(readFileSync(join(root, 'scripts', 'package.sh'), 'utf8'), /vsce_args=\(--no-dependencies\)/);
  });
});

#!/usr/bin/env node
// `npm run pack:cli`: the kms-envelope command line as an npm package → dist/kms-envelope-<version>.tgz
// (install with `npm install -g dist/kms-envelope-<version>.tgz`, or publish it with `npm publish <tgz>`).
//
// The repository's package.json is the VS Code extension's manifest: private (never published to npm
// by accident), with the extension's contributions, its test tooling, and runtime libraries that
// esbuild bundles anyway. (vsce also refuses a `files` field next to .vscodeignore.) So the CLI package
// is staged in a temp dir with a package.json of its own, derived from the root one (name, version,
// license, repository/bugs/homepage, engines.node):
//   - dist/cli.js + dist/cli/** : the CLI, built by `esbuild.mjs --production --cli-out` (dist/ untouched);
//   - dependencies: only the npm packages the bundle leaves external (keytar, the native OS keychain
//     module, which npm installs and builds for the user's platform), at the root's version ranges;
//   - README.md, LICENSE, CHANGELOG.md.
// Then `npm pack` of the staged folder. Prints the tarball's path as its last line.
//   node scripts/pack-cli.mjs [--out-dir <dir>]     (default dist/)
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const i = process.argv.indexOf('--out-dir');
const outDir = resolve(i > 0 && process.argv[i + 1] ? process.argv[i + 1] : join(root, 'dist'));
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

const stage = mkdtempSync(join(tmpdir(), 'kms-envelope-cli-pack-'));
try {
  const pkgDir = join(stage, 'package');
  const build = spawnSync(process.execPath, [join(root, 'esbuild.mjs'), '--production', '--cli-out', join(pkgDir, 'dist')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) throw new Error('pack-cli: building the CLI failed');

  const externalsFile = join(pkgDir, 'dist', 'externals.json');
  const externals = JSON.parse(readFileSync(externalsFile, 'utf8'));
  rmSync(externalsFile);
  // An external the root does not depend on is an optional require inside try/catch (node-fetch's
  // `encoding`): leave it out, as the bundled library expects.
  const dependencies = Object.fromEntries(
    externals.filter((name) => rootPkg.dependencies?.[name]).map((name) => [name, rootPkg.dependencies[name]]),
  );

  const pkg = {
    name: rootPkg.name,
    version: rootPkg.version,
    description:
      'kms-envelope: seal and unseal files and config values as AWS Encryption SDK messages with Tencent Cloud, Alibaba Cloud, AWS KMS or local keys kept in the OS keychain.',
    keywords: rootPkg.keywords,
    license: rootPkg.license,
    repository: rootPkg.repository,
    bugs: rootPkg.bugs,
    homepage: rootPkg.homepage,
    engines: { node: rootPkg.engines.node },
    bin: { 'kms-envelope': 'dist/cli.js' },
    files: ['dist/', 'CHANGELOG.md'],
    dependencies,
  };
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  for (const f of ['README.md', 'LICENSE', 'CHANGELOG.md']) copyFileSync(join(root, f), join(pkgDir, f));

  mkdirSync(outDir, { recursive: true });
  // npm pack names the file <name>-<version>.tgz and prints that name last on stdout.
  const pack = spawnSync('npm', ['pack', '--pack-destination', outDir, '--loglevel=error', pkgDir], {
    cwd: stage,
    encoding: 'utf8',
    shell: process.platform === 'win32',
  });
  if (pack.status !== 0) throw new Error(`pack-cli: npm pack failed:\n${pack.stdout}${pack.stderr}`);
  const tarball = join(outDir, pack.stdout.trim().split('\n').at(-1));
  console.error(`pack-cli: ${tarball} (dependencies: ${Object.keys(dependencies).join(', ') || 'none'})`);
  console.log(tarball);
} finally {
  rmSync(stage, { recursive: true, force: true });
}

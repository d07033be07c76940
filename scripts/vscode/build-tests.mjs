#!/usr/bin/env node
// Bundles the integration suites for the extension host: test/integration/index.ts and every
// test/integration/**/*.test.ts → out/test/integration/*.js (CommonJS, one file per suite).
// `vscode` is provided by the host, `mocha` and `keytar` load from node_modules.
import * as esbuild from 'esbuild';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const src = join(root, 'test', 'integration');
const out = join(root, 'out', 'test', 'integration');

const suites = [];
const walk = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) suites.push(p);
  }
};
walk(src);
if (suites.length === 0) {
  console.error(`build-tests: no *.test.ts under ${relative(root, src)}`);
  process.exit(1);
}
// Suites in sub-folders get a flat, unique output name (index.js loads *.test.js from its own folder).
const flat = (p) => relative(src, p).replace(/\.ts$/, '').split(/[\\/]/).join('__');
const seen = new Set(suites.map(flat));
if (seen.size !== suites.length) throw new Error('build-tests: two suites map to the same output name');

rmSync(out, { recursive: true, force: true });
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: 'inline',
  external: ['vscode', 'mocha', 'keytar'],
  // As in esbuild.mjs: jsonc-parser's UMD "main" has require() calls esbuild cannot follow (the values engine uses it).
  alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
  logLevel: 'warning',
  absWorkingDir: root,
};
await Promise.all([
  esbuild.build({ ...common, entryPoints: [join(src, 'index.ts')], outfile: join(out, 'index.js') }),
  ...suites.map((p) => esbuild.build({ ...common, entryPoints: [p], outfile: join(out, `${flat(p)}.js`) })),
]);
console.log(`build-tests: ${suites.length} suite(s) → ${relative(root, out)}/ (${suites.map((p) => basename(p)).join(', ')})`);

#!/usr/bin/env node
// Renders the Marketplace / Open VSX icon: media/icon.svg → dist/icon.png (256×256, the manifest's
// `icon`), with resvg (@resvg/resvg-js: Rust resvg, its binary shipped inside npm packages). Run at
// package time by the manifest's vscode:prepublish; the PNG is a build output, never committed.
//   node scripts/render-icon.mjs [--out <file>] [--size <px>]
import { Resvg } from '@resvg/resvg-js';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
};
const out = resolve(arg('--out', resolve(root, 'dist', 'icon.png')));
const size = Number(arg('--size', '256'));
if (!Number.isInteger(size) || size < 16) throw new Error(`--size must be an integer >= 16, got ${size}`);

const svg = readFileSync(resolve(root, 'media', 'icon.svg'));
const png = new Resvg(svg, { fitTo: { mode: 'width', value: size }, background: 'rgba(0,0,0,0)' }).render().asPng();
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out + '.tmp', png);
renameSync(out + '.tmp', out);
console.error(`render-icon: ${out} (${size}×${size}, ${png.length} bytes)`);

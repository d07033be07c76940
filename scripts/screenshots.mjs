#!/usr/bin/env node
// `npm run screenshots`: refreshes the README's pictures (media/screenshots/) and the walkthrough's
// (media/walkthrough/, shipped in the .vsix) from the e2e suite, so they always show the product as
// it is and are never hand-edited. Builds, runs the scenarios below in the real workbench
// (code-server + Chromium, scripts/vscode/e2e.ts), and only when they all pass copies each named
// screenshot from test-results/e2e/ into place.
//   node scripts/screenshots.mjs
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** e2e file → { screenshot name in test-results/e2e → picture path in the repository }. */
export const PICTURES = {
  'test/e2e/walkthrough.test.ts': {
    'listing-keys-view': 'media/screenshots/keys-view.png',
    'listing-sealed-value': 'media/screenshots/sealed-value.png',
    'listing-decrypted-editor': 'media/screenshots/decrypted-editor.png',
    'listing-walkthrough': 'media/screenshots/walkthrough.png',
    'walkthrough-keys-view': 'media/walkthrough/keys-view.png',
    'walkthrough-seal-value': 'media/walkthrough/seal-value.png',
    'walkthrough-sealed-file': 'media/walkthrough/sealed-file.png',
  },
  'test/e2e/team-scm-diff.test.ts': {
    'team-scm-diff-values': 'media/screenshots/scm-diff.png',
  },
};

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`screenshots: ${cmd} ${args.join(' ')} failed (exit ${r.status}); no picture was changed.`);
    process.exit(r.status ?? 1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  run('npm', ['run', '--silent', 'build']);
  run(process.execPath, ['--import', 'tsx', 'scripts/vscode/e2e.ts', ...Object.keys(PICTURES)]);
  const shots = Object.values(PICTURES).flatMap((m) => Object.entries(m));
  const missing = shots.filter(([name]) => !existsSync(join(root, 'test-results', 'e2e', `${name}.png`)));
  if (missing.length) {
    console.error(`screenshots: the e2e run took no ${missing.map(([n]) => n).join(', ')}; no picture was changed.`);
    process.exit(1);
  }
  for (const [name, to] of shots) {
    const dest = join(root, to);
    mkdirSync(dirname(dest), { recursive: true });
    copyFileSync(join(root, 'test-results', 'e2e', `${name}.png`), `${dest}.tmp`);
    renameSync(`${dest}.tmp`, dest);
    console.log(`screenshots: ${to} (${Math.round(statSync(dest).size / 1024)} KiB)`);
  }
}

// Runs the Playwright scenarios in test/e2e (node:test files) one file at a time, under the private
// keyring, each file with its own throw-away code-server + headless Chromium (test/e2e/workbench.ts).
//
// Usage: node --import tsx scripts/vscode/e2e.ts [--vsix <file>] [--timeout <seconds>] [files...]
//   --vsix      also run the installed-package scenarios against this .vsix (KMS_ENVELOPE_E2E_VSIX)
//   --timeout   the whole run fails after this long (default 480)
// Screenshots: test-results/e2e/*.png. Last line: `N passed, N failed[, N skipped]`.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { REPO_ROOT, killGroup, reexecUnderKeyring } from './code-server';

function main(): void {
  const argv = process.argv.slice(2);
  let timeoutS = 480;
  const files: string[] = [];
  const env = { ...process.env };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--vsix') env.KMS_ENVELOPE_E2E_VSIX = resolve(argv[++i] ?? '');
    else if (argv[i] === '--timeout') timeoutS = Number(argv[++i]);
    else if (argv[i].startsWith('--')) throw new Error(`unknown option ${argv[i]}`);
    else files.push(resolve(argv[i]));
  }
  if (files.length === 0) {
    const dir = join(REPO_ROOT, 'test', 'e2e');
    files.push(
      ...readdirSync(dir)
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => join(dir, f)),
    );
  }
  if (files.length === 0) throw new Error('no test/e2e/*.test.ts');
  if (!existsSync(join(REPO_ROOT, 'dist', 'extension.js'))) throw new Error('dist/extension.js missing: npm run build first');

  rmSync(join(REPO_ROOT, 'test-results', 'e2e'), { recursive: true, force: true }); // no stale screenshots
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      `--test-timeout=${Math.min(timeoutS, 180) * 1000}`,
      `--test-reporter=${join(REPO_ROOT, 'scripts', 'vscode', 'test-reporter.mjs')}`,
      '--test-reporter-destination=stdout',
      ...files,
    ],
    { stdio: 'inherit', env, detached: true, cwd: REPO_ROOT },
  );
  const stop = (why: string, code: number) => {
    console.log(`\ne2e: ${why}`);
    void killGroup(child, 5000).finally(() => process.exit(code));
  };
  const timer = setTimeout(() => stop(`timed out after ${timeoutS} s; stopping every code-server and browser`, 1), timeoutS * 1000);
  process.once('SIGINT', () => stop('interrupted', 130));
  process.once('SIGTERM', () => stop('terminated', 143));
  child.on('exit', (code) => {
    clearTimeout(timer);
    console.error(`(e2e: ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    process.exit(code ?? 1);
  });
}

if (reexecUnderKeyring(__filename)) {
  try {
    main();
  } catch (e) {
    console.error(`e2e: ${e instanceof Error ? e.message : String(e)}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

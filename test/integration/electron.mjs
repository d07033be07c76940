#!/usr/bin/env node
// `npm run test:electron`: the same mocha suites (out/test/integration/index.js) inside a desktop
// VS Code downloaded by @vscode/test-electron — for developer machines with internet. It cannot run
// on the offline CI box (the download needs update.code.visualstudio.com); there scripts/vscode/run.ts
// runs the suites in code-server instead. On Linux without a display: `xvfb-run -a npm run test:electron`.
//
// Environment: VSCODE_TEST_VERSION (default 1.100.3, the VS Code inside the bundled code-server;
// "stable" or "insiders" for the newest), KMS_ENVELOPE_TEST_GREP (mocha --grep).
// Prints mocha's spec output (from the extension host) and a last line `N passed, N failed[, N skipped]`.
import { runTests } from '@vscode/test-electron';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

for (const step of [['esbuild.mjs'], ['scripts/vscode/build-tests.mjs']]) {
  const r = spawnSync(
    process.execPath,
    step.map((p) => join(root, p)),
    { stdio: 'inherit', cwd: root },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const tmp = mkdtempSync(join(tmpdir(), 'kms-envelope-electron-'));
const workspace = join(tmp, 'workspace');
const configDir = join(tmp, 'config');
const resultsFile = join(tmp, 'results.jsonl');
for (const d of [workspace, configDir, join(tmp, 'tmp')]) mkdirSync(d, { recursive: true });
writeFileSync(resultsFile, '');

// Cloud credentials must not reach the host under test (discovery would use the real clouds).
for (const k of Object.keys(process.env)) if (/^(TENCENTCLOUD_|ALIBABA_CLOUD_|ALICLOUD_|ALIYUN_|AWS_)/.test(k)) delete process.env[k];

let exitCode = 0;
try {
  await runTests({
    version: process.env.VSCODE_TEST_VERSION ?? '1.100.3',
    extensionDevelopmentPath: root,
    extensionTestsPath: join(root, 'out', 'test', 'integration', 'index.js'),
    extensionTestsEnv: {
      KMS_ENVELOPE_CONFIG_DIR: configDir,
      KMS_ENVELOPE_TEST_TMP: join(tmp, 'tmp'),
      KMS_ENVELOPE_TEST_RESULTS: resultsFile,
      KMS_ENVELOPE_TEST_MODE: 'electron',
      KMS_ENVELOPE_REPO_ROOT: root,
      ...(process.env.KMS_ENVELOPE_TEST_GREP ? { KMS_ENVELOPE_TEST_GREP: process.env.KMS_ENVELOPE_TEST_GREP } : {}),
    },
    // The folder to open, then: no other installed extensions, no trust prompt, no welcome page.
    launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--skip-welcome', '--skip-release-notes'],
  });
} catch (e) {
  // runTests rejects when VS Code exits non-zero, which it does when run() rejects (a failed test).
  console.error(`test:electron: ${e instanceof Error ? e.message : String(e)}`);
  exitCode = 1;
}

let passed = 0;
let failed = 0;
let skipped = 0;
if (existsSync(resultsFile)) {
  for (const line of readFileSync(resultsFile, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line);
    if (r.event === 'pass') passed++;
    else if (r.event === 'fail') failed++;
    else if (r.event === 'pending') skipped++;
  }
}
rmSync(tmp, { recursive: true, force: true });
if (passed + failed === 0) exitCode = 1;
console.log(`${passed} passed, ${failed + (exitCode && !failed ? 1 : 0)} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : exitCode);

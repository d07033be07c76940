// Entry point VS Code calls inside the extension host (extensionTestsPath → out/test/integration/index.js).
// Runs every bundled *.test.js next to it with mocha (TDD UI: suite/test/setup/teardown) and reports
// each result twice: as JSON lines appended to $KMS_ENVELOPE_TEST_RESULTS (the code-server runner
// reads that file, because the extension host's exit code says 0 even when run() throws) and as
// mocha's spec output on the console (what @vscode/test-electron shows on a desktop).
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Mocha from 'mocha';

export interface ResultRecord {
  event: 'start' | 'begin' | 'pass' | 'fail' | 'pending' | 'end';
  title?: string;
  durationMs?: number;
  error?: string;
  passed?: number;
  failed?: number;
  pending?: number;
  total?: number;
}

export function run(): Promise<void> {
  const resultsFile = process.env.KMS_ENVELOPE_TEST_RESULTS;
  const emit = (rec: ResultRecord) => {
    if (resultsFile) appendFileSync(resultsFile, JSON.stringify(rec) + '\n');
  };
  const mocha = new Mocha({
    ui: 'tdd',
    color: false,
    timeout: Number(process.env.KMS_ENVELOPE_TEST_TIMEOUT_MS ?? 30_000),
    reporter: 'spec',
    ...(process.env.KMS_ENVELOPE_TEST_GREP ? { grep: process.env.KMS_ENVELOPE_TEST_GREP } : {}),
  });
  const files = readdirSync(__dirname)
    .filter((f) => f.endsWith('.test.js'))
    .sort();
  for (const f of files) mocha.addFile(join(__dirname, f));

  return new Promise((resolve, reject) => {
    let passed = 0;
    let failed = 0;
    let pending = 0;
    try {
      emit({ event: 'start', total: files.length });
      const runner = mocha.run((failures) => {
        emit({ event: 'end', passed, failed, pending });
        if (failures > 0) reject(new Error(`${failures} integration test(s) failed`));
        else if (passed + failed === 0) reject(new Error('no integration test ran'));
        else resolve();
      });
      runner.on('test', (t) => emit({ event: 'begin', title: t.fullTitle() }));
      runner.on('pass', (t) => {
        passed++;
        emit({ event: 'pass', title: t.fullTitle(), durationMs: t.duration });
      });
      runner.on('fail', (t, err: unknown) => {
        failed++;
        const e = err as { stack?: string; message?: string };
        emit({ event: 'fail', title: t.fullTitle(), error: e?.stack ?? e?.message ?? String(err) });
      });
      runner.on('pending', (t) => {
        pending++;
        emit({ event: 'pending', title: t.fullTitle() });
      });
    } catch (e) {
      const err = e as Error;
      emit({ event: 'fail', title: '(loading the test files)', error: err.stack ?? String(err) });
      emit({ event: 'end', passed, failed: failed + 1, pending });
      reject(err);
    }
  });
}

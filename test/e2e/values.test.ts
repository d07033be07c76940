// Config files sealed value by value, as a user does it in the real workbench (code-server + Chromium):
// Seal Values in File on a YAML file from the explorer's context menu (keys and comments stay readable,
// values become kmsenv:f1: records, one header line), then Unseal Values in File from the same menu
// (the plaintext in a kms-sealed: editor, the file on disk still sealed). Screenshots in test-results/e2e/.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workbench, addSandboxProfiles } from './workbench';

const PASSWORD = 'hunter2-e2e-values';
const TOKEN = 'tok-e2e-values-42';
const VALUES = [
  '# billing service',
  'database:',
  '  host: db.internal   # stays readable',
  `  password: ${PASSWORD}`,
  'api:',
  `  token: "${TOKEN}"`,
  '  timeout: 30',
  '',
].join('\n');
const POLICY = [
  'rules:',
  '  - path: "values.yaml"',
  '    keys: [local:local:sandbox]',
  '    values: "(?i)(password|secret|token)"',
  '',
].join('\n');

describe('config values (extension from source)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      emulator: true,
      prepare: (ctx) => {
        addSandboxProfiles(ctx);
        writeFileSync(join(ctx.workspace, '.kms-envelope.yaml'), POLICY);
        writeFileSync(join(ctx.workspace, 'values.yaml'), VALUES);
      },
    });
  });
  after(async () => {
    await wb?.close();
  });

  const onDisk = () => readFileSync(join(wb.workspace, 'values.yaml'), 'utf8');

  it('Seal Values in File from the explorer seals the password and the token in place; keys and comments stay', async () => {
    // The extension's contributions (menus) are in once its Keys view shows the sandbox key.
    await wb.openKmsView();
    await wb.treeRows().filter({ hasText: 'sandbox' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.contextMenu(await wb.explorerRow('values.yaml'), 'Seal Values in File');
    for (let i = 0; i < 150 && !onDisk().includes('kmsenv:h1:'); i++) await wb.page.waitForTimeout(100);
    const sealed = onDisk();
    assert.match(sealed, /^kms-envelope: kmsenv:h1:/m, `not sealed: ${sealed}`);
    assert.ok(!sealed.includes(PASSWORD) && !sealed.includes(TOKEN), 'a secret is still in plaintext');
    assert.match(sealed, /^ {2}host: db\.internal {3}# stays readable$/m);
    assert.match(sealed, /^ {2}password: kmsenv:f1:/m);
    await wb.openFile('values.yaml');
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      lines = await wb.editorLines();
      if (lines.some((l) => l.includes('password: kmsenv:f1:'))) break;
      await wb.page.waitForTimeout(100);
    }
    assert.ok(
      lines.some((l) => l.includes('password: kmsenv:f1:')),
      `sealed value not shown: ${lines.join(' / ')}`,
    );
    await wb.screenshot('values-sealed');
  });

  it('Unseal Values in File from the explorer shows the plaintext in memory; the file stays sealed', async () => {
    const before = onDisk();
    await wb.contextMenu(await wb.explorerRow('values.yaml'), 'Unseal Values in File');
    let lines: string[] = [];
    for (let i = 0; i < 150; i++) {
      lines = await wb.editorLines();
      if (lines.includes(`  password: ${PASSWORD}`)) break;
      await wb.page.waitForTimeout(100);
    }
    assert.ok(lines.includes(`  password: ${PASSWORD}`), `plaintext not shown: ${lines.join(' / ')}`);
    assert.ok(lines.includes(`  token: "${TOKEN}"`), `plaintext not shown: ${lines.join(' / ')}`);
    assert.ok(!lines.some((l) => l.includes('kmsenv:h1:')), 'the header line is shown');
    assert.equal(onDisk(), before, 'opening decrypted changed the file on disk');
    // The screenshot shows the result, not the progress toast.
    const toast = wb.page.locator('.notification-list-item-message', { hasText: 'Unsealing' });
    for (let i = 0; i < 100 && (await toast.count()) > 0; i++) await wb.page.waitForTimeout(100);
    await wb.screenshot('values-unsealed');
    assert.deepEqual(
      (await wb.notifications()).filter((n) => /fail|error|cannot/i.test(n)),
      [],
      'error notifications were shown',
    );
  });
});

// Errors and the checks before them, as the user meets them (issue 15, items 2 and 6):
// - sealing with a default key the Keys view shows disabled asks first, in a modal (Enable and Seal /
//   Pick Another Key), instead of calling the KMS and showing an error; Enable and Seal enables the
//   key and seals;
// - an enabled Tencent Cloud key offers "Disable and Schedule Deletion…" (one confirmed step), never a
//   Schedule Key Deletion that Tencent refuses (Alibaba's keep it: extension-6-remedies).
// (Every error notification's buttons are audited in test/integration/extension-6-remedies.test.ts.)
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workbench, addSandboxProfiles } from './workbench';

describe('extension errors (extension from source)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      emulator: true,
      prepare: (ctx) => {
        addSandboxProfiles(ctx);
        writeFileSync(join(ctx.workspace, 'app.properties'), 'db.password=s3cr3t-e2e\n');
      },
      settings: { 'kmsEnvelope.defaultKey': 'tencent:ap-guangzhou:seed-disabled', 'kmsEnvelope.defaultKeyProfile': 'sandbox' },
    });
  });
  after(async () => {
    await wb?.close();
  });

  it('a default key the Keys view shows disabled: a modal asks first; Enable and Seal enables the key and seals', async () => {
    await wb.openKmsView();
    await wb.treeRows().filter({ hasText: 'seed-disabled' }).first().waitFor({ state: 'visible', timeout: 45_000 });
    await wb.openFile('app.properties');
    await wb.selectLine(1, 13); // "s3cr3t-e2e"
    await wb.contextMenu(await wb.selectionCentre(), 'Seal Selection');
    const dialog = wb.page.locator('.monaco-dialog-box').first();
    await dialog.waitFor({ state: 'visible', timeout: 20_000 });
    const text = (await dialog.innerText()).replace(/\s+/g, ' ');
    assert.match(text, /The default sealing key seed-disabled \(Tencent Cloud KMS ap-guangzhou\) is disabled/);
    const buttons = (await dialog.locator('.monaco-button').allInnerTexts()).map((t) => t.trim());
    assert.ok(buttons.includes('Enable and Seal') && buttons.includes('Pick Another Key'), `buttons: ${buttons.join(' | ')}`);
    const errors = wb.page.locator('.notification-list-item', { has: wb.page.locator('.codicon-error') });
    assert.equal(await errors.count(), 0, 'no error before the question');
    await wb.screenshot('extension-default-key-disabled-asks');
    await dialog.locator('.monaco-button', { hasText: 'Enable and Seal' }).first().click();
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      lines = await wb.editorLines();
      if (lines.some((l) => l.startsWith('db.password=kmsenv:v1:'))) break;
      await wb.page.waitForTimeout(100);
    }
    assert.ok(
      lines.some((l) => l.startsWith('db.password=kmsenv:v1:')),
      `not sealed after Enable and Seal: ${lines.join(' / ')}; ${JSON.stringify(await wb.notifications())}`,
    );
    // The Keys view shows the key enabled now.
    await wb.treeRows().filter({ hasText: 'seed-disabled' }).first().waitFor({ state: 'visible' });
    await wb.screenshot('extension-error-enabled-and-sealed');
    assert.ok(
      !readFileSync(join(wb.workspace, 'app.properties'), 'utf8').includes('kmsenv'),
      'nothing was saved to disk by the seal itself',
    );
  });

  it('an enabled Tencent key offers "Disable and Schedule Deletion…", not a Schedule Key Deletion Tencent refuses', async () => {
    await wb.openKmsView();
    const menuOf = async (row: ReturnType<Workbench['treeRows']>) => {
      await row.waitFor({ state: 'visible', timeout: 45_000 });
      await row.click({ button: 'right' });
      const menu = wb.page.locator('.context-view .monaco-menu');
      await menu.waitFor({ state: 'visible' });
      const labels = (await menu.locator('.action-label').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
      return { labels, menu };
    };
    const tencent = await menuOf(
      wb
        .treeRows()
        .filter({ hasText: /^\s*seed-enabled/ })
        .first(),
    );
    assert.ok(tencent.labels.includes('Disable and Schedule Deletion…'), tencent.labels.join(' | '));
    assert.ok(!tencent.labels.includes('Schedule Key Deletion…'), tencent.labels.join(' | '));
    await wb.screenshot('extension-tencent-disable-and-schedule');
    await wb.page.keyboard.press('Escape');
    await tencent.menu.waitFor({ state: 'hidden' });
  });
});

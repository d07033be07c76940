// An error as the user meets it: sealing with a disabled default key shows ONE error notification
// naming the key, with the actions Enable Key / Retry / Open Log; Enable Key enables it and runs the
// seal again, which then succeeds.
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

  it('a disabled default key: one error with Enable Key; choosing it enables the key and seals', async () => {
    await wb.openKmsView();
    await wb.openFile('app.properties');
    await wb.selectLine(1, 13); // "s3cr3t-e2e"
    await wb.contextMenu(await wb.selectionCentre(), 'Seal Selection');
    // Error toasts carry the error codicon (the progress toast "Sealing … seed-disabled…" does not).
    const errors = wb.page.locator('.notification-list-item', { has: wb.page.locator('.codicon-error') });
    await errors.first().waitFor({ state: 'visible', timeout: 20_000 });
    await wb.page.waitForTimeout(500); // a second error toast, if any, would be there by now
    assert.equal(await errors.count(), 1, `error toasts: ${JSON.stringify(await errors.allInnerTexts())}`);
    const toast = errors.first();
    const msg = (await toast.locator('.notification-list-item-message').innerText()).trim();
    assert.match(msg, /disabled/i);
    assert.match(msg, /ap-guangzhou|seed-disabled|key/i);
    const buttons = (await toast.locator('a.monaco-button').allInnerTexts()).map((t) => t.trim());
    assert.ok(buttons.includes('Enable Key') && buttons.includes('Open Log'), `buttons: ${buttons.join(' | ')}`);
    await wb.screenshot('extension-error-actions');
    await toast.locator('a.monaco-button', { hasText: 'Enable Key' }).click();
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      lines = await wb.editorLines();
      if (lines.some((l) => l.startsWith('db.password=kmsenv:v1:'))) break;
      await wb.page.waitForTimeout(100);
    }
    assert.ok(
      lines.some((l) => l.startsWith('db.password=kmsenv:v1:')),
      `not sealed after Enable Key: ${lines.join(' / ')}; ${JSON.stringify(await wb.notifications())}`,
    );
    // The Keys view shows the key enabled now.
    await wb.treeRows().filter({ hasText: 'seed-disabled' }).first().waitFor({ state: 'visible' });
    await wb.screenshot('extension-error-enabled-and-sealed');
    assert.ok(
      !readFileSync(join(wb.workspace, 'app.properties'), 'utf8').includes('kmsenv'),
      'nothing was saved to disk by the seal itself',
    );
  });
});

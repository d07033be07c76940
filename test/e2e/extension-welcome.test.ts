// What a newcomer sees first: no profile and no local key, so the Keys view shows its welcome
// content (Add Cloud Profile, Use Local Keys). Clicking Use Local Keys shows the local provider.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Workbench } from './workbench';

describe('extension welcome (extension from source)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open();
  });
  after(async () => {
    await wb?.close();
  });

  it('the empty Keys view offers Add Cloud Profile and Use Local Keys; Use Local Keys shows local keys', async () => {
    await wb.openKmsView();
    const body = wb.viewPane('Keys').locator('.pane-body');
    await body.locator('a.monaco-button', { hasText: 'Use Local Keys' }).waitFor({ state: 'visible', timeout: 30_000 });
    const text = await wb.viewText();
    assert.match(text, /No KMS keys to show yet/);
    assert.match(text, /Add Cloud Profile/);
    await wb.screenshot('extension-welcome');
    await body.locator('a.monaco-button', { hasText: 'Use Local Keys' }).click();
    await wb.treeRows().filter({ hasText: 'Local keys' }).first().waitFor({ state: 'visible', timeout: 20_000 });
    await wb.waitForNotification(/Local keys are shown/);
    await wb.screenshot('extension-welcome-local-keys');
  });
});

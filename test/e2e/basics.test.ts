// The extension as a user first meets it in the real workbench: its activity-bar view, a command
// from the palette, and no error notification along the way. One workbench for the file.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Workbench } from './workbench';

describe('workbench basics (extension from source)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open();
  });
  after(async () => {
    await wb?.close();
  });

  it('the KMS Envelope activity-bar item opens the Keys view', async () => {
    await wb.openKmsView();
    assert.match(await wb.sideBarTitle(), /^KMS Envelope(: Keys)?$/i);
    assert.ok(await wb.viewPane('Keys').locator('.pane-body').isVisible(), 'the Keys view is not visible');
    await wb.screenshot('activity-bar-keys-view');
  });

  it('the palette offers and runs "KMS Envelope: Show Log", which shows its output channel', async () => {
    assert.notEqual(await wb.outputChannel(), 'KMS Envelope', 'precondition: the channel is not shown yet');
    await wb.runCommand('KMS Envelope: Show Log');
    await wb.panel().waitFor({ state: 'visible' });
    let shown = '';
    for (let i = 0; i < 50 && shown !== 'KMS Envelope'; i++) {
      shown = await wb.outputChannel();
      if (shown !== 'KMS Envelope') await wb.page.waitForTimeout(100);
    }
    assert.equal(shown, 'KMS Envelope', 'the Output view does not show the KMS Envelope channel');
    await wb.screenshot('palette-show-log');
    assert.deepEqual(
      (await wb.notifications()).filter((n) => /fail|error|cannot/i.test(n)),
      [],
      'error notifications were shown',
    );
  });
});

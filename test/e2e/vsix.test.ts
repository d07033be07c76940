// The packaged artifact in the real UI: the .vsix (KMS_ENVELOPE_E2E_VSIX, set by scripts/vscode-tests.sh
// after `npm run package`) installed into a fresh code-server shows its view and runs its commands.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Workbench } from './workbench';

const vsix = process.env.KMS_ENVELOPE_E2E_VSIX;

describe(
  'installed .vsix in the workbench',
  { skip: vsix ? false : 'KMS_ENVELOPE_E2E_VSIX not set (npm run package, then scripts/vscode-tests.sh sets it)' },
  () => {
    let wb: Workbench;
    before(async () => {
      assert.ok(existsSync(vsix!), `${vsix} does not exist`);
      wb = await Workbench.open({ vsix });
    });
    after(async () => {
      await wb?.close();
    });

    it('shows the KMS Envelope view and runs Show Log from the installed build', async () => {
      await wb.openKmsView();
      await wb.runCommand('KMS Envelope: Show Log');
      await wb.panel().waitFor({ state: 'visible' });
      assert.equal(
        await wb.page
          .locator('.window-title, .command-center')
          .first()
          .innerText()
          .then((t) => /Extension Development Host/.test(t)),
        false,
        'this window runs the extension from source, not the .vsix',
      );
      await wb.screenshot('vsix-installed-view');
    });
  },
);

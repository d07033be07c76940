// An Alibaba Cloud KMS 3.0 user in the real UI (code-server + Chromium, the emulator's instance
// gateway): Add Profile → "Alibaba Cloud KMS 3.0 instance", the instance endpoint typed, the CA
// certificate and the client key file picked in VS Code's file dialog, the password in a password
// box, an AccessKey for listing; the Keys view then shows the instance's keys (with the instance id),
// and Seal Selection with one of them goes to the instance gateway (emulator counters). The secrets
// are in the keychain only: profiles.json holds the endpoint and the CA certificate, never the
// client key or its password.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workbench } from './workbench';

const SECRET = 'instance-e2e-s3cr3t';

describe('Alibaba KMS 3.0: Add Profile with file pickers, the instance keys in the tree, Seal Selection through the instance', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      emulator: true,
      prepare: (ctx) => {
        writeFileSync(join(ctx.workspace, 'secrets.env'), `DB_PASSWORD=${SECRET}\nLOG_LEVEL=info\n`);
      },
    });
  });
  after(async () => {
    await wb?.close();
  });

  /** The title of the open quick input (wizard step), for failure messages. */
  const quickTitle = async () =>
    (
      await wb.page
        .locator('.quick-input-widget .quick-input-title')
        .innerText()
        .catch(() => '')
    ).trim();
  /** Waits for a quick input whose title matches `re`, then answers it. */
  const answer = async (re: RegExp, text: string) => {
    const title = wb.page.locator('.quick-input-widget .quick-input-title', { hasText: re });
    await title.waitFor({ state: 'visible', timeout: 20_000 }).catch(async () => {
      await wb.screenshot('instance-profile-wizard-FAILED');
      throw new Error(`no wizard step matching ${re}; the quick input shows "${await quickTitle()}"`);
    });
    await wb.answerQuickInput(text);
  };

  /** Answers VS Code's file dialog: the path typed into its box, then its open button. */
  const pickFile = async (re: RegExp, path: string, button: string) => {
    const title = wb.page.locator('.quick-input-widget .quick-input-title', { hasText: re });
    await title.waitFor({ state: 'visible', timeout: 20_000 }).catch(async () => {
      await wb.screenshot('instance-profile-wizard-FAILED');
      throw new Error(`no file dialog matching ${re}; the quick input shows "${await quickTitle()}"`);
    });
    const box = wb.page.locator('.quick-input-widget .quick-input-box input');
    // The dialog fills its box with its start folder once it has read it, which on a busy machine can
    // come after our path was typed: type it again until the box keeps it, then let the list settle.
    for (let i = 0; i < 10; i++) {
      await box.fill(path);
      await wb.page.waitForTimeout(1000);
      if ((await box.inputValue()) === path) break;
    }
    await wb.page.locator('.quick-input-widget .monaco-button', { hasText: button }).first().click();
    await title.waitFor({ state: 'hidden', timeout: 10_000 }).catch(async () => {
      await wb.screenshot('instance-profile-file-dialog-FAILED');
      throw new Error(`the file dialog did not take ${path}`);
    });
  };

  it('Add Profile: endpoint typed, CA and client key picked as files, password hidden, AccessKey; saved after a live test', async () => {
    const e = wb.emulator!;
    const inst = e.instance;
    assert.ok(inst, 'the emulator printed its instance gateway');
    await wb.openKmsView();
    await wb.runCommand('KMS Envelope: Add Profile');
    // One number per step (provider, name, 6 credential parts, regions, endpoint): 1/10 … 10/10.
    await answer(/^Add Profile \(1\/\d+\)/, 'KMS 3.0 instance'); // the total is known once the provider is
    await answer(/\(2\/10\)/, 'kms3');
    await answer(/\(3\/10\)/, inst.endpoint);
    // The CA certificate and the client key: VS Code's own file dialog (a path box in the browser):
    // the path typed, then its button (named after the part).
    await pickFile(/\(4\/10\): CA certificate file/, inst.caFile, 'Use as CA certificate');
    await pickFile(/\(5\/10\): client key file/, inst.clientKeyFile, 'Use as client key');
    const password = wb.page.locator('.quick-input-widget .quick-input-box input');
    await wb.page.locator('.quick-input-widget .quick-input-title', { hasText: /\(6\/10\)/ }).waitFor({ state: 'visible' });
    assert.equal(await password.getAttribute('type'), 'password', 'the client key password is typed into a password box');
    await wb.answerQuickInput(readFileSync(inst.passwordFile, 'utf8').trim());
    await answer(/\(7\/10\)/, e.exports.ALIBABA_CLOUD_ACCESS_KEY_ID);
    await answer(/\(8\/10\)/, e.exports.ALIBABA_CLOUD_ACCESS_KEY_SECRET);
    await answer(/\(9\/10\)/, 'cn-hangzhou');
    await answer(/\(10\/10\)/, e.url);
    await wb.waitForNotification(/profile "kms3" tested OK \(1 regions\) and saved/, 30_000).catch(async (err) => {
      await wb.screenshot('instance-profile-save-FAILED');
      throw err;
    });

    const profiles = readFileSync(join(wb.configDir, 'profiles.json'), 'utf8');
    assert.match(profiles, /"instanceEndpoint"/);
    assert.match(profiles, /BEGIN CERTIFICATE/, 'the CA certificate (not secret) is kept with the profile');
    const clientKey = JSON.parse(readFileSync(inst.clientKeyFile, 'utf8')) as { PrivateKeyData: string };
    assert.ok(!profiles.includes(clientKey.PrivateKeyData.slice(0, 40)), 'the client key is not in profiles.json');
    assert.ok(!profiles.includes(readFileSync(inst.passwordFile, 'utf8').trim()), 'the password is not in profiles.json');
    assert.ok(!profiles.includes(e.exports.ALIBABA_CLOUD_ACCESS_KEY_SECRET), 'the AccessKey secret is not in profiles.json');
  });

  it('the Keys view shows the instance profile with its keys and the instance id', async () => {
    const rows = wb.treeRows('Keys');
    await rows.filter({ hasText: 'seed-instance-enabled' }).first().waitFor({ state: 'visible', timeout: 45_000 });
    const texts = await wb.treeTexts('Keys');
    const at = (re: RegExp) => texts.findIndex((t) => re.test(t));
    const [provider, profile, key] = [/KMS 3\.0 instance/, /^kms3/, /^seed-instance-enabled/].map(at);
    assert.ok(provider >= 0 && provider < profile && profile < key, `instance → kms3 → seed-instance-enabled: ${JSON.stringify(texts)}`);
    assert.ok(
      texts.some((t) => /^seed-instance-enabled.*kst-/.test(t)),
      `the key row names its instance: ${JSON.stringify(texts)}`,
    );
    await wb.screenshot('instance-profile-keys-view');
  });

  it('Seal Selection with the instance key goes to the instance gateway', async () => {
    const keyRow = wb
      .treeRows('Keys')
      .filter({ hasText: /^seed-instance-enabled/ })
      .first();
    await wb.contextMenu(keyRow, 'Set as Default Sealing Key');
    const status = wb.page.locator('.part.statusbar');
    for (let i = 0; i < 100 && (await status.innerText()).includes('No default key'); i++) await wb.page.waitForTimeout(100);
    // Without a default key, Seal Selection asks for one in a quick pick instead of sealing.
    assert.ok(!(await status.innerText()).includes('No default key'), `the default key is set: ${await status.innerText()}`);
    const e = wb.emulator!;
    const admin = { headers: { 'X-KMS-Envelope-Admin': '1' } };
    await fetch(`${e.url}/__admin/counters`, { method: 'DELETE', ...admin });

    await wb.openFile('secrets.env');
    await wb.selectLine(1, 13); // the value after "DB_PASSWORD="
    await wb.contextMenu(await wb.selectionCentre(), 'Seal Selection');
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      lines = await wb.editorLines();
      if (lines.some((l) => l.startsWith('DB_PASSWORD=kmsenv:v1:'))) break;
      await wb.page.waitForTimeout(200);
    }
    if (!lines.some((l) => l.startsWith('DB_PASSWORD=kmsenv:v1:'))) await wb.screenshot('instance-seal-selection-FAILED');
    assert.ok(
      lines.some((l) => l.startsWith('DB_PASSWORD=kmsenv:v1:')),
      `the value is sealed in place: ${JSON.stringify(lines)}; notifications: ${JSON.stringify(await wb.notifications())}; ` +
        `quick input: ${JSON.stringify(await wb.page.locator('.quick-input-widget:visible').allInnerTexts())}`,
    );
    assert.ok(!lines.some((l) => l.includes(SECRET)), 'the plaintext is gone from the editor');
    const counters = (await (await fetch(`${e.url}/__admin/counters`, admin)).json()) as Record<string, number>;
    assert.ok(
      (counters['instance:AdvanceGenerateDataKey'] ?? 0) >= 1,
      `the instance gateway made the data key: ${JSON.stringify(counters)}`,
    );
    assert.equal(counters['alibaba:GenerateDataKey'] ?? 0, 0, 'not the public gateway');
    await wb.screenshot('instance-seal-selection');
  });
});

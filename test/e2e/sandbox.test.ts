// The `npm start` sandbox in the real UI: the Keys view lists the local key and the clouds' seeded
// keys (emulator on 127.0.0.1), the editor context menu seals a selected value in place, the explorer
// context menu seals a file and the notification offers to delete the plaintext original.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workbench, addSandboxProfiles } from './workbench';

const SECRET = 'correct-horse-battery-staple';

describe('sandbox: keys, editor and explorer menus (emulator + local key)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      emulator: true,
      settings: { 'kmsEnvelope.defaultKey': 'local:local:sandbox' },
      prepare: (ctx) => {
        addSandboxProfiles(ctx);
        writeFileSync(join(ctx.workspace, 'app.env'), `DB_HOST=db.internal\nDB_PASSWORD=${SECRET}\n`);
        writeFileSync(join(ctx.workspace, 'service.yaml'), 'service: billing\npassword: s3cr3t-e2e\n');
      },
    });
  });
  after(async () => {
    await wb?.close();
  });

  it('the Keys view lists the local key and the seeded keys of Tencent, Alibaba and AWS', async () => {
    await wb.openKmsView();
    const rows = wb.treeRows('Keys');
    for (const label of ['Local keys', 'Tencent Cloud KMS', 'Alibaba Cloud KMS', 'AWS KMS']) {
      await rows.filter({ hasText: label }).first().waitFor({ state: 'visible', timeout: 45_000 });
    }
    // Generous: regions load over HTTP from the emulator, and a loaded 2-core CI box is slow.
    await rows.filter({ hasText: 'seed-enabled' }).first().waitFor({ state: 'visible', timeout: 45_000 });
    const texts = await wb.treeTexts('Keys');
    assert.ok(
      texts.some((t) => /^sandbox\b.*e2e sandbox key/.test(t)),
      `no local key "sandbox" row in ${JSON.stringify(texts)}`,
    );
    assert.ok(
      texts.some((t) => t.startsWith('ap-guangzhou')),
      `no Tencent region row in ${JSON.stringify(texts)}`,
    );
    assert.ok(
      texts.some((t) => t.startsWith('cn-hangzhou')),
      `no Alibaba region row in ${JSON.stringify(texts)}`,
    );
    assert.ok(
      texts.some((t) => t.startsWith('us-east-1')),
      `no AWS region row in ${JSON.stringify(texts)}`,
    );
    assert.ok(texts.filter((t) => t.startsWith('seed-disabled')).length >= 2, 'disabled seeded keys are not listed');
    await wb.screenshot('sandbox-keys-view');
  });

  it('editor context menu: Seal Selection replaces the selected value with one armored line', async () => {
    await wb.openFile('app.env');
    await wb.selectLine(2, 'DB_PASSWORD='.length + 1); // the value only
    await wb.contextMenu(await wb.selectionCentre(), 'Seal Selection');
    let lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      lines = await wb.editorLines();
      if (lines.some((l) => l.startsWith('DB_PASSWORD=kmsenv:v1:'))) break;
      await wb.page.waitForTimeout(100);
    }
    if (!lines.some((l) => l.startsWith('DB_PASSWORD=kmsenv:v1:'))) await wb.screenshot('sandbox-seal-selection-FAILED');
    assert.ok(
      lines.some((l) => l.startsWith('DB_PASSWORD=kmsenv:v1:')),
      `not sealed in place: ${JSON.stringify(lines)}`,
    );
    assert.ok(!lines.join('\n').includes(SECRET), 'the plaintext is still in the editor');
    assert.equal(lines[0], 'DB_HOST=db.internal', 'the line before the selection changed');
    await wb.screenshot('sandbox-seal-selection');
  });

  it('explorer context menu: Seal File writes service.yaml.sealed and the notification offers to delete the original', async () => {
    const row = await wb.explorerRow('service.yaml');
    await wb.contextMenu(row, 'Seal File');
    const note = await wb.waitForNotification(/service\.yaml\.sealed/, 30_000).catch(async (e) => {
      await wb.screenshot('sandbox-seal-file-FAILED');
      throw e;
    });
    assert.match(note, /Delete the plaintext original/);
    const sealed = join(wb.workspace, 'service.yaml.sealed');
    assert.ok(existsSync(sealed), `${sealed} was not written`);
    const bytes = readFileSync(sealed);
    assert.equal(bytes[0], 0x02, 'service.yaml.sealed is not an AWS Encryption SDK v2 message');
    assert.ok(!bytes.includes(Buffer.from('s3cr3t-e2e')), 'the sealed file contains the plaintext');
    await wb.page
      .locator('.explorer-folders-view .monaco-list-row', { hasText: 'service.yaml.sealed' })
      .first()
      .waitFor({ state: 'visible' });
    await wb.screenshot('sandbox-seal-file-notification');
  });
});

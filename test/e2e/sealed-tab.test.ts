// A decrypted sealed file must not look like the plaintext file beside it (issue 15): with
// service.yaml and service.yaml.sealed both open, the decrypted tab reads "🔒 service.yaml", and
// while it is active a status bar item names the recipient by alias. Screenshot:
// test-results/e2e/sealed-tab-beside-plaintext.png.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workbench, cli } from './workbench';

const PLAIN = ['replicas: 2', 'image: web:1.4', ''].join('\n');
const SECRET = ['replicas: 2', 'image: web:1.4', 'token: tok-e2e-sealed-tab', ''].join('\n');

describe('decrypted tab beside the plaintext file (extension from source)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      prepare: (ctx) => {
        cli(ctx, ['keys', 'create', '--provider', 'local', '--alias', 'team-key']);
        const secret = join(ctx.home, 'secret-source.yaml');
        writeFileSync(secret, SECRET);
        cli(ctx, ['seal', secret, '-o', join(ctx.workspace, 'service.yaml.sealed'), '--key', 'local:local:team-key']);
        writeFileSync(join(ctx.workspace, 'service.yaml'), PLAIN);
      },
      settings: { 'kmsEnvelope.localKeys': 'always' },
    });
  });
  after(async () => {
    await wb?.close();
  });

  it('the decrypted tab has its own label and a lock; the status bar names the recipient', async () => {
    // The Keys view loaded, so the recipient's alias is known.
    await wb.openKmsView();
    await wb.treeRows().filter({ hasText: 'team-key' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.openFile('service.yaml');
    await wb.contextMenu(await wb.explorerRow('service.yaml.sealed'), 'Open Sealed File (Decrypted in Memory)');
    const tab = wb.page.locator('.tabs-container .tab', { hasText: '🔒 service.yaml' }).first();
    await tab.waitFor({ state: 'visible', timeout: 30_000 });
    let lines: string[] = [];
    for (let i = 0; i < 100 && !lines.includes('token: tok-e2e-sealed-tab'); i++) {
      if (i) await wb.page.waitForTimeout(100);
      lines = await wb.editorLines();
    }
    assert.ok(lines.includes('token: tok-e2e-sealed-tab'), `plaintext not shown: ${lines.join(' / ')}`);
    const labels = (await wb.page.locator('.tabs-container .tab .label-name').allInnerTexts()).map((t) => t.trim());
    assert.ok(labels.includes('service.yaml') && labels.includes('🔒 service.yaml'), `tabs: ${labels.join(' | ')}`);
    // The decrypted tab carries the sealed badge (drawn as CSS ::after content); the plaintext tab does not.
    const badges = async (name: RegExp) =>
      wb.page
        .locator('.tabs-container .tab', { hasText: name })
        .first()
        .evaluate((el) => {
          const g = globalThis as unknown as { getComputedStyle(e: unknown, p: string): { content: string } };
          return Array.from((el as unknown as { querySelectorAll(s: string): ArrayLike<unknown> }).querySelectorAll('*'))
            .map((e) => g.getComputedStyle(e, '::after').content)
            .join(' ');
        });
    for (let i = 0; i < 50 && !(await badges(/🔒 service\.yaml/)).includes('"S"'); i++) await wb.page.waitForTimeout(100);
    assert.ok((await badges(/🔒 service\.yaml/)).includes('"S"'), 'the S badge on the decrypted tab');
    assert.ok(!(await badges(/^service\.yaml$/)).includes('"S"'), 'no badge on the plaintext tab');
    const status = wb.page.locator('.part.statusbar .statusbar-item', { hasText: 'Sealed: team-key' });
    await status.first().waitFor({ state: 'visible', timeout: 15_000 });
    await wb.page.waitForTimeout(300);
    await wb.screenshot('sealed-tab-beside-plaintext');
    // The plaintext file's tab active: the sealed status goes away.
    await wb.page
      .locator('.tabs-container .tab', { hasText: /^service\.yaml$/ })
      .first()
      .click();
    await status.first().waitFor({ state: 'hidden', timeout: 15_000 });
  });
});

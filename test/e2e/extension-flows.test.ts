// The main flows as a user sees them in the real workbench (code-server + Chromium), one screenshot
// each in test-results/e2e/: the Keys view with local keys and both clouds (emulator), sealing a
// selected value from the editor's context menu (and the hover on it), sealing a file from the
// explorer's context menu (S badge) and opening it decrypted.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workbench, addSandboxProfiles } from './workbench';

const CONFIG = ['database:', '  host: db.internal', '  password: hunter2-e2e', '  port: 5432', ''].join('\n');
const ENV = ['API_TOKEN=tok-e2e-12345', 'LOG_LEVEL=info', ''].join('\n');

/** Waits until no progress toast with this text is left (so the screenshot shows the result, not the work). */
async function noToast(wb: Workbench, text: string): Promise<void> {
  const loc = wb.page.locator('.notification-list-item-message', { hasText: text });
  for (let i = 0; i < 100 && (await loc.count()) > 0; i++) await wb.page.waitForTimeout(100);
}

describe('extension flows (extension from source)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      emulator: true,
      prepare: (ctx) => {
        addSandboxProfiles(ctx);
        writeFileSync(join(ctx.workspace, 'config.yaml'), CONFIG);
        writeFileSync(join(ctx.workspace, 'app.env'), ENV);
      },
      settings: { 'kmsEnvelope.defaultKey': 'local:local:sandbox' },
    });
  });
  after(async () => {
    await wb?.close();
  });

  it('the Keys view lists local keys and both clouds per region, with state icons', async () => {
    await wb.openKmsView();
    const rows = wb.treeRows();
    await rows.filter({ hasText: 'seed-pending-deletion' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.page.waitForTimeout(500);
    const texts = await wb.treeTexts();
    for (const want of [
      'Local keys',
      'sandbox',
      'Tencent Cloud KMS',
      'ap-guangzhou',
      'Alibaba Cloud KMS',
      'cn-hangzhou',
      'seed-enabled',
      'seed-disabled',
    ]) {
      assert.ok(
        texts.some((t) => t.includes(want)),
        `no row with "${want}": ${texts.join(' | ')}`,
      );
    }
    assert.ok(
      texts.some((t) => /sandbox.*default/.test(t)),
      `the default key row is marked: ${texts.join(' | ')}`,
    );
    await wb.screenshot('extension-keys-tree');
  });

  it('Seal Selection from the editor context menu replaces the value with one armored line; the hover shows its header', async () => {
    await wb.openFile('config.yaml');
    await wb.selectLine(3, 13); // "hunter2-e2e" after "  password: "
    await wb.contextMenu(await wb.selectionCentre(), 'Seal Selection');
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      lines = await wb.editorLines();
      if (lines.some((l) => l.includes('kmsenv:v1:'))) break;
      await wb.page.waitForTimeout(100);
    }
    const sealed = lines.find((l) => l.includes('kmsenv:v1:'));
    assert.ok(sealed, `no armored value in the editor: ${lines.join(' / ')}`);
    assert.match(sealed, /^ {2}password: kmsenv:v1:/);
    assert.ok(
      lines.some((l) => l === '  port: 5432'),
      'the other lines are untouched',
    );
    await wb.page.keyboard.press('Home');
    await noToast(wb, 'Sealing');
    await wb.screenshot('extension-seal-selection');
    // Hover on the blob: header only.
    const blob = wb.page.locator('.editor-instance .view-line', { hasText: 'kmsenv:v1:' }).first();
    const box = (await blob.boundingBox())!;
    await wb.page.mouse.move(box.x + 200, box.y + box.height / 2);
    const hover = wb.page.locator('.monaco-hover-content', { hasText: 'KMS Envelope sealed value' }).first();
    await hover.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await hover.innerText(), /Local keys/);
    await wb.screenshot('extension-seal-selection-hover');
    await wb.page.mouse.move(700, 780);
  });

  it('Seal Selection from the command palette seals another value of the same file', async () => {
    await wb.selectLine(2, 9); // "db.internal" after "  host: "
    // F1 straight away (Workbench.palette presses Escape first, which would drop the editor selection).
    await wb.page.keyboard.press('F1');
    const input = wb.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill('>KMS Envelope: Seal Selection');
    await wb.page
      .locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: 'KMS Envelope: Seal Selection' })
      .first()
      .click();
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      lines = await wb.editorLines();
      if (lines.some((l) => l.startsWith('  host: kmsenv:v1:'))) break;
      await wb.page.waitForTimeout(100);
    }
    if (!lines.some((l) => l.startsWith('  host: kmsenv:v1:'))) await wb.screenshot('extension-palette-problem');
    assert.ok(
      lines.some((l) => l.startsWith('  host: kmsenv:v1:')),
      `host not sealed: ${lines.join(' / ')}; notifications: ${(await wb.notifications()).join(' | ')}`,
    );
    assert.equal(lines.filter((l) => l.includes('kmsenv:v1:')).length, 2);
  });

  it('right-click on a sealed value offers Unseal / Copy Unsealed / Inspect; Inspect shows its header', async () => {
    const blob = wb.page.locator('.editor-instance .view-line', { hasText: 'password: kmsenv:v1:' }).first();
    const box = (await blob.boundingBox())!;
    const at = { x: box.x + 250, y: box.y + box.height / 2 };
    await wb.page.mouse.click(at.x, at.y); // cursor onto the blob, no selection
    await wb.page.waitForTimeout(300);
    await wb.contextMenu(at, 'Inspect Sealed Header');
    await wb.page.locator('.tabs-container .tab', { hasText: 'Sealed value at config.yaml' }).first().waitFor({ state: 'visible' });
    // Rendered in a Markdown preview (a webview): a table and plain words, no escaped Markdown source.
    const body = wb.page.frameLocator('iframe.webview.ready').frameLocator('#active-frame').locator('body');
    await body.locator('table').first().waitFor({ state: 'visible', timeout: 20_000 });
    const text = await body.innerText();
    assert.match(text, /Local keys/);
    assert.match(text, /sandbox/, 'the recipient is named by its alias');
    assert.match(text, /Suite ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY/);
    assert.doesNotMatch(text, /\\[-.]|\| ---|\*\*/, `escaped Markdown source shown: ${text}`);
    await wb.screenshot('extension-inspect-value');
    // Off the blob and with no selection, the sealed-value entries are not offered.
    await wb.page.locator('.tabs-container .tab', { hasText: 'config.yaml' }).first().click();
    const first = wb.page.locator('.editor-instance .view-line', { hasText: 'database:' }).first();
    const fb = (await first.boundingBox())!;
    await wb.page.mouse.click(fb.x + 20, fb.y + fb.height / 2);
    // The context key follows the cursor through a round trip to the extension host; give it a
    // few seconds to settle (it must, or the menu keeps offering Unseal off a blob).
    const menu = wb.page.locator('.context-view .monaco-menu');
    let labels: string[] = [];
    for (let i = 0; i < 10; i++) {
      await wb.page.waitForTimeout(300);
      await wb.page.mouse.click(fb.x + 20, fb.y + fb.height / 2, { button: 'right' });
      await menu.waitFor({ state: 'visible' });
      labels = (await menu.locator('.action-label').allInnerTexts()).map((t) => t.trim());
      await wb.page.keyboard.press('Escape');
      await menu.waitFor({ state: 'hidden' });
      if (!labels.includes('Copy Unsealed Value') && !labels.includes('Unseal Selection')) break;
    }
    assert.ok(!labels.includes('Copy Unsealed Value') && !labels.includes('Unseal Selection'), `offered off a blob: ${labels.join(' | ')}`);
  });

  it('Seal File from the explorer writes app.env.sealed (S badge); Open Sealed File shows the plaintext in memory', async () => {
    await wb.contextMenu(await wb.explorerRow('app.env'), 'Seal File');
    const msg = await wb.waitForNotification(/Delete the plaintext original/);
    assert.match(msg, /app\.env\.sealed/);
    await wb.page
      .locator('.notification-list-item', { hasText: 'Delete the plaintext original' })
      .locator('a.monaco-button', { hasText: 'Delete Original' })
      .first()
      .click();
    const sealedRow = await wb.explorerRow('app.env.sealed');
    for (
      let i = 0;
      i < 50 && (await wb.page.locator('.explorer-folders-view .monaco-list-row', { hasText: /^app\.env$/ }).count()) > 0;
      i++
    )
      await wb.page.waitForTimeout(100);
    // File decoration badges are drawn as CSS ::after content on the label.
    let badge = '';
    for (let i = 0; i < 50 && !badge.includes('"S"'); i++) {
      if (i) await wb.page.waitForTimeout(100);
      badge = await sealedRow.evaluate((row) => {
        const g = globalThis as unknown as { getComputedStyle(e: unknown, p: string): { content: string } };
        return Array.from((row as unknown as { querySelectorAll(s: string): ArrayLike<unknown> }).querySelectorAll('*'))
          .map((e) => g.getComputedStyle(e, '::after').content)
          .join(' ');
      });
    }
    assert.ok(badge.includes('"S"'), `no S badge on the sealed file row: ${badge}`);
    await wb.screenshot('extension-explorer-sealed-file');
    await wb.contextMenu(sealedRow, 'Open Sealed File (Decrypted in Memory)');
    await wb.page.locator('.tabs-container .tab', { hasText: 'app.env' }).first().waitFor({ state: 'visible' });
    let lines: string[] = [];
    for (let i = 0; i < 100; i++) {
      lines = await wb.editorLines();
      if (lines.includes('API_TOKEN=tok-e2e-12345')) break;
      await wb.page.waitForTimeout(100);
    }
    assert.ok(lines.includes('API_TOKEN=tok-e2e-12345'), `plaintext not shown: ${lines.join(' / ')}`);
    await noToast(wb, 'Unsealing');
    await wb.screenshot('extension-sealed-file-open');
    assert.deepEqual(
      (await wb.notifications()).filter((n) => /fail|error|cannot/i.test(n)),
      [],
      'error notifications were shown',
    );
  });
});

// The first-run walkthrough (contributes.walkthroughs) in the real workbench, and the pictures of the
// README and of the walkthrough itself: `npm run screenshots` runs this file and copies the
// `listing-*` and `walkthrough-*` screenshots into media/screenshots/ and media/walkthrough/
// (scripts/screenshots.mjs), so they are refreshed from the product, never hand-edited.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT } from '../../scripts/vscode/code-server';
import { Workbench, addSandboxProfiles, cli } from './workbench';

const SERVICE = ['service:', '  name: billing', '  db_password: s3cret-walkthrough-e2e', '  replicas: 3', ''].join('\n');
const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  contributes: { walkthroughs: { title: string; steps: { title: string }[] }[] };
};
const walkthrough = manifest.contributes.walkthroughs[0];

describe('first-run walkthrough and listing pictures (extension from source)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      emulator: true,
      prepare: (ctx) => {
        addSandboxProfiles(ctx);
        cli(ctx, ['seal', '--key', 'local:local:sandbox', '-o', join(ctx.workspace, 'service.yaml.sealed'), '-'], SERVICE);
      },
      settings: { 'kmsEnvelope.defaultKey': 'local:local:sandbox', 'workbench.startupEditor': 'none' },
    });
  });
  after(async () => {
    await wb?.close();
  });

  /** The walkthrough's step rows (`.getting-started-step`) by their title. */
  const step = (title: string) => wb.page.locator('.getting-started-step', { hasText: title }).first();
  /** A step row whose check mark is set (VS Code marks the row's checkbox `.complete`). */
  const checked = (title: string) =>
    wb.page.locator('.getting-started-step', { hasText: title, has: wb.page.locator('.complete') }).first();
  /** No toasts left over in a picture (they stay in the notification centre). */
  async function clearNotifications(): Promise<void> {
    await wb.page.keyboard.press('Escape');
    for (let i = 0; i < 30 && (await wb.page.locator('.notification-toast').count()) > 0; i++) {
      if (i === 0) await wb.page.keyboard.press('Escape');
      const close = wb.page.locator('.notification-toast .codicon-notifications-clear').first();
      if ((await close.count()) > 0) await close.click().catch(() => undefined);
      await wb.page.waitForTimeout(100);
    }
  }
  /** Welcome: Open Walkthrough… → ours; it asks in a second quick pick, so not runCommand (which waits for the palette to close). */
  async function openWalkthrough(): Promise<void> {
    await wb.palette('Welcome: Open Walkthrough');
    await wb.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: 'Open Walkthrough' }).first().click();
    await wb.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: walkthrough.title }).first().click();
    await wb.page
      .locator('.gettingStartedSlideDetails h2', { hasText: walkthrough.title })
      .first()
      .waitFor({ state: 'visible', timeout: 20_000 });
  }

  it('the Keys view with local keys and three clouds (README picture)', async () => {
    await wb.openKmsView();
    await wb.treeRows().filter({ hasText: 'seed-pending-deletion' }).first().waitFor({ state: 'visible', timeout: 30_000 });
    await wb.page.waitForTimeout(500);
    const texts = (await wb.treeTexts()).join(' | ');
    for (const want of ['Local keys', 'Tencent Cloud KMS', 'Alibaba Cloud KMS', 'AWS KMS', 'seed-enabled'])
      assert.ok(texts.includes(want), `no "${want}": ${texts}`);
    await wb.screenshot('listing-keys-view');
    await wb.screenshot('walkthrough-keys-view', wb.page.locator('.part.sidebar'));
  });

  it('Welcome: Open Walkthrough offers "Get Started with KMS Envelope": four steps, each with a picture that loads', async () => {
    await openWalkthrough();
    for (const s of walkthrough.steps) await step(s.title).waitFor({ state: 'visible' });
    assert.equal(walkthrough.steps.length, 4);
    // Each step's picture: select the step, its image must load (a missing media file renders nothing).
    for (const s of walkthrough.steps) {
      await step(s.title).locator('.step-title, h3').first().click();
      const img = wb.page.locator('.getting-started-media img').first();
      await img.waitFor({ state: 'visible', timeout: 10_000 });
      let width = 0;
      for (let i = 0; i < 50 && width === 0; i++) {
        if (i) await wb.page.waitForTimeout(100);
        width = await img.evaluate((e) => (e as unknown as { naturalWidth: number }).naturalWidth);
      }
      assert.ok(width > 100, `the picture of step "${s.title}" did not load (naturalWidth ${width})`);
    }
    await step(walkthrough.steps[0].title).locator('.step-title, h3').first().click();
    await wb.page.mouse.move(700, 780);
    await wb.page.keyboard.press('Control+B'); // the side bar closed: the walkthrough shows its picture beside the steps
    await wb.page.locator('.part.sidebar').waitFor({ state: 'hidden' });
    await wb.page.waitForTimeout(500);
    await wb.screenshot('listing-walkthrough');
    await wb.page.keyboard.press('Control+B');
    await wb.page.locator('.part.sidebar').waitFor({ state: 'visible' });
  });

  it('step "Use local keys": its button shows the local keys and the step is checked', async () => {
    await step(walkthrough.steps[0].title).locator('a.monaco-button', { hasText: 'Use Local Keys' }).first().click();
    await wb.waitForNotification(/Local keys are shown/);
    await checked(walkthrough.steps[0].title).waitFor({ state: 'attached' });
  });

  it('step "Seal a value": Seal a Sample Value seals the sample password in an untitled editor; the hover names the key', async () => {
    await step(walkthrough.steps[2].title).locator('.step-title, h3').first().click();
    await step(walkthrough.steps[2].title).locator('a.monaco-button', { hasText: 'Seal a Sample Value' }).first().click();
    let lines: string[] = [];
    for (let i = 0; i < 100 && !lines.some((l) => l.startsWith('  password: kmsenv:v1:')); i++) {
      if (i) await wb.page.waitForTimeout(100);
      lines = await wb.editorLines();
    }
    assert.ok(
      lines.some((l) => l.startsWith('  password: kmsenv:v1:')),
      `the sample password was not sealed: ${lines.join(' / ')}`,
    );
    assert.ok(!lines.some((l) => l.includes('correct-horse-battery-staple')), 'the plaintext is still in the editor');
    // The line re-renders while the editor settles (a box of null = detached meanwhile): ask again.
    let box: { x: number; y: number; height: number } | null = null;
    for (let i = 0; i < 50 && !box; i++) {
      if (i) await wb.page.waitForTimeout(100);
      box = await wb.page
        .locator('.editor-instance .view-line', { hasText: 'kmsenv:v1:' })
        .first()
        .boundingBox({ timeout: 2_000 })
        .catch(() => null);
    }
    assert.ok(box, 'the sealed line is not on screen');
    await wb.page.mouse.move(box.x + 220, box.y + box.height / 2);
    const hover = wb.page.locator('.monaco-hover-content', { hasText: 'KMS Envelope sealed value' }).first();
    await hover.waitFor({ state: 'visible', timeout: 15_000 });
    assert.match(await hover.innerText(), /sandbox|Local keys/);
    assert.match(await wb.page.locator('.tabs-container .tab.active').innerText(), /kms-envelope-sample\.yaml/);
    await clearNotifications();
    await wb.screenshot('listing-sealed-value');
    await wb.screenshot('walkthrough-seal-value', wb.page.locator('.part.editor'));
    await wb.page.mouse.move(700, 780);
  });

  it('a sealed file opened from the explorer shows its plaintext in memory (README picture)', async () => {
    await wb.contextMenu(await wb.explorerRow('service.yaml.sealed'), 'Open Sealed File (Decrypted in Memory)');
    let lines: string[] = [];
    for (let i = 0; i < 100 && !lines.includes('  db_password: s3cret-walkthrough-e2e'); i++) {
      if (i) await wb.page.waitForTimeout(100);
      lines = await wb.editorLines();
    }
    assert.ok(lines.includes('  db_password: s3cret-walkthrough-e2e'), `plaintext not shown: ${lines.join(' / ')}`);
    for (let i = 0; i < 100 && (await wb.page.locator('.notification-list-item-message', { hasText: 'Unsealing' }).count()) > 0; i++)
      await wb.page.waitForTimeout(100);
    await clearNotifications();
    await wb.page.mouse.move(700, 780);
    await wb.screenshot('listing-decrypted-editor');
    await wb.screenshot('walkthrough-sealed-file', wb.page.locator('.part.editor'));
  });

  it('the walkthrough checks the steps that were done', async () => {
    await openWalkthrough();
    for (const i of [0, 2, 3])
      await checked(walkthrough.steps[i].title)
        .waitFor({ state: 'attached', timeout: 10_000 })
        .catch(() => assert.fail(`step "${walkthrough.steps[i].title}" is not checked`));
    assert.equal(await checked(walkthrough.steps[1].title).count(), 0, 'Add a cloud profile was not done but is checked');
  });
});

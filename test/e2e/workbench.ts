// Playwright driver for the real VS Code web workbench (code-server) with the extension loaded from
// source (or from a .vsix). One Workbench = one throw-away code-server + one headless Chromium page.
// See test/e2e/README.md for how to write a scenario.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import {
  REPO_ROOT,
  SCRUB_ENV,
  exitOnSignals,
  removeOnExit,
  killGroup,
  launchChromium,
  startCodeServer,
  startEmulatorProcess,
  waitForWorkbench,
  type CodeServer,
  type Emulator,
} from '../../scripts/vscode/code-server';

export const SCREENSHOT_DIR = join(REPO_ROOT, 'test-results', 'e2e');

// scripts/vscode/e2e.ts stops a run (timeout, Ctrl+C) with SIGTERM: take the servers down with us.
exitOnSignals();

export interface WorkbenchOptions {
  /** Test this installed .vsix instead of the source tree. */
  vsix?: string;
  /** Start the loopback KMS emulator (seeded) first; its URL is in `emulator.url`. */
  emulator?: boolean;
  /** Runs before code-server starts, with the run's dirs (e.g. add profiles with the CLI into configDir). */
  prepare?: (ctx: PrepareContext) => Promise<void> | void;
  /** Extra user settings. */
  settings?: Record<string, unknown>;
}

export interface PrepareContext {
  configDir: string;
  home: string;
  /** The folder the window opens; write sample files here. */
  workspace: string;
  /** Environment of the extension host (KMS_ENVELOPE_CONFIG_DIR, ...): pass it to CLI calls. */
  env: Record<string, string>;
  emulator?: Emulator;
}

/** Runs the built CLI (dist/cli.js) with the workbench's environment; stdin (secrets) via a pipe, never argv. */
export function cli(ctx: PrepareContext, args: string[], stdin = ''): string {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist', 'cli.js'), ...args], {
    input: stdin,
    encoding: 'utf8',
    env: { ...process.env, ...ctx.env },
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`kms-envelope ${args.join(' ')} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * The `npm start` sandbox: profiles tencent/sandbox, alibaba/sandbox and aws/sandbox pointing at the emulator
 * (secrets into the keychain through the CLI's stdin) and a local key with alias "sandbox".
 */
export function addSandboxProfiles(ctx: PrepareContext): void {
  const e = ctx.emulator;
  assert.ok(e, 'addSandboxProfiles needs Workbench.open({ emulator: true })');
  const x = e.exports;
  cli(
    ctx,
    [
      'profiles',
      'add',
      '--provider',
      'tencent',
      '--name',
      'sandbox',
      '--endpoint',
      e.url,
      '--region',
      'ap-guangzhou',
      '--region',
      'ap-shanghai',
    ],
    `${x.TENCENTCLOUD_SECRET_ID}\n${x.TENCENTCLOUD_SECRET_KEY}\n`,
  );
  cli(
    ctx,
    [
      'profiles',
      'add',
      '--provider',
      'alibaba',
      '--name',
      'sandbox',
      '--endpoint',
      e.url,
      '--region',
      'cn-hangzhou',
      '--region',
      'cn-shanghai',
    ],
    `${x.ALIBABA_CLOUD_ACCESS_KEY_ID}\n${x.ALIBABA_CLOUD_ACCESS_KEY_SECRET}\n`,
  );
  cli(
    ctx,
    ['profiles', 'add', '--provider', 'aws', '--name', 'sandbox', '--endpoint', e.url, '--region', 'us-east-1', '--region', 'eu-west-1'],
    `${x.AWS_ACCESS_KEY_ID}\n${x.AWS_SECRET_ACCESS_KEY}\n`,
  );
  cli(ctx, ['keys', 'create', '--provider', 'local', '--alias', 'sandbox', '--description', 'e2e sandbox key']);
}

export class Workbench {
  private constructor(
    readonly page: Page,
    readonly server: CodeServer,
    private readonly browser: Browser,
    readonly root: string,
    readonly configDir: string,
    readonly emulator: Emulator | undefined,
    readonly workspace: string,
  ) {}

  static async open(opts: WorkbenchOptions = {}): Promise<Workbench> {
    const root = mkdtempSync(join(tmpdir(), 'kms-envelope-e2e-'));
    removeOnExit(root);
    const configDir = join(root, 'config');
    const home = join(root, 'home');
    const workspace = join(root, 'workspace');
    for (const d of [configDir, home, workspace, join(root, 'tmp')]) mkdirSync(d, { recursive: true });
    for (const k of Object.keys(process.env)) if (SCRUB_ENV.test(k)) delete process.env[k];
    let emulator: Emulator | undefined;
    let server: CodeServer | undefined;
    let browser: Browser | undefined;
    try {
      if (opts.emulator) emulator = await startEmulatorProcess('on', join(root, 'emulator-state.json'));
      const env: Record<string, string> = {
        HOME: home,
        KMS_ENVELOPE_CONFIG_DIR: configDir,
        KMS_ENVELOPE_TEST_TMP: join(root, 'tmp'),
        ...(emulator ? { KMS_ENVELOPE_EMULATOR_URL: emulator.url } : {}),
      };
      await opts.prepare?.({ configDir, home, workspace, env, emulator });
      server = await startCodeServer({
        root: join(root, 'vscode'),
        workspace,
        env,
        settings: opts.settings,
        installVsix: opts.vsix ? [opts.vsix] : [],
      });
      browser = await launchChromium();
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.setDefaultTimeout(20_000);
      await page.goto(server.workbenchUrl({ extensionDevelopmentPath: opts.vsix ? undefined : REPO_ROOT }));
      await waitForWorkbench(page);
      return new Workbench(page, server, browser, root, configDir, emulator, workspace);
    } catch (e) {
      await browser?.close().catch(() => undefined);
      await server?.stop();
      if (emulator) await killGroup(emulator.proc);
      rmSync(root, { recursive: true, force: true });
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.browser.close().catch(() => undefined);
    await this.server.stop();
    if (this.emulator) await killGroup(this.emulator.proc);
    rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
  }

  /** Saves test-results/e2e/<name>.png (the whole page, or only `part` of it) and returns its path. */
  async screenshot(name: string, part?: Locator): Promise<string> {
    mkdirSync(SCREENSHOT_DIR, { recursive: true });
    const path = join(SCREENSHOT_DIR, `${name}.png`);
    if (part) await part.screenshot({ path });
    else await this.page.screenshot({ path });
    return path;
  }

  // --- activity bar and views ---------------------------------------------------------------

  /** The activity-bar entry of the extension's view container. */
  activityItem(title = 'KMS Envelope'): Locator {
    return this.page.locator(`.part.activitybar .action-item a.action-label[aria-label^="${title}"]`).first();
  }

  /** Clicks the KMS Envelope activity-bar item (unless its side bar is already showing). */
  async openKmsView(): Promise<void> {
    await this.activityItem().waitFor({ state: 'visible', timeout: 30_000 });
    if (!/^kms envelope/i.test(await this.sideBarTitle())) await this.activityItem().click();
    // A container with a single view shows "KMS Envelope: Keys" as the side bar title.
    await this.page.locator('.part.sidebar .composite.title .title-label h2', { hasText: /^KMS Envelope/i }).waitFor({ state: 'visible' });
    await this.viewPane('Keys').locator('.pane-body').waitFor({ state: 'visible' });
    await this.page.mouse.move(700, 700); // no tooltip of the activity item in the screenshots
  }

  /** The side bar's title (e.g. "KMS Envelope: Keys", "Explorer"); '' when none is open. */
  async sideBarTitle(): Promise<string> {
    const t = this.page.locator('.part.sidebar .composite.title .title-label h2');
    if ((await t.count()) === 0 || !(await t.first().isVisible())) return '';
    return ((await t.first().textContent()) ?? '').trim();
  }

  /** A view pane in the side bar by its view name (e.g. "Keys"); its header is hidden when it is the only view. */
  viewPane(name: string): Locator {
    return this.page.locator('.part.sidebar .pane', { has: this.page.locator(`.pane-header[aria-label="${name} Section"]`) }).first();
  }

  /** The text a view pane shows (tree rows, or its welcome / "no data provider" message). */
  async viewText(name = 'Keys'): Promise<string> {
    return ((await this.viewPane(name).locator('.pane-body').innerText()) ?? '').replace(/\s+/g, ' ').trim();
  }

  /** Rows of a tree/list view (`.monaco-list-row`) inside the view pane titled `title`. */
  treeRows(title = 'Keys'): Locator {
    return this.viewPane(title).locator('.monaco-list-row');
  }

  /** Text of every visible row of the view pane (label + description). */
  async treeTexts(title = 'Keys'): Promise<string[]> {
    return (await this.treeRows(title).allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  }

  // --- command palette -----------------------------------------------------------------------

  /** Opens the command palette (F1) and types `text`; returns the labels it offers. */
  async palette(text: string): Promise<string[]> {
    await this.page.keyboard.press('Escape');
    await this.page.keyboard.press('F1');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(`>${text}`);
    const rows = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await rows.first().waitFor({ state: 'visible', timeout: 10_000 });
    return (await rows.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
  }

  /** Runs a command from the palette by its full title ("KMS Envelope: Show Log"); fails if not offered. */
  async runCommand(title: string): Promise<void> {
    const offered = await this.palette(title);
    assert.ok(
      offered.some((o) => o.startsWith(title)),
      `the command palette does not offer "${title}"; it offers: ${offered.slice(0, 8).join(' | ')}`,
    );
    const row = this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: title }).first();
    await row.click();
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /** Answers an open quick pick / input box: types `text` and presses Enter. */
  async answerQuickInput(text: string): Promise<void> {
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(text);
    await this.page.keyboard.press('Enter');
  }

  // --- context menus -------------------------------------------------------------------------

  /**
   * Right-clicks `target` (a locator: its centre; or page coordinates) and clicks the context-menu
   * entry `item`; fails listing what the menu offers. The workbench renders menus in a shadow root.
   */
  async contextMenu(target: Locator | { x: number; y: number }, item: string): Promise<void> {
    if ('x' in target) await this.page.mouse.click(target.x, target.y, { button: 'right' });
    else await target.click({ button: 'right' });
    const menu = this.page.locator('.context-view .monaco-menu');
    await menu.waitFor({ state: 'visible' });
    const labels = (await menu.locator('.action-label').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
    assert.ok(labels.includes(item), `context menu has no "${item}"; it has: ${labels.join(' | ')}`);
    const entry = menu
      .locator('.action-item', { has: this.page.locator('.action-label', { hasText: new RegExp(`^${escapeRe(item)}$`) }) })
      .first();
    await entry.hover();
    await entry.click();
    // A busy workbench can miss the click while the menu is still settling: then the entry, still
    // hovered and focused, takes Enter. (An entry that ran closes the menu, so this never runs twice.)
    if (
      !(await menu.waitFor({ state: 'hidden', timeout: 5_000 }).then(
        () => true,
        () => false,
      ))
    ) {
      await entry.focus();
      await this.page.keyboard.press('Enter');
      await menu.waitFor({ state: 'hidden' });
    }
  }

  /** Centre of the active editor's (first) selection, for a right-click that keeps the selection. */
  async selectionCentre(): Promise<{ x: number; y: number }> {
    const sel = this.page.locator('.editor-instance .monaco-editor .selected-text').first();
    // The selection layer renders on the next animation frame after the key presses.
    let box: { x: number; y: number; width: number; height: number } | null = null;
    for (let i = 0; i < 50 && !(box && box.width > 0); i++) {
      if (i) await this.page.waitForTimeout(100);
      box = (await sel.count()) > 0 ? await sel.boundingBox() : null;
    }
    assert.ok(box && box.width > 0, 'the editor has no visible selection');
    return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
  }

  /** Explorer row of a workspace file (opens the Explorer first). */
  async explorerRow(name: string): Promise<Locator> {
    // force: an unsaved-file badge on the Explorer item takes the pointer (the click reaches the item all the same).
    if (!/^explorer/i.test(await this.sideBarTitle())) await this.activityItem('Explorer').click({ force: true });
    const row = this.page
      .locator('.explorer-folders-view .monaco-list-row', {
        has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRe(name)}$`) }),
      })
      .first();
    await row.waitFor({ state: 'visible' });
    return row;
  }

  // --- editors ---------------------------------------------------------------------------------

  /** Opens a workspace file through Quick Open (Ctrl+P) and waits for its editor tab. */
  async openFile(name: string): Promise<Locator> {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget .quick-input-box input');
    await input.waitFor({ state: 'visible' });
    await input.fill(name);
    // File search runs in the server (ripgrep): pick the row once it is there, not the first guess.
    await this.page.locator('.quick-input-widget .quick-input-list .monaco-list-row', { hasText: name }).first().click();
    await this.page.locator('.tabs-container .tab', { hasText: name }).first().waitFor({ state: 'visible' });
    const editor = this.page.locator('.editor-instance .monaco-editor').first();
    await editor.waitFor({ state: 'visible' });
    return editor;
  }

  /** Selects line `line` (1-based) of the active editor from column `fromColumn` (1-based) to its end. */
  async selectLine(line: number, fromColumn = 1): Promise<void> {
    // Go to Line takes `:line:column`, and the status bar says where the cursor is: no arrow-key
    // presses that a busy workbench can drop while focus moves back from the quick input.
    const status = this.page.locator('.statusbar-item[id="status.editor.selection"]');
    const at = async (re: RegExp) => {
      for (let i = 0; i < 50; i++) {
        if (re.test(await status.innerText().catch(() => ''))) return true;
        await this.page.waitForTimeout(100);
      }
      return false;
    };
    for (let attempt = 1; ; attempt++) {
      await this.page.locator('.editor-instance .monaco-editor .view-lines').first().click();
      await this.page.keyboard.press('Control+G');
      await this.answerQuickInput(`:${line}:${fromColumn}`);
      await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
      if (await at(new RegExp(`^Ln ${line}, Col ${fromColumn}$`))) {
        await this.page.keyboard.press('Shift+End');
        if (await at(new RegExp(`^Ln ${line}, Col \\d+ \\(\\d+ selected\\)$`))) return;
      }
      assert.ok(
        attempt < 3,
        `could not select line ${line} from column ${fromColumn}; the status bar says "${await status.innerText().catch(() => '?')}"`,
      );
    }
  }

  /** The visible text of the active editor, one string per rendered line. */
  async editorLines(): Promise<string[]> {
    const lines = this.page.locator('.editor-instance .monaco-editor .view-lines .view-line');
    const tops = await lines.evaluateAll((els) =>
      els.map((e) => ({
        top: parseFloat((e as unknown as { style: { top: string } }).style.top),
        text: (e.textContent ?? '').replace(/\u00a0/g, ' '),
      })),
    );
    return tops.sort((a, b) => a.top - b.top).map((l) => l.text);
  }

  // --- notifications and panel ---------------------------------------------------------------

  /** Messages of the notification toasts currently shown. */
  async notifications(): Promise<string[]> {
    return (await this.page.locator('.notification-list-item-message').allInnerTexts()).map((t) => t.trim());
  }

  /** Waits for a notification toast whose message matches `re`; returns its text. */
  async waitForNotification(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const loc = this.page.locator('.notification-list-item-message').filter({ hasText: re }).first();
    await loc.waitFor({ state: 'visible', timeout: timeoutMs }).catch(async () => {
      throw new Error(`no notification matching ${re} within ${timeoutMs} ms; shown: ${JSON.stringify(await this.notifications())}`);
    });
    return ((await loc.textContent()) ?? '').trim();
  }

  /** Name of the channel the Output view shows ('' when the Output view is not open). */
  async outputChannel(): Promise<string> {
    const select = this.panel().locator('select.monaco-select-box');
    if ((await select.count()) === 0) return '';
    return select.first().evaluate((el) => {
      const s = el as unknown as { selectedIndex: number; options: ArrayLike<{ text: string }> };
      return s.selectedIndex >= 0 ? s.options[s.selectedIndex].text : '';
    });
  }

  /** The bottom panel (Output, Problems, ...). */
  panel(): Locator {
    return this.page.locator('.part.panel');
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

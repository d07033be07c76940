// Sealed files in git, in the real workbench: the Source Control view's diff of a sealed file (working
// tree against the index, and the staged change against HEAD) and of a file with sealed values shows
// plaintext on both sides, read-only, decrypted in memory; afterwards no plaintext is anywhere on disk
// (the whole temp tree: workspace, .git objects inflated, user data, logs), with a positive control
// that the same search does find a marker that was written.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Workbench, cli, type PrepareContext } from './workbench';

/** A marker no file holds unless plaintext leaked (random per run). */
const M = `mk${randomBytes(6).toString('hex')}`;
const CONTROL = `${M}-control`;

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Files under `dir` whose bytes contain `needle` (every file, .git included, symlinks not followed). */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  const want = Buffer.from(needle);
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      let st;
      try {
        st = statSync(p, { throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        try {
          if (readFileSync(p).includes(want)) out.push(p);
        } catch {
          /* a socket or a file gone meanwhile */
        }
      }
    }
  };
  walk(dir);
  return out;
}

/** Every git object of the repository, inflated (loose and packed), as one buffer. */
function gitObjects(repo: string): Buffer {
  const r = spawnSync('git', ['cat-file', '--batch-all-objects', '--batch', '--unordered'], { cwd: repo, maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, `git cat-file: ${r.stderr}`);
  return r.stdout;
}

function prepareRepo(ctx: PrepareContext): void {
  const ws = ctx.workspace;
  cli(ctx, ['keys', 'create', '--provider', 'local', '--alias', 'team', '--description', 'e2e team key']);
  git(ws, 'init', '-q', '-b', 'main');
  git(ws, 'config', 'user.email', 'e2e@example.invalid');
  git(ws, 'config', 'user.name', 'e2e');
  git(ws, 'config', 'commit.gpgsign', 'false');
  // The sealed file: sealed from stdin, so its plaintext never touches the disk.
  const sealEnv = (version: string) =>
    cli(ctx, ['seal', '-', '-o', join(ws, 'secret.env.sealed'), '--force', '--key', 'local:local:team'], `API_TOKEN=tok-${M}-${version}\n`);
  writeFileSync(
    join(ws, '.kms-envelope.yaml'),
    'rules:\n  - path: "config.yaml"\n    keys: [local:local:team]\n    values: "(?i)password"\n',
  );
  // A file with sealed values: written, then sealed in place (the plaintext file is replaced atomically).
  const sealValues = (version: string) => {
    writeFileSync(join(ws, 'config.yaml'), `database:\n  host: db.internal\n  password: pw-${M}-${version}\n`);
    cli(ctx, ['seal', '--values', join(ws, 'config.yaml')]);
  };
  // The positive control: a plaintext file that is committed.
  writeFileSync(join(ws, 'control.txt'), `${CONTROL}\n`);
  sealEnv('v1');
  sealValues('v1');
  git(ws, 'add', '-A');
  git(ws, 'commit', '-q', '-m', 'v1');
  sealEnv('v2');
  git(ws, 'add', 'secret.env.sealed'); // staged: v2
  sealEnv('v3'); // working tree: v3
  sealValues('v2');
}

describe('decrypted diffs in the Source Control view (git)', () => {
  let wb: Workbench;
  before(async () => {
    wb = await Workbench.open({
      prepare: prepareRepo,
      settings: { 'git.enabled': true, 'git.autoRepositoryDetection': true, 'git.openRepositoryInParentFolders': 'always' },
    });
  });
  after(async () => {
    await wb?.close();
  });

  /** The SCM view's rows of a file, in view order (Staged Changes first, then Changes). */
  async function scmRows(name: string) {
    await wb.page.keyboard.press('Control+Shift+G');
    const rows = wb.page.locator('.scm-view .monaco-list-row', {
      has: wb.page.locator('.label-name', { hasText: new RegExp(`^${name.replace(/\./g, '\\.')}$`) }),
    });
    await rows.first().waitFor({ state: 'visible', timeout: 30_000 });
    return rows;
  }

  /** Both sides of the active diff editor, once the decrypted diff has replaced the git one. */
  async function diffSides(tabText: RegExp, want: { left: RegExp; right: RegExp }) {
    await wb.page
      .locator('.tabs-container .tab', { hasText: tabText })
      .first()
      .waitFor({ state: 'visible', timeout: 30_000 })
      .catch(async (e: unknown) => {
        await wb.screenshot('team-scm-diff-problem');
        throw e;
      });
    const side = (cls: string) => wb.page.locator(`.monaco-diff-editor .editor.${cls} .view-lines`).first();
    let left = '';
    let right = '';
    for (let i = 0; i < 100; i++) {
      left = (
        await side('original')
          .innerText()
          .catch(() => '')
      ).replace(/\u00a0/g, ' ');
      right = (
        await side('modified')
          .innerText()
          .catch(() => '')
      ).replace(/\u00a0/g, ' ');
      if (want.left.test(left) && want.right.test(right)) break;
      await wb.page.waitForTimeout(200);
    }
    return { left, right };
  }

  it('a sealed file, working tree against the index: plaintext on both sides, read-only', async () => {
    const rows = await scmRows('secret.env.sealed');
    assert.equal(await rows.count(), 2, 'secret.env.sealed is both staged and changed');
    await rows.nth(1).click();
    const { left, right } = await diffSides(/secret\.env\.sealed.*decrypted/, { left: /-v2/, right: /-v3/ });
    assert.match(left, new RegExp(`API_TOKEN=tok-${M}-v2`), `index side: ${left}`);
    assert.match(right, new RegExp(`API_TOKEN=tok-${M}-v3`), `working tree side: ${right}`);
    await wb.screenshot('team-scm-diff-sealed-file');
    // Read-only: typing into the working-tree side changes nothing and dirties nothing.
    await wb.page.locator('.monaco-diff-editor .editor.modified .view-lines').first().click();
    await wb.page.keyboard.type('EDIT');
    await wb.page.waitForTimeout(500);
    const after = await wb.page.locator('.monaco-diff-editor .editor.modified .view-lines').first().innerText();
    assert.doesNotMatch(after, /EDIT/);
    assert.equal(await wb.page.locator('.tabs-container .tab.dirty').count(), 0);
    // The git diff it replaced (ciphertext on both sides) is gone.
    assert.equal(await wb.page.locator('.tabs-container .tab', { hasText: /^secret\.env\.sealed \(Working Tree\)$/ }).count(), 0);
  });

  it('the staged change (HEAD against the index) is decrypted too', async () => {
    const rows = await scmRows('secret.env.sealed');
    await rows.nth(0).click();
    const { left, right } = await diffSides(/secret\.env\.sealed \(Index\).*decrypted/, { left: /-v1/, right: /-v2/ });
    assert.match(left, new RegExp(`tok-${M}-v1`), `HEAD side: ${left}`);
    assert.match(right, new RegExp(`tok-${M}-v2`), `index side: ${right}`);
    await wb.screenshot('team-scm-diff-staged');
  });

  it('a file with sealed values shows its values unsealed in place on both sides', async () => {
    const rows = await scmRows('config.yaml');
    await rows.first().click();
    const { left, right } = await diffSides(/config\.yaml.*decrypted/, { left: /-v1/, right: /-v2/ });
    assert.match(left, new RegExp(`password: pw-${M}-v1`), `HEAD side: ${left}`);
    assert.match(right, new RegExp(`password: pw-${M}-v2`), `working tree side: ${right}`);
    assert.match(right, /host: db\.internal/);
    assert.doesNotMatch(left + right, /kmsenv:/, 'no sealed record or header line is shown');
    await wb.screenshot('team-scm-diff-values');
  });

  it('the Keys view shows what uses the key; Schedule Key Deletion warns with the count and lists the files first', async () => {
    await wb.openKmsView();
    const row = wb
      .treeRows()
      .filter({ hasText: /used by 2 files, 1 value/ })
      .first();
    await row.waitFor({ state: 'visible', timeout: 30_000 });
    assert.match(await row.innerText(), /team/);
    // A local key deletes only when disabled: the menu offers the one confirmed step for it.
    await wb.contextMenu(row, 'Disable and Schedule Deletion…');
    const dialog = wb.page.locator('.monaco-dialog-box').first();
    await dialog.waitFor({ state: 'visible' });
    const text = (await dialog.innerText()).replace(/\s+/g, ' ');
    assert.match(text, /Key team is used by 2 files, 1 value in this workspace/);
    assert.match(text, /can never be opened again/);
    await wb.screenshot('team-key-deletion-warning');
    await dialog.locator('.monaco-button', { hasText: 'Show Files' }).first().click();
    const items = wb.page.locator('.quick-input-widget .quick-input-list .monaco-list-row');
    await items.first().waitFor({ state: 'visible' });
    const listed = (await items.allInnerTexts()).map((t) => t.replace(/\s+/g, ' ').trim());
    assert.ok(
      listed.some((t) => t.startsWith('config.yaml') && /1 sealed value/.test(t)),
      listed.join(' | '),
    );
    assert.ok(
      listed.some((t) => t.startsWith('secret.env.sealed') && /sealed file/.test(t)),
      listed.join(' | '),
    );
    await wb.screenshot('team-key-deletion-files');
    await wb.page.keyboard.press('Escape');
    // Back to the question; Cancel stops before anything is asked of the KMS.
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('.monaco-button', { hasText: 'Cancel' }).first().click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await wb.page.locator('.quick-input-widget .quick-input-box input').isVisible(), false, 'no waiting-period question');
  });

  it('no plaintext anywhere on disk: the temp tree and every git object (positive control: the committed marker is found)', async () => {
    await wb.page.keyboard.press('Control+K');
    await wb.page.keyboard.press('W'); // close the editors; give VS Code time to write whatever it writes
    await wb.page.waitForTimeout(1500);
    const all = filesContaining(wb.root, M);
    const control = filesContaining(wb.root, CONTROL);
    assert.ok(
      control.some((f) => f === join(wb.workspace, 'control.txt')),
      `the search finds the control in the work tree: ${control.join(', ')}`,
    );
    const objects = gitObjects(wb.workspace);
    assert.ok(objects.includes(Buffer.from(CONTROL)), 'the control is found in the inflated git objects');
    // Every hit of the marker must be the control's (which holds only M-control).
    const leaks = all.filter((f) => {
      const b = readFileSync(f).toString('latin1');
      return b.split(CONTROL).join('').includes(M);
    });
    assert.deepEqual(leaks, [], `plaintext found on disk: ${leaks.join(', ')}`);
    assert.ok(!objects.toString('latin1').split(CONTROL).join('').includes(M), 'no plaintext in any git object');
  });
});

// Sealed files in a team, in the extension host against the emulator: the Keys view's per-key usage
// counts from headers only (zero KMS calls, emulator counters), Disable Key / Schedule Key Deletion
// warning with that count and listing the files first, and Re-wrap of an explorer multi-selection
// (sealed files and a file of sealed values) through the core's header re-wrap, with its success
// message and without offering a key every selected file already has.
import * as assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { inspect } from '../../src/core/envelope/index';
import { sealValues } from '../../src/core/values';
import { TeamService } from '../../src/core/services/team-service';
import { teamKeysOf } from '../../src/extension/team';
import type { KmsEnvelopeApi, TreeSnapshotNode } from '../../src/extension/api';
import { usageText } from '../../src/extension/key-usage';
import { addEmulatorProfiles, api, choose, counters, render, say, scripted, setSetting } from './extension-support';
import { waitFor } from './helpers';

/** KMS calls (every provider) between two counter readings. */
const delta = (a: Record<string, number>, b: Record<string, number>) =>
  Object.fromEntries(Object.keys({ ...a, ...b }).flatMap((k) => ((b[k] ?? 0) - (a[k] ?? 0) ? [[k, (b[k] ?? 0) - (a[k] ?? 0)]] : [])));

suite('extension: team (key usage, re-wrap)', () => {
  let a: KmsEnvelopeApi;
  let dir: string;
  let localKeyId: string;
  let tencentKeyId: string;
  const localAlias = `team-local-${Date.now().toString(36)}`;
  const tencentAlias = `team-tc-${Date.now().toString(36)}`;
  const seal = async (text: string, keys: Array<{ provider: 'local' | 'tencent'; key: string }>) =>
    a.envelope.sealBytes(
      Buffer.from(text),
      keys.map((k) => ({ provider: k.provider, region: k.provider === 'local' ? 'local' : 'ap-guangzhou', key: k.key })),
      undefined,
    );

  suiteSetup(async function () {
    this.timeout(60_000);
    a = await api();
    await addEmulatorProfiles(a);
    await setSetting('localKeys', 'always');
    const local = await a.keys.getProvider({ provider: 'local', profile: 'default' });
    localKeyId = (await local.createKey('local', { alias: localAlias })).keyId;
    const tencent = await a.keys.getProvider({ provider: 'tencent', profile: 'emu' });
    tencentKeyId = (await tencent.createKey('ap-guangzhou', { alias: tencentAlias })).keyId;
    const ws = vscode.workspace.workspaceFolders?.[0];
    assert.ok(ws, 'the integration window has a workspace folder');
    dir = join(ws.uri.fsPath, `team-${randomUUID().slice(0, 8)}`);
    mkdirSync(dir, { recursive: true });
    // Two sealed files (both keys / the local key only) and a file of three sealed values (local key).
    writeFileSync(
      join(dir, 'both.env.sealed'),
      await seal('A=1\n', [
        { provider: 'local', key: localKeyId },
        { provider: 'tencent', key: tencentKeyId },
      ]),
    );
    writeFileSync(join(dir, 'local.env.sealed'), await seal('B=2\n', [{ provider: 'local', key: localKeyId }]));
    const values = await sealValues('db_password: p1\napi_token: t1\nother_secret: s1\nhost: h\n', {
      format: 'yaml',
      name: 'config.yaml',
      select: (s) => /password|token|secret/.test(s.pathText),
      recipients: () => a.envelope.recipients([{ provider: 'local', region: 'local', key: localKeyId }]),
      resolve: a.envelope.resolver(),
    });
    writeFileSync(join(dir, 'config.yaml'), values.text);
  });
  suiteTeardown(() => rmSync(dir, { recursive: true, force: true }));

  test('the Keys view shows per-key usage from headers only: zero KMS calls', async () => {
    const before = await counters();
    const usage = await a.usage.refresh();
    const after = await counters();
    assert.deepEqual(delta(before, after), {}, 'scanning the workspace calls no KMS');
    assert.ok(usage.length >= 2);
    const local = await a.usage.countOf({ provider: 'local', region: 'local', keyId: localKeyId });
    assert.deepEqual(
      local.files.map((f) => [f.file.slice(dir.length + 1), f.kind, f.values]),
      [
        ['both.env.sealed', 'file', 0],
        ['config.yaml', 'values', 3],
        ['local.env.sealed', 'file', 0],
      ],
    );
    assert.equal(local.values, 3);
    a.refresh();
    const tree = await a.getTreeSnapshot({ expandCollapsed: true });
    const localRow = findKey(tree, localKeyId);
    assert.ok(localRow, render(tree));
    assert.match(localRow.description ?? '', /used by 3 files, 3 values/, render(tree));
    const tc = await a.usage.countOf({ provider: 'tencent', region: 'ap-guangzhou', keyId: tencentKeyId });
    assert.equal(usageText(tc), 'used by 1 file');
  });

  test('after a file changes, only that file is read again: no whole-workspace rescan', async function () {
    this.timeout(30_000);
    await a.usage.refresh();
    const scans = a.usage.scans;
    const fileScans = a.usage.fileScans;
    const local = { provider: 'local', region: 'local', keyId: localKeyId };
    const extra = join(dir, 'extra.env.sealed');
    writeFileSync(extra, await seal('C=3\n', [{ provider: 'local', key: localKeyId }]));
    await waitFor(async () => ((await a.usage.countOf(local)).files.length === 4 ? true : undefined), {
      timeoutMs: 10_000,
      message: 'the new sealed file is counted',
    });
    rmSync(extra);
    await waitFor(async () => ((await a.usage.countOf(local)).files.length === 3 ? true : undefined), {
      timeoutMs: 10_000,
      message: 'the deleted sealed file drops out',
    });
    assert.equal(a.usage.scans, scans, 'no whole-workspace scan after a file change');
    assert.ok(a.usage.fileScans > fileScans, `the changed file was read: ${a.usage.fileScans - fileScans}`);
    assert.equal((await a.usage.countOf(local)).values, 3);
  });

  test('Disable Key warns with the count, lists the files on request, and stops when dismissed', async () => {
    const keyArg = { provider: 'tencent', profile: 'emu', region: 'ap-guangzhou', keyId: tencentKeyId };
    const p = scripted(a).answer(say('Show Files'), say(undefined), say(undefined));
    await vscode.commands.executeCommand('kmsEnvelope.disableKey', keyArg);
    assert.equal(p.asked[0].kind, 'choose');
    assert.match(p.asked[0].message!, /is used by 1 file in this workspace/);
    assert.deepEqual(p.asked[0].actions, ['Show Files', 'Disable Anyway']);
    assert.deepEqual(p.asked[1].items, [`${dir.slice(vscode.workspace.workspaceFolders![0].uri.fsPath.length + 1)}/both.env.sealed`]);
    assert.equal(p.asked[2].kind, 'choose', 'back to the question after the list');
    const tencent = await a.keys.getProvider({ provider: 'tencent', profile: 'emu' });
    assert.equal((await tencent.describeKey('ap-guangzhou', tencentKeyId)).state, 'Enabled', 'dismissed: nothing disabled');
    // Schedule Key Deletion asks the same before the waiting period.
    const q = scripted(a).answer(say(undefined));
    await vscode.commands.executeCommand('kmsEnvelope.scheduleDeletion', keyArg);
    assert.match(q.asked[0].message!, /is used by 1 file in this workspace/);
    assert.deepEqual(q.asked[0].actions, ['Show Files', 'Schedule Deletion Anyway']);
    assert.equal(q.asked.length, 1);
    // "Disable Anyway" goes on.
    scripted(a).answer(say('Disable Anyway'));
    await vscode.commands.executeCommand('kmsEnvelope.disableKey', keyArg);
    assert.equal((await tencent.describeKey('ap-guangzhou', tencentKeyId)).state, 'Disabled');
    await vscode.commands.executeCommand('kmsEnvelope.enableKey', keyArg); // through the command: the view's cache follows
    assert.equal((await tencent.describeKey('ap-guangzhou', tencentKeyId)).state, 'Enabled');
  });

  test('Re-wrap of an explorer multi-selection: header re-wrap, keys already in every file not offered, a success message', async function () {
    this.timeout(60_000);
    const uris = ['local.env.sealed', 'both.env.sealed', 'config.yaml'].map((n) => vscode.Uri.file(join(dir, n)));
    const bodyBefore = readFileSync(uris[2].fsPath, 'utf8').split('\n');
    const before = await counters();
    const p = scripted(a).answer(
      choose((l) => l.includes('Add a recipient')),
      choose((l, i) => l.includes('seed-enabled') && (i.description ?? '').includes('ap-guangzhou')),
    );
    const out = await vscode.commands.executeCommand<string[]>('kmsEnvelope.rewrapFile', uris[0], uris);
    assert.deepEqual(
      out,
      uris.map((u) => u.fsPath),
      String(a.testing!.lastError()?.error),
    );
    const keyPick = p.asked[1].items ?? [];
    assert.ok(
      !keyPick.some((l) => l.includes(localAlias)),
      `the local key is a recipient of every file and not offered: ${keyPick.join(' | ')}`,
    );
    assert.ok(
      keyPick.some((l) => l.includes(tencentAlias)),
      `the Tencent key (in one file only) is still offered: ${keyPick.join(' | ')}`,
    );
    const done = p.asked.find((q) => q.kind === 'inform');
    assert.match(done?.message ?? '', /^Re-wrapped 3 files \(\+ seed-enabled\)\. Recipients now: .*local:local:.*tencent:ap-guangzhou:/);
    for (const u of uris.slice(0, 2)) {
      const info = await inspect(readFileSync(u.fsPath));
      assert.ok(
        info.recipients.some((r) => r.provider === 'tencent' && r.region === 'ap-guangzhou' && r.keyId !== tencentKeyId),
        `${u.fsPath}: ${JSON.stringify(info.recipients)}`,
      );
      assert.equal(info.recipients[0].keyId, localKeyId, 'the first recipient (kept EDK) stays first');
    }
    // The file of values changed in its header line only.
    const bodyAfter = readFileSync(uris[2].fsPath, 'utf8').split('\n');
    const changedLines = bodyAfter.filter((l, i) => l !== bodyBefore[i]);
    assert.equal(bodyAfter.length, bodyBefore.length);
    assert.equal(changedLines.length, 1);
    assert.match(changedLines[0], /kmsenv:h1:/);
    // One Encrypt per file for the new cloud recipient; the local key opens the data key (no KMS call).
    const d = delta(before, await counters());
    assert.equal(d['tencent:Encrypt'], 3, JSON.stringify(d));
    assert.equal(d['tencent:Decrypt'] ?? 0, 0, JSON.stringify(d));
    assert.equal(d['tencent:GenerateDataKey'] ?? 0, 0, JSON.stringify(d));
    // Opening still works (the local key) and re-wrapping again changes nothing.
    assert.equal((await a.envelope.unsealBytes(readFileSync(uris[0].fsPath))).plaintext.toString(), 'B=2\n');
  });

  test('Problems: the policy\'s unsealed values as diagnostics, updated on edit and save; Quick Fix "Seal Value" seals one', async function () {
    this.timeout(60_000);
    const sub = join(dir, 'guarded');
    mkdirSync(sub, { recursive: true });
    writeFileSync(
      join(sub, '.kms-envelope.yaml'),
      `rules:\n  - path: "app.yaml"\n    keys: [local:local:${localKeyId}]\n    values: "(?i)(password|token)"\n`,
    );
    const file = join(sub, 'app.yaml');
    writeFileSync(file, 'db_password: pw-1\napi_token: tok-1\nhost: h\n');
    const uri = vscode.Uri.file(file);
    const ours = () => vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'KMS Envelope');
    const count = (n: number, what: string) =>
      waitFor(() => (ours().length === n ? ours() : undefined), { message: `${n} diagnostics ${what} (now ${ours().length})` });
    // Not covered by the policy: no diagnostics (a file next to it with the same values).
    writeFileSync(join(sub, 'other.yaml'), 'db_password: pw-1\n');
    const doc = (await vscode.window.showTextDocument(uri, { preview: false })).document;
    const first = await count(2, 'on open');
    assert.deepEqual(
      first.map((d) => [d.range.start.line, d.severity, d.code]),
      [
        [0, vscode.DiagnosticSeverity.Warning, 'unsealed-value'],
        [1, vscode.DiagnosticSeverity.Warning, 'unsealed-value'],
      ],
    );
    assert.match(first[0].message, /^db_password must be sealed \(rule at line 2 of \.kms-envelope\.yaml\)/);
    await vscode.window.showTextDocument(vscode.Uri.file(join(sub, 'other.yaml')), { preview: false });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(
      vscode.languages.getDiagnostics(vscode.Uri.file(join(sub, 'other.yaml'))).filter((d) => d.source === 'KMS Envelope').length,
      0,
    );
    const editor = await vscode.window.showTextDocument(doc, { preview: false });
    // Edit: one more token → 3.
    await editor.edit((eb) => eb.insert(new vscode.Position(3, 0), 'refresh_token: tok-2\n'));
    await count(3, 'after typing');
    // The Quick Fix seals that one value, in the editor's text.
    const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>(
      'vscode.executeCodeActionProvider',
      uri,
      new vscode.Range(0, 0, 0, 5),
      vscode.CodeActionKind.QuickFix.value,
    );
    const fix = actions.find((x) => x.title === 'Seal Value db_password');
    assert.ok(fix?.command, `offered: ${actions.map((x) => x.title).join(' | ')}`);
    await vscode.commands.executeCommand(fix.command.command, ...(fix.command.arguments ?? []));
    await count(2, 'after Seal Value');
    const text = editor.document.getText();
    assert.doesNotMatch(text, /pw-1/);
    assert.match(text, /^db_password: kmsenv:f1:/m);
    assert.match(text, /api_token: tok-1/, 'the other values stay as they are');
    // Save: checked again from the saved text; the file on disk holds no pw-1.
    assert.equal(await editor.document.save(), true);
    await count(2, 'after save');
    assert.doesNotMatch(readFileSync(file, 'utf8'), /pw-1/);
  });

  test('a conflicting merge (the merge driver, TeamService.merge) opens decrypted with the conflict markers; resolved and saved, it stays sealed', async function () {
    this.timeout(60_000);
    const svc = new TeamService(teamKeysOf(a.envelope));
    const lines = (x: string) => `host: h\nport: ${x}\nuser: u\n`;
    const to = [{ provider: 'local' as const, key: localKeyId }];
    const [base, ours, theirs] = await Promise.all([seal(lines('1'), to), seal(lines('2'), to), seal(lines('3'), to)]);
    const file = join(dir, 'merged.conf.sealed');
    const r = await svc.merge(base, ours, theirs, file, { labels: { ours: 'HEAD', theirs: 'feature' } });
    assert.equal(r.conflicts, 1);
    assert.equal(r.kind, 'file');
    assert.doesNotMatch(r.output.toString('latin1'), /<<<<<<<|port: 2/, 'the markers are inside the sealed content');
    writeFileSync(file, r.output);
    const vuri = await vscode.commands.executeCommand<vscode.Uri>('kmsEnvelope.openSealedFile', vscode.Uri.file(file));
    const editor = vscode.window.activeTextEditor!;
    assert.equal(editor.document.uri.toString(), vuri.toString());
    assert.equal(editor.document.getText(), 'host: h\n<<<<<<< HEAD\nport: 2\n=======\nport: 3\n>>>>>>> feature\nuser: u\n');
    // Resolve (keep theirs) and save: sealed again to the same recipients.
    const doc = editor.document;
    await editor.edit((eb) => eb.replace(new vscode.Range(1, 0, 6, 0), 'port: 3\n'));
    assert.equal(await doc.save(), true, String(a.testing!.lastError()?.error));
    const { plaintext, header } = await a.envelope.unsealBytes(readFileSync(file));
    assert.equal(plaintext.toString(), lines('3'));
    assert.deepEqual(
      header.recipients.map((x) => x.keyId),
      [localKeyId],
    );
  });
});

function findKey(tree: TreeSnapshotNode[], keyId: string): TreeSnapshotNode | undefined {
  for (const n of tree) {
    if (n.id.endsWith(`/${keyId}`)) return n;
    const below = n.children && findKey(n.children, keyId);
    if (below) return below;
  }
  return undefined;
}

// Names, not ids (issue 15, item 5): wherever the alias of a key is known, the workbench shows it —
// the status bar's default key, the progress of a seal, an error from a cloud (which names the key
// id it was called with), the hover of a sealed value — and keeps the id in tooltips.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { closeAllEditors, openTempFile, waitFor } from './helpers';
import { addEmulatorProfiles, api, scripted, setSetting } from './extension-support';

suite('extension: names, not ids', () => {
  let alias: string;
  let keyId: string;
  suiteSetup(async () => {
    const a = await api();
    await addEmulatorProfiles(a);
    await setSetting('localKeys', 'always');
    const local = await a.keys.getProvider({ provider: 'local', profile: 'default' });
    alias = `team-key-${Date.now().toString(36)}`;
    keyId = (await local.createKey('local', { alias })).keyId;
  });
  suiteTeardown(async () => {
    await setSetting('defaultKey', undefined);
  });
  teardown(closeAllEditors);

  test('the status bar names the default key by alias (the keyref with its id in the tooltip); Seal Selection progress too', async () => {
    const a = await api();
    // Set as a keyref by id (as settings.json holds it): the alias comes from the key listing.
    await setSetting('defaultKey', `local:local:${keyId}`);
    await a.keys.refreshRegion({ provider: 'local', profile: 'default', region: 'local' }); // made behind the service's back
    await waitFor(() => a.testing!.statusBarText() === `$(key) ${alias}`, {
      message: `the status bar to name ${alias}, not ${a.testing!.statusBarText()}`,
    });
    assert.match(a.testing!.statusBarTooltip(), new RegExp(`Keyref: local:local:${keyId}`));

    const { editor, document } = await openTempFile('password: hunter2\n');
    editor!.selection = new vscode.Selection(new vscode.Position(0, 10), new vscode.Position(0, 17));
    assert.equal(await vscode.commands.executeCommand('kmsEnvelope.sealSelection'), 1, String(a.testing!.lastError()?.error));
    assert.ok(!document.getText().includes('hunter2'));
    assert.equal(a.testing!.progressTitles().at(-1), `Sealing 1 value with ${alias} (local)…`);
  });

  test('a cloud error names the key by its alias (with the id), and the hover of a blob names its recipient', async () => {
    const a = await api();
    const ref = { provider: 'tencent' as const, profile: 'emu', region: 'ap-guangzhou' };
    const listed = await a.keys.ensureLoaded(ref);
    const disabled = listed.keys.find((k) => k.alias === 'seed-disabled')!;
    const enabled = listed.keys.find((k) => k.alias === 'seed-enabled')!;
    const p = scripted(a);
    const { editor } = await openTempFile('k=v\n');
    editor!.selection = new vscode.Selection(new vscode.Position(0, 2), new vscode.Position(0, 3));
    // Sealing to the disabled key by id: Tencent's error names the id it was called with.
    await vscode.commands.executeCommand('kmsEnvelope.sealSelection', { ...ref, key: disabled.keyId });
    assert.equal(a.testing!.progressTitles().at(-1), 'Sealing 1 value with seed-disabled (Tencent Cloud ap-guangzhou)…');
    const shown = p.messages.find((m) => m.startsWith('error:'));
    assert.ok(shown, `no error shown: ${p.messages.join(' | ')}`);
    assert.ok(shown.includes(`key seed-disabled (${disabled.keyId})`), shown);

    const armored = await a.envelope.sealText('hover me', [{ ...ref, key: enabled.keyId }], undefined);
    const { document } = await openTempFile(`secret: ${armored}\n`, { name: 'names.yaml' });
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      document.uri,
      new vscode.Position(0, 20),
    );
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /\*\*seed\\-enabled\*\*/);
    assert.ok(text.includes(enabled.keyId), 'the hover keeps the key id');
  });

  test('the key picker\'s recent entries read "alias · provider · region · profile", each key once, and no disabled key', async () => {
    const a = await api();
    const ref = { provider: 'tencent' as const, profile: 'emu', region: 'ap-guangzhou' };
    const listed = await a.keys.ensureLoaded(ref);
    const disabled = listed.keys.find((k) => k.alias === 'seed-disabled')!;
    // A key remembered by alias (a default key written by hand in settings.json) and one by id that is disabled now.
    await a.picker.remember({ ...ref, key: 'seed-enabled' });
    await a.picker.remember({ ...ref, key: disabled.keyId });
    let items: readonly vscode.QuickPickItem[] = [];
    scripted(a).answer((_k, q) => {
      items = q.items ?? [];
      return items.find((i) => i.kind !== vscode.QuickPickItemKind.Separator);
    });
    const t = await a.picker.pick('Which key?');
    const rows = items.filter((i) => i.kind !== vscode.QuickPickItemKind.Separator).map((i) => `${i.label} — ${i.description ?? ''}`);
    assert.equal(items[0].label, 'recently used');
    assert.equal(rows[0], '$(history) seed-enabled — Tencent Cloud KMS · ap-guangzhou · emu');
    assert.equal(rows.filter((r) => /seed-enabled — Tencent Cloud KMS · ap-guangzhou · emu$/.test(r)).length, 1, rows.join('\n'));
    assert.ok(!rows.some((r) => r.includes('seed-disabled')), rows.join('\n'));
    assert.equal(t.label, 'seed-enabled');
  });
});

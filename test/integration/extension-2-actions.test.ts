// Every key action from the Keys view, called the way the context menu calls it (the tree node as
// argument), against local keys and the Tencent / Alibaba emulator: create, copy id / ARN / keyref,
// disable / enable, alias, description, schedule deletion (modal naming the key, waiting period)
// and cancel it, default sealing key (setting, status bar, ★ row). Each action refreshes its region.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KeyMetadata } from '../../src/core/kms/types';
import { addEmulatorProfiles, api, findRow, no, node, render, say, scripted, setSetting, yes } from './extension-support';

suite('extension: key actions', () => {
  suiteSetup(async () => {
    const a = await api();
    await addEmulatorProfiles(a);
    await setSetting('localKeys', 'always');
    await a.getTreeSnapshot({ expandCollapsed: true }); // rows exist as the view shows them
  });
  suiteTeardown(async () => {
    await setSetting('defaultKey', undefined);
    await setSetting('defaultKeyProfile', undefined);
  });

  const keyRow = async (provider: string, region: string, label: string) => {
    const a = await api();
    // Local keys sit right under their provider row; cloud keys under provider → profile → region.
    const path: Record<string, string[]> = {
      local: ['Local keys'],
      tencent: ['Tencent Cloud KMS', 'emu', region],
      alibaba: ['Alibaba Cloud KMS', 'emu', region],
    };
    const tree = await a.getTreeSnapshot({ expandCollapsed: provider === 'tencent' });
    const row = findRow(tree, ...path[provider], label);
    assert.ok(row, `no row ${label} in ${provider} ${region}:\n${render(tree)}`);
    return row;
  };

  const rowById = async (id: string) => {
    const a = await api();
    const all = (t: Awaited<ReturnType<typeof a.getTreeSnapshot>>): Awaited<ReturnType<typeof a.getTreeSnapshot>> =>
      t.flatMap((n) => [n, ...(n.children ? all(n.children) : [])]);
    const row = all(await a.getTreeSnapshot({ expandCollapsed: true })).find((n) => n.id === id);
    assert.ok(row, `no row ${id}`);
    return row;
  };

  for (const [provider, region] of [
    ['local', 'local'],
    ['tencent', 'ap-guangzhou'],
    ['alibaba', 'cn-hangzhou'],
  ] as const) {
    test(`${provider}: create, disable, enable, alias, description, schedule and cancel deletion`, async () => {
      const a = await api();
      const profile = provider === 'local' ? 'default' : 'emu';
      const alias = `act-${provider}-${Date.now().toString(36)}`;
      const p = scripted(a).answer(say(alias), say('created by the actions suite'));
      const meta = (await vscode.commands.executeCommand(
        'kmsEnvelope.createKey',
        node(a, provider === 'local' ? 'p:local' : `r:${provider}/${profile}/${region}`),
      )) as KeyMetadata;
      assert.ok(meta?.keyId, `createKey returned ${JSON.stringify(meta)}; last error: ${String(a.testing!.lastError()?.error)}`);
      assert.equal(p.pending, 0);
      const id = `k:${provider}/${profile}/${region}/${meta.keyId}`;
      let row = await keyRow(provider, region, alias);
      assert.equal(row.id, id);
      assert.match(row.contextValue!, new RegExp(`^kms:key\\+enabled\\+${provider}\\b`));

      await vscode.commands.executeCommand('kmsEnvelope.disableKey', node(a, id));
      row = await keyRow(provider, region, alias);
      assert.match(row.contextValue!, /^kms:key\+disabled\+/);
      assert.equal(row.icon, 'circle-slash');

      await vscode.commands.executeCommand('kmsEnvelope.enableKey', node(a, id));
      assert.match((await keyRow(provider, region, alias)).contextValue!, /^kms:key\+enabled\+/);

      // Set Alias replaces the alias (Alibaba keys can carry several: the old one is deleted, not kept
      // beside the new one), redraws the row, and says so in a message and in the log.
      const alias2 = alias + '-b';
      let prompt = '';
      const renamed = scripted(a).answer((_kind, q) => {
        prompt = (q.options as vscode.InputBoxOptions).prompt ?? '';
        return alias2;
      });
      await vscode.commands.executeCommand('kmsEnvelope.setAlias', node(a, id));
      assert.equal(prompt, `New alias (replaces ${alias})`, 'the prompt names the alias it replaces');
      row = await rowById(id);
      assert.equal(row.label, alias2, 'the row keeps its id and shows the new alias');
      const prov = await a.keys.getProvider({ provider, profile });
      assert.equal((await prov.describeKey(region, provider === 'alibaba' ? `alias/${alias2}` : alias2)).keyId, meta.keyId);
      await assert.rejects(prov.describeKey(region, provider === 'alibaba' ? `alias/${alias}` : alias), 'the old alias is gone');
      assert.ok(
        renamed.messages.some((m) => m.startsWith(`info: Key ${meta.keyId} `) && m.endsWith(`is now named ${alias2} (was ${alias}).`)),
        `a message confirms the new alias: ${renamed.messages.join(' | ')}`,
      );
      assert.ok(
        a.testing!.logLines().some((l) => l.includes(`now named ${alias2} (was ${alias})`)),
        'the log says what happened',
      );

      scripted(a).answer(say('edited description'));
      await vscode.commands.executeCommand('kmsEnvelope.editDescription', node(a, id));
      assert.match((await rowById(id)).description!, /edited description/);

      // Schedule deletion: the key must be disabled first (cloud rule); a declined modal changes nothing.
      await vscode.commands.executeCommand('kmsEnvelope.disableKey', node(a, id));
      const provObj = await a.keys.getProvider({ provider, profile });
      const w = provObj.deletionWindow;
      const declined = scripted(a).answer(say(String(w.min)), no);
      await vscode.commands.executeCommand('kmsEnvelope.scheduleDeletion', node(a, id));
      const modal = declined.asked.find((q) => q.kind === 'confirm')!;
      assert.ok(modal.message!.includes(alias2) && modal.message!.includes(meta.keyId), `the modal names the key: ${modal.message}`);
      assert.match(modal.detail!, new RegExp(`After ${w.min} days`));
      assert.match((await rowById(id)).contextValue!, /^kms:key\+disabled\+/);
      // Out-of-window periods are refused by the input box itself.
      const bad = scripted(a).answer(say(String(w.max + 1)));
      await vscode.commands.executeCommand('kmsEnvelope.scheduleDeletion', node(a, id));
      assert.match(String(a.testing!.lastError()?.error), /rejected by the input box's validation/);
      assert.equal(bad.pending, 0);
      a.testing!.clearLastError();

      scripted(a).answer(say(String(w.min)), yes, say(undefined));
      const r = (await vscode.commands.executeCommand('kmsEnvelope.scheduleDeletion', node(a, id))) as { deletionDate?: string };
      assert.ok(r, `scheduleDeletion failed: ${String(a.testing!.lastError()?.error)}`);
      row = await rowById(id);
      assert.match(row.contextValue!, /^kms:key\+pendingDeletion\+/);
      assert.equal(row.icon, 'trash');
      const days = (Date.parse((await provObj.describeKey(region, meta.keyId)).deletionDate!) - Date.now()) / 86_400_000;
      assert.ok(Math.abs(days - w.min) < 1.01, `deletion in ${days} days, expected ${w.min}`);

      await vscode.commands.executeCommand('kmsEnvelope.cancelDeletion', node(a, id));
      // Tencent and local return the key Disabled; Alibaba returns it Enabled (each cloud's documented rule).
      assert.match((await rowById(id)).contextValue!, provider === 'alibaba' ? /^kms:key\+enabled\+/ : /^kms:key\+disabled\+/);
      await vscode.commands.executeCommand('kmsEnvelope.enableKey', node(a, id));
      assert.equal(a.testing!.lastError(), undefined, String(a.testing!.lastError()?.error));
    });
  }

  test('copy key id, keyref and ARN to the clipboard', async () => {
    const a = await api();
    const row = await keyRow('alibaba', 'cn-hangzhou', 'seed-enabled');
    const n = node(a, row.id);
    await vscode.commands.executeCommand('kmsEnvelope.copyKeyId', n);
    const id = await vscode.env.clipboard.readText();
    assert.equal(`k:alibaba/emu/cn-hangzhou/${id}`, row.id);
    await vscode.commands.executeCommand('kmsEnvelope.copyKeyRef', n);
    assert.equal(await vscode.env.clipboard.readText(), 'alibaba:cn-hangzhou:seed-enabled');
    // The row's tooltip shows the keyref Copy Keyref copies.
    assert.match(row.tooltip!, /\| Keyref \| `alibaba:cn-hangzhou:seed-enabled` \|/);
    await vscode.commands.executeCommand('kmsEnvelope.copyKeyArn', n);
    assert.match(await vscode.env.clipboard.readText(), new RegExp(`^acs:kms:cn-hangzhou:\\d+:key/${id}$`));
  });

  test('set as default sealing key: setting, status bar, ★ on the row; choose / clear from the status bar', async () => {
    const a = await api();
    const row = await keyRow('tencent', 'ap-guangzhou', 'seed-enabled');
    const keyref = await vscode.commands.executeCommand('kmsEnvelope.setDefaultKey', node(a, row.id));
    const keyId = row.id.split('/').pop();
    assert.equal(keyref, `tencent:ap-guangzhou:${keyId}`);
    const cfg = vscode.workspace.getConfiguration('kmsEnvelope');
    assert.equal(cfg.get('defaultKey'), keyref);
    assert.equal(cfg.get('defaultKeyProfile'), 'emu');
    // The status bar names the key by its alias; the id is in its tooltip.
    assert.equal(a.testing!.statusBarText(), '$(key) seed-enabled');
    assert.match(a.testing!.statusBarTooltip(), new RegExp(`Keyref: tencent:ap-guangzhou:${keyId}`));
    const starred = await keyRow('tencent', 'ap-guangzhou', 'seed-enabled');
    assert.match(starred.description!, /★ default/);
    assert.match(starred.contextValue!, /\+default\b/);
    // The status bar item's command: clear the default key.
    scripted(a).answer((_k, q) => q.items!.find((i) => i.label.includes('Clear')));
    await vscode.commands.executeCommand('kmsEnvelope.chooseDefaultKey');
    assert.equal(vscode.workspace.getConfiguration('kmsEnvelope').get('defaultKey'), '');
    assert.equal(a.testing!.statusBarText(), '$(key) No default key');
  });

  test('an error is recorded once with its details; a dismissed prompt is not an error', async () => {
    const a = await api();
    a.testing!.clearLastError();
    scripted(a).answer(say(undefined));
    await vscode.commands.executeCommand('kmsEnvelope.createKey', node(a, 'p:local'));
    assert.equal(a.testing!.lastError(), undefined, 'dismissing the alias box is a cancellation');
    await vscode.commands.executeCommand('kmsEnvelope.enableKey', {
      provider: 'tencent',
      profile: 'emu',
      region: 'ap-guangzhou',
      keyId: 'no-such-key-id',
    });
    const e = a.testing!.lastError()!;
    assert.equal(e.command, 'kmsEnvelope.enableKey');
    const err = e.error as { kind?: string; details?: { keyId?: string; region?: string } };
    assert.equal(err.kind, 'provider');
    assert.match(String((e.error as Error).message), /no-such-key-id|not found|NotFound/i);
  });
});

// Remedies that remedy, checks before calling, and an answer for every action (issue 15, items 2,
// 6, 8; issue 10, item 6), in the real extension host against the emulator:
// - AUDIT below lists every error that carries an action button: what causes it, the buttons it must
//   offer (and must not), and what clicking the first one must achieve. Each row is run: the hint
//   reads in VS Code's words ("KMS Envelope: Enable Key"), never a `kms-envelope …` command line, and
//   the button does what its title says.
// - Schedule deletion of an enabled Tencent key is one confirmed "Disable and Schedule Deletion".
// - Sealing with a default key the tree shows disabled asks first (Enable and Seal / Pick Another
//   Key); Create Key refuses a taken alias while typing.
// - Create, Enable, Disable, Edit Description, Cancel Deletion each say so briefly and in the log;
//   "Nothing is selected" is a warning with a hint.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KeyMetadata, KmsProvider } from '../../src/core/kms/types';
import { closeAllEditors, openTempFile, waitFor } from './helpers';
import { addEmulatorProfiles, api, choose, node, say, scripted, setSetting, yes, type ScriptedPrompts } from './extension-support';

type Api = Awaited<ReturnType<typeof api>>;
const TC = { provider: 'tencent', profile: 'emu', region: 'ap-guangzhou' } as const;

const uniq = () => `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;

async function tencent(a: Api): Promise<KmsProvider> {
  return a.keys.getProvider({ provider: 'tencent', profile: 'emu' });
}

/** A fresh Tencent key in the state asked, the tree's cache loaded after. */
async function tcKey(a: Api, state: 'Enabled' | 'Disabled' | 'PendingDeletion'): Promise<KeyMetadata> {
  const p = await tencent(a);
  const k = await p.createKey(TC.region, { alias: `rem-${uniq()}` });
  if (state !== 'Enabled') await p.disableKey(TC.region, k.keyId);
  if (state === 'PendingDeletion') await p.scheduleDeletion(TC.region, k.keyId, 7);
  await a.keys.refreshRegion(TC);
  await a.getTreeSnapshot({ expandCollapsed: true }); // its row exists as the view shows it
  return k;
}

const stateOf = async (a: Api, keyId: string) => (await (await tencent(a)).describeKey(TC.region, keyId)).state;

/** Runs a command whose error notification is answered with `click`; waits until the button's work is done. */
async function failWith(a: Api, p: ScriptedPrompts, click: string | undefined, command: string, ...args: unknown[]) {
  a.testing!.clearLastError();
  p.errorChoice = click;
  await vscode.commands.executeCommand(command, ...args);
  const errors = p.asked.filter((q) => q.kind === 'error');
  assert.equal(errors.length, 1, `one error notification for ${command}: ${JSON.stringify(p.asked)}`);
  return errors[0]!;
}

interface AuditRow {
  /** What the user did. */
  scenario: string;
  /** The error's buttons, in order. */
  buttons: string[];
  /** Words the message must use (VS Code's), and must not. */
  says: RegExp;
  /** The first button is not pressed in this test (said why in the row). */
  noClick?: boolean;
  /** Run it; `click` is the button to press. Returns a check of what the click achieved. */
  run(a: Api, p: ScriptedPrompts, click: string): Promise<() => Promise<void>>;
}

/** Every error with an action button, and what its first button must do. */
const AUDIT: AuditRow[] = [
  {
    scenario: 'seal with a disabled key',
    buttons: ['Enable Key', 'Retry', 'Open Log'],
    says: /disabled.*Enable it: "KMS Envelope: Enable Key"/,
    async run(a, p, click) {
      const k = await tcKey(a, 'Disabled');
      const { editor, document } = await openTempFile('k=v\n');
      editor!.selection = new vscode.Selection(0, 2, 0, 3);
      p.answer(); // the re-run after Enable Key seals with the explicit key: nothing to ask
      await failWith(a, p, click, 'kmsEnvelope.sealWithKey', { ...TC, keyId: k.keyId });
      return async () => {
        await waitFor(() => document.getText().startsWith('k=kmsenv:'), { message: 'the seal re-ran after Enable Key' });
        assert.equal(await stateOf(a, k.keyId), 'Enabled');
      };
    },
  },
  {
    scenario: 'Schedule Deletion on an enabled Tencent key the tree still showed disabled',
    buttons: ['Disable Key', 'Retry', 'Open Log'],
    says: /must be disabled.*Disable it first: "KMS Envelope: Disable Key", then schedule the deletion again/,
    // Its buttons and words are checked; not clicked here (Disable Key runs kmsEnvelope.disableKey
    // with the key, then the deletion again, as the first row's Enable Key does with the seal).
    noClick: true,
    async run(a, p) {
      const k = await tcKey(a, 'Disabled');
      await (await tencent(a)).enableKey(TC.region, k.keyId); // behind the tree's back: its row still says disabled
      p.answer(say('7'), yes);
      await failWith(a, p, undefined, 'kmsEnvelope.scheduleDeletion', { ...TC, keyId: k.keyId });
      return async () => {
        assert.equal(await stateOf(a, k.keyId), 'Enabled', 'nothing changed without a click');
      };
    },
  },
  {
    scenario: 'seal with a key pending deletion',
    buttons: ['Cancel Deletion and Enable Key', 'Retry', 'Open Log'],
    says: /scheduled for deletion.*"KMS Envelope: Cancel Key Deletion".*"KMS Envelope: Enable Key"/,
    async run(a, p, click) {
      const k = await tcKey(a, 'PendingDeletion');
      const { editor, document } = await openTempFile('k=v\n');
      editor!.selection = new vscode.Selection(0, 2, 0, 3);
      await failWith(a, p, click, 'kmsEnvelope.sealWithKey', { ...TC, keyId: k.keyId });
      return async () => {
        await waitFor(() => document.getText().startsWith('k=kmsenv:'), { message: 'cancelled, enabled, sealed' });
        assert.equal(await stateOf(a, k.keyId), 'Enabled');
      };
    },
  },
  {
    scenario: 'Set as Default Sealing Key on a disabled key',
    buttons: ['Enable Key', 'Open Log'],
    says: /only an enabled key can seal\. Enable it first: "KMS Envelope: Enable Key"/,
    async run(a, p, click) {
      const k = await tcKey(a, 'Disabled');
      await failWith(a, p, click, 'kmsEnvelope.setDefaultKey', node(a, `k:tencent/emu/${TC.region}/${k.keyId}`));
      return async () => {
        await waitFor(async () => (await stateOf(a, k.keyId)) === 'Enabled', { message: 'Enable Key' });
        await waitFor(() => vscode.workspace.getConfiguration('kmsEnvelope').get('defaultKey') === `tencent:${TC.region}:${k.keyId}`, {
          message: 'then the default key is set',
        });
        await setSetting('defaultKey', undefined);
        await setSetting('defaultKeyProfile', undefined);
      };
    },
  },
  {
    scenario: 'Enable Key on a key that does not exist',
    buttons: ['Show Keys', 'Retry', 'Open Log'],
    says: /no key no-such-key-.* list the keys: the KMS Envelope Keys view/,
    async run(a, p, click) {
      await failWith(a, p, click, 'kmsEnvelope.enableKey', { ...TC, keyId: `no-such-key-${uniq()}` });
      return async () => {
        await waitFor(() => a.testing!.lastError()?.command === 'kmsEnvelope.enableKey', { message: 'the error stays the only one' });
      };
    },
  },
  // Elsewhere: a profile whose secret the cloud rejects offers Rotate Secret, Retry, Open Log
  // (extension-5-profiles: "Test / Rotate / Remove from a tree node"); Retry re-runs the command and
  // Open Log shows the log in every row.
];

suite('extension: remedies, checks before calling, feedback', () => {
  suiteSetup(async () => {
    const a = await api();
    await addEmulatorProfiles(a);
    await setSetting('localKeys', 'always');
    await a.getTreeSnapshot({ expandCollapsed: true });
  });
  suiteTeardown(async () => {
    await setSetting('defaultKey', undefined);
    await setSetting('defaultKeyProfile', undefined);
  });
  teardown(closeAllEditors);

  for (const row of AUDIT) {
    test(`audit: ${row.scenario} → ${row.buttons.join(' | ')}${row.noClick ? '' : `; "${row.buttons[0]}" does what it says`}`, async () => {
      const a = await api();
      const p = scripted(a);
      const check = await row.run(a, p, row.buttons[0]!);
      const error = p.asked.find((q) => q.kind === 'error')!;
      assert.deepEqual(error.actions, row.buttons, `buttons of "${error.message}"`);
      assert.match(error.message!, row.says);
      assert.doesNotMatch(error.message!, /kms-envelope (keys|profiles|inspect)|--provider/, 'a CLI command line in a VS Code message');
      await check();
    });
  }

  test('an enabled Tencent key offers "Disable and Schedule Deletion…", one confirmed step; Alibaba keeps "Schedule Key Deletion…"', async () => {
    const a = await api();
    const k = await tcKey(a, 'Enabled');
    const id = `k:tencent/emu/${TC.region}/${k.keyId}`;
    assert.match(node(a, id).contextValue, /^kms:key\+enabled\+tencent.*\+disableFirst/);
    const ali = await (
      await a.keys.getProvider({ provider: 'alibaba', profile: 'emu' })
    ).createKey('cn-hangzhou', { alias: `rem-${uniq()}` });
    await a.keys.refreshRegion({ provider: 'alibaba', profile: 'emu', region: 'cn-hangzhou' });
    await a.getTreeSnapshot({ expandCollapsed: true });
    assert.doesNotMatch(node(a, `k:alibaba/emu/cn-hangzhou/${ali.keyId}`).contextValue, /disableFirst/);
    const p = scripted(a).answer(say('7'), yes, say(undefined));
    const r = await vscode.commands.executeCommand('kmsEnvelope.disableAndScheduleDeletion', node(a, id));
    assert.ok(r, String(a.testing!.lastError()?.error));
    const confirms = p.asked.filter((q) => q.kind === 'confirm');
    assert.equal(confirms.length, 1, 'one confirmation');
    assert.deepEqual(confirms[0]!.actions, ['Disable and Schedule Deletion']);
    assert.match(confirms[0]!.message!, /^Disable key .* and schedule its deletion\?/);
    assert.match(confirms[0]!.detail!, /deletes only disabled keys/);
    assert.equal(await stateOf(a, k.keyId), 'PendingDeletion');
    assert.ok(a.testing!.logLines().some((l) => l.includes(`Disabled key ${k.alias}`)));
  });

  test('sealing with a default key the tree shows disabled asks first: Enable and Seal, or Pick Another Key', async () => {
    const a = await api();
    const k = await tcKey(a, 'Disabled');
    await setSetting('defaultKey', `tencent:${TC.region}:${k.keyId}`);
    await setSetting('defaultKeyProfile', 'emu');
    a.testing!.clearLastError();
    const { editor, document } = await openTempFile('a=1\nb=2\n');
    editor!.selection = new vscode.Selection(0, 2, 0, 3);
    let p = scripted(a).answer(say('Enable and Seal'));
    await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
    const asked = p.asked.find((q) => q.kind === 'choose')!;
    assert.ok(asked, `nothing asked: ${JSON.stringify(p.asked)}`);
    assert.match(asked.message!, new RegExp(`default sealing key ${k.alias} .* is disabled`));
    assert.deepEqual(asked.actions, ['Enable and Seal', 'Pick Another Key']);
    assert.equal(a.testing!.lastError(), undefined, String(a.testing!.lastError()?.error));
    assert.match(document.lineAt(0).text, /^a=kmsenv:/);
    assert.equal(await stateOf(a, k.keyId), 'Enabled');

    // Pick Another Key: the quick pick, this seal only.
    await (await tencent(a)).disableKey(TC.region, k.keyId);
    await a.keys.refreshRegion(TC);
    editor!.selection = new vscode.Selection(1, 2, 1, 3);
    p = scripted(a).answer(
      say('Pick Another Key'),
      choose((label) => label.includes('seed-enabled')),
    );
    await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
    assert.equal(p.pending, 0);
    assert.equal(a.testing!.lastError(), undefined, String(a.testing!.lastError()?.error));
    assert.match(document.lineAt(1).text, /^b=kmsenv:/);
    assert.equal(await stateOf(a, k.keyId), 'Disabled', 'the default key was left alone');
  });

  test('Create Key refuses an alias the region already uses, while typing', async () => {
    const a = await api();
    const k = await tcKey(a, 'Enabled');
    a.testing!.clearLastError();
    scripted(a).answer(say(k.alias));
    await vscode.commands.executeCommand('kmsEnvelope.createKey', node(a, `r:tencent/emu/${TC.region}`));
    assert.match(String(a.testing!.lastError()?.error), /rejected by the input box's validation: The alias .* is already used by key/);
  });

  test('Create, Disable, Enable, Edit Description, Cancel Deletion each say so and write an info line to the log', async () => {
    const a = await api();
    a.testing!.clearLastError();
    const alias = `fb-${uniq()}`;
    let p = scripted(a).answer(say(alias), say(''));
    const meta = (await vscode.commands.executeCommand('kmsEnvelope.createKey', node(a, `r:tencent/emu/${TC.region}`))) as KeyMetadata;
    assert.ok(meta?.keyId, String(a.testing!.lastError()?.error));
    const id = `k:tencent/emu/${TC.region}/${meta.keyId}`;
    await a.getTreeSnapshot({ expandCollapsed: true });
    const said = (re: RegExp) => {
      assert.ok(
        p.messages.some((m) => /^info: /.test(m) && re.test(m)),
        `no note ${re}: ${JSON.stringify(p.messages)}`,
      );
      assert.ok(
        a.testing!.logLines().some((l) => l.startsWith('info ') && re.test(l)),
        `no log line ${re}`,
      );
    };
    said(new RegExp(`Created key ${alias} \\(${meta.keyId}\\) in Tencent Cloud KMS ap-guangzhou`));
    p = scripted(a);
    await vscode.commands.executeCommand('kmsEnvelope.disableKey', node(a, id));
    said(new RegExp(`Disabled key ${alias} in Tencent Cloud KMS ap-guangzhou`));
    p = scripted(a);
    await vscode.commands.executeCommand('kmsEnvelope.enableKey', node(a, id));
    said(new RegExp(`Enabled key ${alias}`));
    p = scripted(a).answer(say('new words'));
    await vscode.commands.executeCommand('kmsEnvelope.editDescription', node(a, id));
    said(new RegExp(`Updated the description of key ${alias}`));
    await (await tencent(a)).disableKey(TC.region, meta.keyId);
    await (await tencent(a)).scheduleDeletion(TC.region, meta.keyId, 7);
    await a.keys.refreshRegion(TC);
    await a.getTreeSnapshot({ expandCollapsed: true });
    p = scripted(a);
    await vscode.commands.executeCommand('kmsEnvelope.cancelDeletion', node(a, id));
    said(new RegExp(`Cancelled the deletion of key ${alias}`));
  });

  test('"Nothing is selected" is a warning with a hint, not an error', async () => {
    const a = await api();
    a.testing!.clearLastError();
    const { editor } = await openTempFile('x=1\n');
    editor!.selection = new vscode.Selection(0, 0, 0, 0);
    const p = scripted(a);
    await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
    assert.equal(a.testing!.lastError(), undefined);
    assert.deepEqual(p.messages, ['warning: Nothing is selected: select the value to seal first (several selections seal each one).']);
  });
});

// Selections in real editors: multi-cursor Seal Selection (one armored line per value, indentation
// and quotes kept), Unseal Selection (selection or blob under the cursor), the key quick pick with
// recently used keys first, Copy Unsealed with the clipboard cleared after the timeout, the hover
// (header only, no KMS call), cancellation, and a disabled key's error.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { ARMOR_PREFIX } from '../../src/core/envelope/armor';
import { closeAllEditors, openTempFile, waitFor } from './helpers';
import { addEmulatorProfiles, api, choose, counters, say, scripted, setFaults, setSetting } from './extension-support';

const YAML = ['db:', '  password: hunter2-secret', '  user: "app"', "  token: 'tok-123'", 'done: true', ''].join('\n');

function rangeOf(doc: vscode.TextDocument, text: string): vscode.Selection {
  const i = doc.getText().indexOf(text);
  assert.ok(i >= 0, `${text} not in the document`);
  return new vscode.Selection(doc.positionAt(i), doc.positionAt(i + text.length));
}

suite('extension: selections', () => {
  let localKeyref: string;
  suiteSetup(async () => {
    const a = await api();
    await addEmulatorProfiles(a);
    await setSetting('localKeys', 'always');
    const local = await a.keys.getProvider({ provider: 'local', profile: 'default' });
    const k = await local.createKey('local', { alias: `sel-${Date.now().toString(36)}` });
    localKeyref = `local:local:${k.keyId}`;
    await setSetting('defaultKey', localKeyref);
    // The web workbench auto-saves by default: Unseal Selection in a file would ask first (tested below).
    await vscode.workspace.getConfiguration('files').update('autoSave', 'off', vscode.ConfigurationTarget.Global);
  });
  suiteTeardown(async () => {
    await vscode.workspace.getConfiguration('files').update('autoSave', undefined, vscode.ConfigurationTarget.Global);
    await setSetting('defaultKey', undefined);
    await setSetting('encryptionContext', undefined);
    await setSetting('clipboardTimeoutSeconds', undefined);
    await setFaults({});
  });
  teardown(closeAllEditors);

  test('multi-cursor seal: each value becomes one armored line in place; unseal restores the file byte for byte @packaged', async () => {
    const a = await api();
    await setSetting('encryptionContext', { app: 'it' });
    const { editor, document } = await openTempFile(YAML, { name: 'config.yaml' });
    editor!.selections = [rangeOf(document, 'hunter2-secret'), rangeOf(document, 'app'), rangeOf(document, 'tok-123')];
    const n = await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
    assert.equal(n, 3, String(a.testing!.lastError()?.error));
    const lines = document.getText().split('\n');
    assert.equal(lines.length, YAML.split('\n').length, 'one line per sealed value');
    assert.match(lines[1], new RegExp(`^  password: ${ARMOR_PREFIX}[A-Za-z0-9+/=]+$`));
    assert.match(lines[2], new RegExp(`^  user: "${ARMOR_PREFIX}[A-Za-z0-9+/=]+"$`));
    assert.match(lines[3], new RegExp(`^  token: '${ARMOR_PREFIX}[A-Za-z0-9+/=]+'$`));
    assert.equal(lines[0], 'db:');
    assert.equal(lines[4], 'done: true');
    assert.ok(!document.getText().includes('hunter2'));

    // Cursors (empty selections) on two of the blobs, a selection around the third.
    const blobStart = (line: number) => new vscode.Position(line, lines[line].indexOf(ARMOR_PREFIX) + 5);
    editor!.selections = [
      new vscode.Selection(blobStart(1), blobStart(1)),
      new vscode.Selection(blobStart(2), blobStart(2)),
      new vscode.Selection(new vscode.Position(3, 0), new vscode.Position(3, lines[3].length)),
    ];
    const m = await vscode.commands.executeCommand('kmsEnvelope.unsealSelection');
    assert.equal(m, 3, String(a.testing!.lastError()?.error));
    assert.equal(document.getText(), YAML);
  });

  test('whitespace around a selected value stays outside the blob (whole-line selections keep the layout)', async () => {
    const { editor, document } = await openTempFile('key:\n    indented value   \nnext\n');
    editor!.selection = new vscode.Selection(new vscode.Position(1, 0), new vscode.Position(2, 0));
    await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
    assert.match(document.getText(), new RegExp(`^key:\\n {4}${ARMOR_PREFIX}[A-Za-z0-9+/=]+ {3}\\nnext\\n$`));
    editor!.selection = new vscode.Selection(new vscode.Position(1, 6), new vscode.Position(1, 6));
    await vscode.commands.executeCommand('kmsEnvelope.unsealSelection');
    assert.equal(document.getText(), 'key:\n    indented value   \nnext\n');
  });

  test('without a default key: a quick pick of keys across providers, recently used first', async () => {
    const a = await api();
    await setSetting('defaultKey', undefined);
    try {
      const { editor, document } = await openTempFile('v=plain-1\n');
      editor!.selection = rangeOf(document, 'plain-1');
      const p = scripted(a).answer(choose((l, i) => l.includes('seed-enabled') && (i.description ?? '').includes('cn-hangzhou')));
      await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
      assert.equal(p.pending, 0);
      const items = p.asked[0].items!;
      assert.ok(
        items.some((l) => l.includes('seed-enabled')),
        items.join(' | '),
      );
      assert.ok(!items.some((l) => l.includes('seed-disabled')), 'only enabled keys are offered');
      const blob = document.getText().trim().slice(2);
      const info = await a.envelope.unsealText(blob);
      assert.equal(info.text, 'plain-1');
      assert.equal(info.header.recipients[0].provider, 'alibaba');
      // Second time: the key just used comes first, under "recently used".
      editor!.selection = new vscode.Selection(document.positionAt(0), document.positionAt(1));
      const p2 = scripted(a).answer((_k, q) => q.items!.find((i) => i.kind !== vscode.QuickPickItemKind.Separator));
      await vscode.commands.executeCommand('kmsEnvelope.sealSelection');
      assert.equal(p2.asked[0].items![0], 'recently used');
      assert.match(p2.asked[0].items![1], /seed-enabled|key-|[0-9a-f-]{36}/);
    } finally {
      await setSetting('defaultKey', localKeyref);
    }
  });

  test('hover on an armored blob shows provider, region, key id and context with no KMS call', async () => {
    const a = await api();
    await setSetting('encryptionContext', { team: 'blue' });
    const armored = await a.envelope.sealText(
      'hover me',
      [{ provider: 'tencent', region: 'ap-guangzhou', key: 'seed-enabled', profile: 'emu' }],
      { team: 'blue' },
    );
    const { document } = await openTempFile(`secret: ${armored}\n`, { name: 'hover.yaml' });
    const before = (await counters()).total ?? 0;
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      document.uri,
      new vscode.Position(0, 20),
    );
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /Tencent Cloud KMS/);
    assert.match(text, /ap\\-guangzhou|ap-guangzhou/);
    assert.match(text, /team=blue/);
    assert.equal((await counters()).total ?? 0, before, 'the hover made a KMS call');
  });

  test('Copy Unsealed puts the value on the clipboard and clears it after the timeout, only if unchanged', async () => {
    const a = await api();
    await setSetting('clipboardTimeoutSeconds', 1);
    const armored = await a.envelope.sealText(
      'clip-value-1',
      [{ provider: 'local', region: 'local', key: localKeyref.split(':')[2] }],
      undefined,
    );
    const { editor } = await openTempFile(`x=${armored}\n`);
    editor!.selection = new vscode.Selection(new vscode.Position(0, 8), new vscode.Position(0, 8));
    await vscode.commands.executeCommand('kmsEnvelope.copyUnsealed');
    assert.equal(await vscode.env.clipboard.readText(), 'clip-value-1');
    await waitFor(async () => (await vscode.env.clipboard.readText()) === '', { timeoutMs: 4000, message: 'the clipboard to be cleared' });
    // If the user copied something else meanwhile, it is left alone.
    await vscode.commands.executeCommand('kmsEnvelope.copyUnsealed');
    await vscode.env.clipboard.writeText('user copied this');
    await new Promise((r) => setTimeout(r, 1600));
    assert.equal(await vscode.env.clipboard.readText(), 'user copied this');
  });

  test('Unseal Selection in an auto-saved file on disk asks first (modal, once per file): copy, open in memory, or unseal here', async () => {
    const a = await api();
    const files = vscode.workspace.getConfiguration('files');
    await files.update('autoSave', 'afterDelay', vscode.ConfigurationTarget.Global);
    try {
      const key = { provider: 'local', region: 'local', key: localKeyref.split(':')[2] } as const;
      const armored = await a.envelope.sealText('auto-saved-secret', [key], undefined);
      const text = `db:\n  password: ${armored}\n`;
      const { uri, editor, document } = await openTempFile(text, { name: 'app.yaml' });
      const onBlob = () => (editor!.selection = new vscode.Selection(new vscode.Position(1, 14), new vscode.Position(1, 14)));
      const onDisk = async () => Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
      const askedOnce = (p: ReturnType<typeof scripted>) => {
        const q = p.asked.filter((x) => x.kind === 'choose');
        assert.equal(q.length, 1, `one modal question: ${JSON.stringify(p.asked)}`);
        assert.match(q[0].message!, /Auto-save is on: unsealing here writes the plaintext into app\.yaml on disk/);
        assert.deepEqual(q[0].actions, ['Copy Unsealed Value', 'Open in Memory', 'Unseal Here']);
      };

      // Dismissed: nothing happens, and the dialog is no error.
      a.testing!.clearLastError();
      onBlob();
      let p = scripted(a).answer(say(undefined));
      assert.equal(await vscode.commands.executeCommand('kmsEnvelope.unsealSelection'), undefined);
      askedOnce(p);
      assert.equal(document.getText(), text);
      assert.equal(a.testing!.lastError(), undefined);

      // Copy Unsealed Value: the clipboard gets the value, the document and the file stay sealed.
      p = scripted(a).answer(say('Copy Unsealed Value'));
      assert.equal(await vscode.commands.executeCommand('kmsEnvelope.unsealSelection'), 0);
      askedOnce(p);
      assert.equal(await vscode.env.clipboard.readText(), 'auto-saved-secret');
      await vscode.env.clipboard.writeText('');
      assert.equal(document.getText(), text);

      // Open in Memory: the values editor (kms-sealed:) shows the plaintext; the file stays sealed.
      p = scripted(a).answer(say('Open in Memory'));
      assert.equal(await vscode.commands.executeCommand('kmsEnvelope.unsealSelection'), 0);
      askedOnce(p);
      const mem = await waitFor(() => vscode.window.visibleTextEditors.find((e) => e.document.uri.scheme === 'kms-sealed')?.document, {
        message: 'the in-memory editor',
      });
      assert.match(mem.getText(), /password: auto-saved-secret/);
      assert.equal(document.isDirty, false);
      assert.equal(await onDisk(), text);

      // Unseal Here: in place, and not asked again for this file.
      await vscode.window.showTextDocument(document);
      onBlob();
      p = scripted(a).answer(say('Unseal Here'));
      assert.equal(await vscode.commands.executeCommand('kmsEnvelope.unsealSelection'), 1);
      askedOnce(p);
      assert.equal(document.getText(), 'db:\n  password: auto-saved-secret\n');
      await vscode.commands.executeCommand('undo');
      onBlob();
      p = scripted(a);
      assert.equal(await vscode.commands.executeCommand('kmsEnvelope.unsealSelection'), 1);
      assert.equal(p.asked.length, 0, 'asked once per file');
      await vscode.commands.executeCommand('undo');
    } finally {
      await files.update('autoSave', 'off', vscode.ConfigurationTarget.Global);
      a.testing!.setPrompts(undefined);
    }
  });

  test('cancelling a slow seal leaves the document unchanged and is not an error', async () => {
    const a = await api();
    a.testing!.clearLastError();
    await setFaults({ 'tencent:GenerateDataKey': { latencyMs: 4000 } });
    const { editor, document } = await openTempFile('slow=value\n');
    editor!.selection = rangeOf(document, 'value');
    const run = vscode.commands.executeCommand('kmsEnvelope.sealWithKey', {
      provider: 'tencent',
      profile: 'emu',
      region: 'ap-guangzhou',
      keyId: 'seed-enabled',
    });
    await waitFor(() => a.testing!.activeOperations() > 0, { message: 'the seal to start' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(a.testing!.cancelAll(), 1);
    const t0 = Date.now();
    assert.equal(await run, undefined);
    assert.ok(Date.now() - t0 < 3000, 'cancel took effect before the KMS answered');
    assert.equal(document.getText(), 'slow=value\n');
    assert.equal(a.testing!.lastError(), undefined);
    await setFaults({});
  });

  test('sealing with a disabled key fails once with the key named, and the document is unchanged', async () => {
    const a = await api();
    a.testing!.clearLastError();
    const { editor, document } = await openTempFile('k=v\n');
    editor!.selection = rangeOf(document, 'v');
    await vscode.commands.executeCommand('kmsEnvelope.sealWithKey', {
      provider: 'tencent',
      profile: 'emu',
      region: 'ap-guangzhou',
      keyId: 'seed-disabled',
    });
    const e = a.testing!.lastError()!;
    assert.ok(e, 'expected an error');
    const err = e.error as Error & { kind?: string; details?: { providerCode?: string } };
    assert.equal(err.kind, 'provider');
    assert.match(err.details?.providerCode ?? '', /Disabled/i, `providerCode ${err.details?.providerCode}: the error offers "Enable Key"`);
    assert.equal(document.getText(), 'k=v\n');
    // The "Enable Key" action runs kmsEnvelope.enableKey with the error's details, then the command again.
    const d = (e.error as { details: { provider?: string; profile?: string; region?: string; keyId?: string } }).details;
    assert.ok(d.provider && d.region && d.keyId, `the error names provider, region and key: ${JSON.stringify(d)}`);
    a.testing!.clearLastError();
    assert.equal(
      await vscode.commands.executeCommand('kmsEnvelope.enableKey', {
        provider: d.provider,
        profile: d.profile,
        region: d.region,
        keyId: d.keyId,
      }),
      true,
      String(a.testing!.lastError()?.error),
    );
    try {
      editor!.selection = rangeOf(document, 'v');
      await vscode.commands.executeCommand('kmsEnvelope.sealWithKey', {
        provider: 'tencent',
        profile: 'emu',
        region: 'ap-guangzhou',
        keyId: 'seed-disabled',
      });
      assert.match(document.getText(), new RegExp(`^k=${ARMOR_PREFIX}`), String(a.testing!.lastError()?.error));
    } finally {
      const p = await a.keys.getProvider({ provider: 'tencent', profile: 'emu' });
      const k = await p.describeKey('ap-guangzhou', 'seed-disabled');
      await p.disableKey('ap-guangzhou', k.keyId);
    }
  });
});

// Profile commands in the real extension host, through the same prompt seam as every other command:
// Add Profile (provider, name, kind, key id, hidden secret, regions, endpoint; a live test against
// the emulator; Edit / Save Anyway when it fails), Test Profile (OK; a rejected stored key shows one
// error offering Rotate Secret), Rotate Secret, Remove Profile (modal), read-only discovered
// profiles, and where secrets are kept when no OS keychain answers. Secrets go to the real keychain
// (gnome-keyring of the run); none may appear in a message, the log or any file of the run.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { credentialsError } from '../../src/core/errors';
import { KEYCHAIN_SERVICE, type SecretStore } from '../../src/core/secrets';
import { chooseSecretStore } from '../../src/extension/secret-storage';
import { ui, windowPrompts } from '../../src/extension/ui';
import { BACK, api, back, choose, filesContaining, plaintextSearchRoots, say, scripted, yes, no, type Answer } from './extension-support';
import { requireEmulator } from './helpers';

const hex = (n: number) => randomBytes(n).toString('hex');

suite('extension: profile commands', () => {
  /**
   * Secrets made up in this suite: none may show up in a message or a file of the run. (The emulator's
   * own key is a fixture that its state file holds in the clear; it is typed too but not searched for.)
   */
  const secrets: string[] = [];
  const shown: string[] = [];
  const creds = (valid = true) => {
    const x = requireEmulator().exports;
    if (valid) return { id: x.TENCENTCLOUD_SECRET_ID, secret: x.TENCENTCLOUD_SECRET_KEY };
    const c = { id: `AKID${hex(14)}`, secret: `sk${hex(16)}` };
    secrets.push(c.secret);
    return c;
  };
  const hidden =
    (v: string): Answer =>
    (_k, q) => {
      assert.equal((q.options as vscode.InputBoxOptions).password, true, `the input box "${q.title}" must hide what is typed`);
      return v;
    };
  const addScript = (c: { id: string; secret: string }, name: string, endpoint: string, regions = ''): Answer[] => [
    choose((_l, i) => (i as { provider?: string }).provider === 'tencent'),
    say(name),
    choose((_l, i) => (i as { keyKind?: string }).keyKind === 'long-term'),
    say(c.id),
    hidden(c.secret),
    say(regions),
    say(endpoint),
  ];
  const remember = (p: { asked: Array<{ message?: string; detail?: string }> }) =>
    shown.push(...p.asked.map((q) => `${q.message ?? ''} ${q.detail ?? ''}`));

  suiteTeardown(async () => {
    const a = await api();
    for (const p of await a.credentials.listProfiles('tencent'))
      if (p.source === 'keychain' && /^p5-/.test(p.name)) await a.credentials.removeProfile('tencent', p.name);
    a.testing!.setPrompts(undefined);
    const text = shown.join('\n');
    for (const s of secrets) {
      assert.ok(!text.includes(s), 'a secret reached a message');
      assert.deepEqual(await filesContaining(s, plaintextSearchRoots()), [], 'a secret reached a file of the run');
    }
  });

  test('Add Profile asks provider, name, kind, key id, hidden secret, regions, endpoint; tests live; saves', async () => {
    const a = await api();
    const em = requireEmulator();
    const name = `p5-dev-${hex(2)}`;
    const c = creds();
    const events: string[] = [];
    const sub = a.credentials.onDidChange((e) => events.push(e.type));
    const p = scripted(a).answer(...addScript(c, name, em.url, 'ap-guangzhou, ap-shanghai'));
    const info = await vscode.commands.executeCommand('kmsEnvelope.addProfile');
    sub.dispose();
    remember(p);
    assert.ok(info, String(a.testing!.lastError()?.error));
    assert.equal(p.pending, 0);
    assert.deepEqual(
      p.asked.filter((q) => q.kind !== 'inform').map((q) => q.title),
      ['Add Profile (1/7)', ...[2, 3, 4, 5, 6, 7].map((i) => `Add Tencent Cloud KMS Profile (${i}/7)`)],
    );
    assert.match(p.messages.join('\n'), new RegExp(`info: Tencent Cloud profile "${name}" tested OK \\(\\d+ regions\\) and saved\\.`));
    const saved = await a.credentials.getProfile('tencent', name);
    assert.deepEqual([saved?.source, saved?.endpoint, saved?.regions], ['keychain', em.url, ['ap-guangzhou', 'ap-shanghai']]);
    assert.deepEqual(await a.credentials.credentialsFor('tencent', name)(), { accessKeyId: c.id, accessKeySecret: c.secret });
    assert.ok(events.includes('add'), `events: ${events.join(', ')}`);
  });

  test("Add Profile from a provider row asks the provider first (the row's preselected); each step numbered once; Back goes back", async () => {
    const a = await api();
    const em = requireEmulator();
    const name = `p5-back-${hex(2)}`;
    const c = creds();
    const prefilled: Answer = (_k, q) => (q.options as vscode.InputBoxOptions).value;
    const p = scripted(a).answer(
      (_k, q) => {
        const active = (q.items ?? []).filter((i) => (i as { picked?: boolean }).picked).map((i) => (i as { provider?: string }).provider);
        assert.deepEqual(active, ['alibaba'], "the row's provider is preselected");
        return q.items!.find((i) => (i as { provider?: string }).provider === 'alibaba');
      },
      say(name),
      back, // the kind step → the name again
      (_k, q) => {
        assert.equal((q.options as vscode.InputBoxOptions).value, name, 'Back keeps what was typed');
        return BACK;
      },
      choose((_l, i) => (i as { provider?: string }).provider === 'tencent'),
      prefilled,
      choose((_l, i) => (i as { keyKind?: string }).keyKind === 'long-term'),
      say(c.id),
      hidden(c.secret),
      say('ap-guangzhou'),
      say(em.url),
    );
    const info = await vscode.commands.executeCommand('kmsEnvelope.addProfile', { kind: 'provider', provider: 'alibaba' });
    remember(p);
    assert.ok(info, String(a.testing!.lastError()?.error));
    assert.equal(p.pending, 0);
    assert.deepEqual(
      p.asked.filter((q) => q.kind !== 'inform').map((q) => q.title),
      [
        'Add Profile (1/7)',
        'Add Alibaba Cloud KMS Profile (2/7)',
        'Add Alibaba Cloud KMS Profile (3/7)',
        'Add Alibaba Cloud KMS Profile (2/7)',
        'Add Profile (1/7)',
        ...[2, 3, 4, 5, 6, 7].map((i) => `Add Tencent Cloud KMS Profile (${i}/7)`),
      ],
    );
    assert.equal((await a.credentials.getProfile('tencent', name))?.source, 'keychain');
    assert.match(p.messages.join('\n'), new RegExp(`Tencent Cloud profile "${name}" tested OK`));
  });

  test('a failed test offers Edit / Save Anyway: Edit asks again with the values kept; Save Anyway stores; dismissing stores nothing', async () => {
    const a = await api();
    const em = requireEmulator();
    const good = creds();
    const name = `p5-prod-${hex(2)}`;
    let p = scripted(a).answer(...addScript(creds(false), name, em.url, 'ap-guangzhou'), (_k, q) => {
      assert.match(q.message ?? '', new RegExp(`Testing Tencent Cloud profile "${name}" failed: .*SecretId`));
      return 'Edit';
    });
    // Second round: provider kept, values prefilled; only the key changes.
    const prefilled: Answer = (_k, q) => (q.options as vscode.InputBoxOptions).value;
    p.answer(
      prefilled,
      choose((_l, i) => !!(i as { picked?: boolean }).picked),
      say(good.id),
      hidden(good.secret),
      prefilled,
      prefilled,
    );
    await vscode.commands.executeCommand('kmsEnvelope.addProfile');
    remember(p);
    assert.equal(p.pending, 0, JSON.stringify(p.asked));
    assert.equal(p.asked.find((q) => q.kind === 'choose')?.actions?.join(','), 'Edit,Save Anyway');
    assert.match(p.messages.at(-1)!, new RegExp(`"${name}" tested OK \\(\\d+ regions\\) and saved`));
    assert.deepEqual(
      (await a.credentials.getProfile('tencent', name))?.regions,
      ['ap-guangzhou'],
      'the regions typed in round one were kept',
    );
    assert.equal((await a.credentials.credentialsFor('tencent', name)()).accessKeyId, good.id);

    const wrong = creds(false);
    const later = `p5-later-${hex(2)}`;
    p = scripted(a).answer(...addScript(wrong, later, em.url), say('Save Anyway'));
    await vscode.commands.executeCommand('kmsEnvelope.addProfile');
    remember(p);
    assert.match(p.asked.find((q) => q.kind === 'choose')?.message ?? '', /SecretId/);
    assert.match(p.messages.at(-1)!, new RegExp(`"${later}" saved without a successful test`));
    assert.ok(await a.credentials.getProfile('tencent', later));

    const never = `p5-never-${hex(2)}`;
    a.testing!.clearLastError();
    p = scripted(a).answer(...addScript(creds(false), never, em.url), say(undefined));
    await vscode.commands.executeCommand('kmsEnvelope.addProfile');
    remember(p);
    assert.equal(a.testing!.lastError(), undefined, 'dismissing is a cancellation, not an error');
    assert.equal(await a.credentials.getProfile('tencent', never), undefined);
  });

  test('Test / Rotate / Remove from a tree node: OK; a rejected key offers Rotate Secret; rotate re-tests; remove asks first', async () => {
    const a = await api();
    const em = requireEmulator();
    const name = `p5-rot-${hex(2)}`;
    const wrong = creds(false);
    await a.credentials.addProfile(
      { provider: 'tencent', name, endpoint: em.url },
      { accessKeyId: wrong.id, accessKeySecret: wrong.secret },
    );
    const node = { provider: 'tencent', profile: name };

    a.testing!.clearLastError();
    let p = scripted(a);
    await vscode.commands.executeCommand('kmsEnvelope.testProfile', { provider: 'tencent', profile: { name } });
    remember(p);
    const errors = p.asked.filter((q) => q.kind === 'error');
    assert.equal(errors.length, 1, 'one error notification');
    assert.match(errors[0].message!, new RegExp(`Tencent Cloud profile "${name}": .*SecretId`));
    // Its hint names Test Profile — the failed command itself, so Retry is that button; no unrelated Add Profile.
    assert.deepEqual(errors[0].actions, ['Rotate Secret', 'Retry', 'Open Log']);
    assert.equal(a.testing!.lastError()?.command, 'kmsEnvelope.testProfile');

    const good = creds();
    p = scripted(a).answer(
      choose((_l, i) => (i as { keyKind?: string }).keyKind === 'long-term'),
      say(good.id),
      hidden(good.secret),
    );
    const rotated = await vscode.commands.executeCommand('kmsEnvelope.rotateSecret', node);
    remember(p);
    assert.ok(rotated, String(a.testing!.lastError()?.error));
    assert.match(p.messages.at(-1)!, new RegExp(`Rotated the secret of Tencent Cloud profile "${name}" \\(key AKID….{4}\\); tested OK`));
    assert.equal((await a.credentials.credentialsFor('tencent', name)()).accessKeySecret, good.secret);

    p = scripted(a);
    const regions = (await vscode.commands.executeCommand('kmsEnvelope.testProfile', node)) as string[];
    assert.ok(regions?.length, String(a.testing!.lastError()?.error));
    assert.equal(p.messages.at(-1), `info: Tencent Cloud profile "${name}": OK, ${regions.length} regions at ${em.url}.`);

    p = scripted(a).answer(no); // dismiss the confirmation: nothing removed
    await vscode.commands.executeCommand('kmsEnvelope.removeProfile', node);
    assert.ok(await a.credentials.getProfile('tencent', name));
    const confirm = p.asked.find((q) => q.kind === 'confirm')!;
    assert.equal(confirm.message, `Remove the Tencent Cloud profile "${name}"?`);
    assert.match(confirm.detail!, /deleted from the OS keychain/);
    p = scripted(a).answer(yes);
    assert.equal(await vscode.commands.executeCommand('kmsEnvelope.removeProfile', node), true);
    assert.equal(await a.credentials.getProfile('tencent', name), undefined);
    assert.equal(await a.credentials.secretStore.get(KEYCHAIN_SERVICE, `tencent:${name}`), undefined);
  });

  test('discovered profiles are read-only: Remove names where the profile comes from', async () => {
    const a = await api();
    const dir = join(process.env.HOME!, '.tccli');
    await fsp.mkdir(dir, { recursive: true });
    const file = join(dir, 'p5-cli.credential');
    const c = creds(false);
    await fsp.writeFile(file, JSON.stringify({ secretId: c.id, secretKey: c.secret }));
    try {
      a.credentials.reload();
      a.testing!.clearLastError();
      const p = scripted(a);
      await vscode.commands.executeCommand('kmsEnvelope.removeProfile', { provider: 'tencent', profile: 'p5-cli' });
      remember(p);
      assert.match(p.messages.join('\n'), /discovered from tccli and is read-only/);
      assert.equal(a.testing!.lastError()?.command, 'kmsEnvelope.removeProfile');
    } finally {
      await fsp.rm(file, { force: true });
      a.credentials.reload();
    }
  });

  test('no Secret Service: secrets go to SecretStorage, logged every time, said once naming the place', async () => {
    const a = await api();
    const failing: SecretStore = {
      description: 'the OS keychain',
      get: async () => {
        throw credentialsError('The OS keychain did not answer within 3 s (reading kms-envelope/__probe__).');
      },
      set: async () => undefined,
      delete: async () => false,
      list: async () => [],
    };
    const state = new Map<string, unknown>();
    const secretMap = new Map<string, string>();
    const context = {
      secrets: {
        get: async (k: string) => secretMap.get(k),
        store: async (k: string, v: string) => void secretMap.set(k, v),
        delete: async (k: string) => void secretMap.delete(k),
        onDidChange: () => ({ dispose() {} }),
      },
      globalState: { get: (k: string) => state.get(k), update: async (k: string, v: unknown) => void state.set(k, v), keys: () => [] },
    } as unknown as vscode.ExtensionContext;
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), show() {} };
    // chooseSecretStore is called here from this bundle's copy of ui.ts: its prompts are swapped directly.
    const p = scripted(a).answer(say(undefined));
    ui.prompts = p;
    const first = await chooseSecretStore(context, log, { keychain: failing, env: {} });
    assert.equal(first.kind, 'secret-storage');
    assert.equal(first.store.description, "VS Code's SecretStorage");
    assert.match(first.reason!, /did not answer/);
    const second = await chooseSecretStore(context, log, { keychain: failing, env: {} });
    assert.equal(second.kind, 'secret-storage');
    const offers = p.asked.filter((q) => q.kind === 'offer');
    assert.equal(offers.length, 1, 'said once');
    assert.match(offers[0].message!, /no OS keychain here, so cloud secrets are kept in VS Code's SecretStorage/);
    assert.deepEqual(offers[0].actions, ['Show Log']);
    assert.equal(lines.filter((l) => l.startsWith('warn The OS keychain is not available')).length, 2);
    const forced = await chooseSecretStore(context, log, { env: { KMS_ENVELOPE_FORCE_SECRET_STORAGE: '1' } });
    assert.equal(forced.kind, 'secret-storage');
    // With the run's Secret Service the real keytar probe picks the OS keychain, and says nothing.
    const real = await chooseSecretStore(context, log, { env: {} });
    assert.equal(real.kind, 'keychain');
    assert.equal(p.asked.length, 1);
    ui.prompts = windowPrompts;
  });

  test('universal build (no keytar bundled): SecretStorage without a probe, said once, naming the platform package', async () => {
    const a = await api();
    let probed = 0;
    const untouched: SecretStore = {
      description: 'the OS keychain',
      get: async () => (probed++, undefined),
      set: async () => void probed++,
      delete: async () => (probed++, false),
      list: async () => (probed++, []),
    };
    const state = new Map<string, unknown>();
    const secretMap = new Map<string, string>();
    const context = {
      secrets: {
        get: async (k: string) => secretMap.get(k),
        store: async (k: string, v: string) => void secretMap.set(k, v),
        delete: async (k: string) => void secretMap.delete(k),
        onDidChange: () => ({ dispose() {} }),
      },
      globalState: { get: (k: string) => state.get(k), update: async (k: string, v: unknown) => void state.set(k, v), keys: () => [] },
    } as unknown as vscode.ExtensionContext;
    const lines: string[] = [];
    const log = { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`), show() {} };
    const p = scripted(a).answer(say(undefined));
    ui.prompts = p;
    try {
      const first = await chooseSecretStore(context, log, { keychain: untouched, keychainBundled: false, env: {} });
      const second = await chooseSecretStore(context, log, { keychain: untouched, keychainBundled: false, env: {} });
      assert.equal(probed, 0, 'the keychain was touched');
      assert.equal(first.kind, 'secret-storage');
      assert.equal(second.kind, 'secret-storage');
      assert.match(first.reason!, /universal KMS Envelope package/);
      await first.store.set(KEYCHAIN_SERVICE, 'tencent:dev', 'shh');
      assert.equal(secretMap.get(`secret:${KEYCHAIN_SERVICE}/tencent:dev`), 'shh', 'kept in SecretStorage');
      assert.deepEqual(await second.store.list(KEYCHAIN_SERVICE), ['tencent:dev']);
      const offers = p.asked.filter((q) => q.kind === 'offer');
      assert.equal(offers.length, 1, 'said once');
      assert.match(offers[0].message!, /universal package.*SecretStorage.*command line cannot read them.*package for your platform/);
      assert.equal(lines.filter((l) => /^info Cloud secrets and local keys are kept in VS Code's SecretStorage/.test(l)).length, 2);
    } finally {
      ui.prompts = windowPrompts;
    }
  });
});

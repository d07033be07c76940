// The extension's services without VS Code: KeyService (providers per profile, regions, paged key
// cache, errors and retry), TreeModel (rows, ids, flags, filter) and EnvelopeService (text, reseal,
// rewrap) over the real local provider (memory key store) and the real emulator on 127.0.0.1 for
// the clouds, through the real CredentialService.
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CredentialService } from '../../src/core/credentials/service';
import { MemorySecretStore } from '../../src/core/secrets';
import { createProvider } from '../../src/core/kms/registry';
import { startEmulator, type RunningEmulator } from '../../src/emulator/index';
import { KeyService, type ProfileRef } from '../../src/core/services/key-service';
import {
  TreeModel,
  keyrefOfKey,
  localDate,
  reasonFirst,
  type ErrorNode,
  type KeyNode,
  type TreeNode,
} from '../../src/core/services/tree-model';
import { EnvelopeService } from '../../src/core/services/envelope-service';
import { inspect } from '../../src/core/envelope/index';

let em: RunningEmulator;
let dir: string;
let creds: CredentialService;
let localStore: MemorySecretStore;
let regionChoice: Record<string, string[]>;
let pageSize: number;
let keys: KeyService;
let showLocal: boolean;

before(async () => {
  em = await startEmulator({ seed: true });
});
after(async () => {
  await em.stop();
});

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'services-test-'));
  localStore = new MemorySecretStore();
  creds = new CredentialService({ secretStore: new MemorySecretStore(), configDir: dir, env: {}, homeDir: dir });
  regionChoice = {};
  pageSize = 100;
  showLocal = true;
  keys = new KeyService({
    credentials: creds,
    createProvider: (name, opts) =>
      createProvider(name, { ...opts, env: { KMS_ENVELOPE_CONFIG_DIR: dir }, secretStore: name === 'local' ? localStore : undefined }),
    showLocal: () => showLocal,
    regionChoice: (r: ProfileRef) => regionChoice[`${r.provider}/${r.profile}`],
    pageSize: () => pageSize,
  });
  em.setFaults({});
});
afterEach(() => {
  keys.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function addCloudProfiles(): Promise<void> {
  const a = em.accounts[0];
  await creds.addProfile(
    { provider: 'tencent', name: 'emu', endpoint: em.url },
    { accessKeyId: a.tencent.secretId, accessKeySecret: a.tencent.secretKey },
  );
  await creds.addProfile(
    { provider: 'alibaba', name: 'emu', endpoint: em.url, regions: ['cn-hangzhou', 'cn-shanghai'] },
    { accessKeyId: a.alibaba.accessKeyId, accessKeySecret: a.alibaba.accessKeySecret },
  );
}

async function walk(model: TreeModel, node?: TreeNode, depth = 0): Promise<string[]> {
  const out: string[] = [];
  for (const c of await model.getChildren(node)) {
    const below = c.collapsible === 'expanded' ? await walk(model, c, depth + 1) : [];
    model.update(c); // as VS Code re-renders a region row once its keys are loaded
    out.push(`${'  '.repeat(depth)}${c.label}${c.description ? ` [${c.description}]` : ''} <${c.contextValue}>`, ...below);
  }
  return out;
}

describe('KeyService', () => {
  it('shows local when enabled and a cloud only once it has a profile; no KMS call before a region is asked for', async () => {
    em.resetCounters();
    assert.deepEqual(await keys.listProviders(), ['local']);
    showLocal = false;
    assert.deepEqual(await keys.listProviders(), []);
    await addCloudProfiles();
    assert.deepEqual(await keys.listProviders(), ['tencent', 'alibaba']);
    assert.equal(em.counters().total ?? 0, 0);
  });

  it('regions: the settings choice, else the profile regions, else every region the provider lists', async () => {
    await addCloudProfiles();
    assert.deepEqual(await keys.listRegions({ provider: 'alibaba', profile: 'emu' }), ['cn-hangzhou', 'cn-shanghai']);
    const all = await keys.listRegions({ provider: 'tencent', profile: 'emu' });
    assert.ok(all.includes('ap-guangzhou') && all.length > 5, `all regions: ${all.join(',')}`);
    regionChoice['tencent/emu'] = ['ap-shanghai'];
    assert.deepEqual(await keys.listRegions({ provider: 'tencent', profile: 'emu' }), ['ap-shanghai']);
    assert.equal(await keys.hasRegionChoice({ provider: 'tencent', profile: 'emu' }), true);
  });

  it('pages with load more, and a refresh keeps as many keys as were shown', async () => {
    const local = await keys.getProvider({ provider: 'local', profile: 'default' });
    for (let i = 0; i < 5; i++) await local.createKey('local', { alias: `k${i}` });
    pageSize = 2;
    const ref = { provider: 'local' as const, profile: 'default', region: 'local' };
    let st = await keys.ensureLoaded(ref);
    assert.deepEqual(
      st.keys.map((k) => k.alias),
      ['k0', 'k1'],
    );
    assert.ok(st.nextToken);
    assert.equal(st.total, 5);
    st = await keys.loadMore(ref);
    assert.deepEqual(
      st.keys.map((k) => k.alias),
      ['k0', 'k1', 'k2', 'k3'],
    );
    await local.disableKey('local', st.keys[3].keyId);
    st = await keys.refreshRegion(ref);
    assert.equal(st.keys.length, 4);
    assert.equal(st.keys[3].state, 'Disabled');
    st = await keys.loadMore(ref);
    assert.equal(st.keys.length, 5);
    assert.equal(st.nextToken, undefined);
  });

  it('shares one request between concurrent loads of a region', async () => {
    await addCloudProfiles();
    em.resetCounters();
    const ref = { provider: 'tencent' as const, profile: 'emu', region: 'ap-guangzhou' };
    await Promise.all([keys.ensureLoaded(ref), keys.ensureLoaded(ref), keys.ensureLoaded(ref)]);
    assert.equal(em.counters()['tencent:ListKeyDetail'] ?? em.counters()['tencent:ListKeys'], 1, JSON.stringify(em.counters()));
  });

  it('a failing region keeps its error (no retry storm) until retry, then loads', async () => {
    await addCloudProfiles();
    em.setFaults({ 'tencent:*': { unavailable: { count: 50 } } });
    const ref = { provider: 'tencent' as const, profile: 'emu', region: 'ap-guangzhou' };
    const st = await keys.ensureLoaded(ref);
    assert.ok(st.error, 'expected an error');
    assert.equal(st.error.details.region ?? 'ap-guangzhou', 'ap-guangzhou');
    const again = await keys.ensureLoaded(ref);
    assert.equal(again, st);
    em.setFaults({});
    const ok = await keys.retry(ref);
    assert.equal(ok.error, undefined);
    assert.equal(ok.keys.length, 3);
  });
});

describe('TreeModel', () => {
  it('renders provider → profile → region → key rows with states, flags and stable ids', async () => {
    await addCloudProfiles();
    regionChoice['tencent/emu'] = ['ap-guangzhou', 'ap-nanjing'];
    const model = new TreeModel(keys, { defaultKey: () => ({ keyref: 'alibaba:cn-hangzhou:alias/seed-enabled' }) });
    const lines = await walk(model);
    const text = lines.join('\n');
    // Local keys: one region on this machine, so its keys (here: none) sit right under the provider row.
    assert.match(text, /^Local keys \[0 keys\] <kms:provider\+local\+keys>/m);
    assert.match(text, /^ {2}No keys <kms:empty>/m);
    assert.doesNotMatch(text, /This machine/);
    assert.match(text, /^Tencent Cloud KMS <kms:provider\+tencent\+profiles>/m);
    assert.match(text, /^ {4}ap-guangzhou \[3 keys\] <kms:region\+tencent>/m);
    assert.match(text, /^ {6}seed-enabled \[Seeded by .*\] <kms:key\+enabled\+tencent\+alias\+arn\+disableFirst>/m);
    assert.match(text, /^ {6}seed-disabled \[disabled · .*\] <kms:key\+disabled\+tencent\+alias\+arn>/m);
    assert.match(text, /^ {6}seed-pending-deletion \[pending deletion · .*\] <kms:key\+pendingDeletion\+tencent\+alias\+arn>/m);
    assert.match(text, /^ {4}ap-nanjing \[0 keys\] <kms:region\+tencent>/m);
    assert.match(text, /^ {6}seed-enabled \[★ default · .*\] <kms:key\+enabled\+alibaba\+default\+alias\+arn>/m);
    const region = model.getNode('r:tencent/emu/ap-guangzhou')!;
    const children = await model.getChildren(region);
    const key = children.find((c) => c.kind === 'key' && c.label === 'seed-enabled')!;
    assert.equal(key.icon?.id, 'key');
    assert.ok(key.tooltip?.includes('| State | Enabled |'));
    assert.ok(key.tooltip?.includes('tencent:ap-guangzhou:'));
    // The same id gives the same object after a refresh (VS Code matches change events by identity).
    keys.reset();
    const again = (await model.getChildren(region)).find((c) => c.id === key.id);
    assert.equal(again, key);
    model.dispose();
  });

  it('filters by alias or id and says what the filter hides; load more and error rows carry their commands', async () => {
    await addCloudProfiles();
    const model = new TreeModel(keys);
    const region = {
      kind: 'region',
      id: 'r:alibaba/emu/cn-hangzhou',
      provider: 'alibaba',
      profile: 'emu',
      region: 'cn-hangzhou',
      label: 'cn-hangzhou',
      contextValue: '',
      collapsible: 'expanded',
    } as TreeNode;
    model.setFilter('DISABLED');
    let rows = await model.getChildren(region);
    assert.deepEqual(
      rows.map((r) => r.label),
      ['seed-disabled'],
    );
    model.setFilter('nothing-like-this');
    rows = await model.getChildren(region);
    assert.equal(rows[0].label, 'No keys match "nothing-like-this"');
    assert.equal(rows[0].description, '3 hidden by the filter');
    model.setFilter('');
    pageSize = 2;
    keys.reset();
    rows = await model.getChildren(region);
    assert.equal(rows.length, 3);
    assert.equal(rows[2].kind, 'loadMore');
    assert.equal(rows[2].command?.command, 'kmsEnvelope.loadMore');
    assert.equal(rows[2].description, '2 of 3 loaded');
    em.setFaults({ 'alibaba:*': { unavailable: { count: 50 } } });
    keys.reset();
    rows = await model.getChildren(region);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].kind, 'error');
    assert.equal(rows[0].command?.command, 'kmsEnvelope.retry');
    assert.match(rows[0].contextValue, /^kms:error/);
    model.dispose();
  });
});

describe('TreeModel rows a newcomer reads (issue 15)', () => {
  it('both clouds list keys the same way: enabled first, then by name; local keys likewise', async () => {
    await addCloudProfiles();
    const local = await keys.getProvider({ provider: 'local', profile: 'default' });
    const zeta = await local.createKey('local', { alias: 'zeta' });
    await local.createKey('local', { alias: 'beta' });
    await local.createKey('local', { alias: 'alpha' });
    await local.disableKey('local', zeta.keyId);
    await local.createKey('local', { alias: 'gamma' });
    const model = new TreeModel(keys);
    const labels = async (id: string, ref: { provider: 'tencent' | 'alibaba'; region: string }) =>
      (
        await model.getChildren({
          kind: 'region',
          id,
          provider: ref.provider,
          profile: 'emu',
          region: ref.region,
          label: ref.region,
          contextValue: '',
          collapsible: 'expanded',
        } as TreeNode)
      ).map((r) => r.label);
    const tencent = await labels('r:tencent/emu/ap-guangzhou', { provider: 'tencent', region: 'ap-guangzhou' });
    const alibaba = await labels('r:alibaba/emu/cn-hangzhou', { provider: 'alibaba', region: 'cn-hangzhou' });
    assert.deepEqual(tencent, ['seed-enabled', 'seed-disabled', 'seed-pending-deletion']);
    assert.deepEqual(alibaba, tencent);
    const provider = (await model.getChildren()).find((n) => n.kind === 'provider' && n.provider === 'local')!;
    assert.deepEqual(
      (await model.getChildren(provider)).map((r) => r.label),
      ['alpha', 'beta', 'gamma', 'zeta'],
    );
    model.dispose();
  });

  it('local keys sit right under the provider row (no "This machine" / "local" rows), which creates and refreshes them', async () => {
    const local = await keys.getProvider({ provider: 'local', profile: 'default' });
    const k = await local.createKey('local', { alias: 'team-key' });
    const model = new TreeModel(keys);
    const [provider] = await model.getChildren();
    assert.equal(provider.kind, 'provider');
    assert.match(provider.contextValue, /^kms:provider\+local\+keys$/);
    assert.equal(provider.icon?.id, 'device-desktop');
    const rows = await model.getChildren(provider);
    assert.deepEqual(
      rows.map((r) => `${r.kind}:${r.label}`),
      ['key:team-key'],
    );
    const row = rows[0];
    assert.equal(row.id, `k:local/default/local/${k.keyId}`);
    assert.equal(model.getParent(row), provider);
    model.update(provider);
    assert.equal(provider.description, '1 key');
    // A change to the region redraws the provider row (there is no region row).
    const fired: Array<TreeNode | undefined> = [];
    model.onDidChange((n) => fired.push(n));
    await keys.refreshRegion({ provider: 'local', profile: 'default', region: 'local' });
    assert.ok(fired.length > 0 && fired.every((n) => n === provider), `fired ${fired.map((n) => n?.id).join(',')}`);
    model.dispose();
  });

  it('a key row shows dates in local, readable form and one keyref (the one Copy Keyref copies)', async () => {
    const local = await keys.getProvider({ provider: 'local', profile: 'default' });
    const k = await local.createKey('local', { alias: 'dated' });
    await local.disableKey('local', k.keyId);
    const r = await local.scheduleDeletion('local', k.keyId, 7);
    const model = new TreeModel(keys, { locale: 'en-GB' });
    const [provider] = await model.getChildren();
    const [row] = (await model.getChildren(provider)) as KeyNode[];
    const tip = row.tooltip!;
    const created = /\| Created \| ([^|]+) \|/.exec(tip)?.[1].trim();
    const deletion = /\| Deletion date \| ([^|]+) \|/.exec(tip)?.[1].trim();
    assert.ok(created && deletion, tip);
    for (const d of [created, deletion]) assert.doesNotMatch(d, /\d{4}-\d\d-\d\dT/, `an ISO timestamp in the tooltip: ${d}`);
    const want = new Intl.DateTimeFormat('en-GB', {
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    }).format(Date.parse(r.deletionDate!));
    assert.equal(deletion, want);
    assert.equal(localDate('not a date'), 'not a date');
    // The tooltip's Keyref row and the row's keyref name the key as Copy Keyref does: by alias.
    assert.equal(row.keyref, 'local:local:dated');
    assert.match(tip, /\| Keyref \| `local:local:dated` \|/);
    assert.equal(keyrefOfKey(row.key), row.keyref);
    model.dispose();
  });

  it('a failed region row says the reason first; the region and provider it sits under are not repeated', async () => {
    const a = em.accounts[0];
    await creds.addProfile(
      { provider: 'tencent', name: 'dead', endpoint: 'http://127.0.0.1:9', regions: ['ap-guangzhou'] },
      { accessKeyId: a.tencent.secretId, accessKeySecret: a.tencent.secretKey },
    );
    const model = new TreeModel(keys);
    const region = (await model.getChildren(await profileNode(model, 'tencent', 'dead')))[0];
    const rows = await model.getChildren(region);
    const err = rows.find((r) => r.kind === 'error') as ErrorNode;
    assert.ok(err, rows.map((r) => r.label).join(' | '));
    assert.match(err.message, /^Tencent Cloud KMS \w+ in region ap-guangzhou: could not reach/);
    assert.match(err.label, /^Could not reach http:\/\/127\.0\.0\.1:9/);
    assert.doesNotMatch(err.label, /Tencent|ap-guangzhou/);
    assert.match(err.description ?? '', /ListKey\w* · click to retry/);
    model.update(region);
    assert.match(region.contextValue, /\+error$/);
    // The cloud's own words stay whole in the tooltip.
    assert.ok(err.tooltip!.startsWith('Tencent Cloud KMS'), err.tooltip);
    assert.deepEqual(reasonFirst('Tencent Cloud KMS rejected the credentials of profile x (AuthFailure).', 'tencent', 'ap-guangzhou'), {
      reason: 'Tencent Cloud KMS rejected the credentials of profile x (AuthFailure).',
      action: undefined,
    });
    model.dispose();
  });
});

async function profileNode(model: TreeModel, provider: string, profile: string): Promise<TreeNode> {
  const p = (await model.getChildren()).find((n) => n.kind === 'provider' && n.provider === provider)!;
  return (await model.getChildren(p)).find((n) => n.kind === 'profile' && n.profile === profile)!;
}

describe('EnvelopeService', () => {
  it('seals text to one armored line and back; reseals to the same recipients and context; rewrap adds a recipient', async () => {
    await addCloudProfiles();
    const local = await keys.getProvider({ provider: 'local', profile: 'default' });
    const k = await local.createKey('local', { alias: 'svc' });
    const env = new EnvelopeService(keys);
    const armored = await env.sealText('s3cret value', [{ provider: 'local', region: 'local', key: 'svc' }], { app: 'test' });
    assert.match(armored, /^kmsenv:v1:[A-Za-z0-9+/=]+$/);
    const { text, header } = await env.unsealText(armored);
    assert.equal(text, 's3cret value');
    assert.deepEqual(header.context, { app: 'test' });
    assert.equal(header.recipients[0].keyId, k.keyId);

    const resealed = await env.reseal(Buffer.from('changed'), header);
    const h2 = await inspect(resealed);
    assert.deepEqual(h2.context, { app: 'test' });
    assert.deepEqual(
      h2.recipients.map((r) => r.keyId),
      [k.keyId],
    );

    const wrapped = await env.rewrap(
      resealed,
      [{ provider: 'tencent', region: 'ap-guangzhou', key: 'seed-enabled', profile: 'emu' }],
      'add',
    );
    assert.deepEqual(
      wrapped.header.recipients.map((r) => r.provider),
      ['local', 'tencent'],
    );
    const opened = await env.unsealBytes(wrapped.blob);
    assert.equal(opened.plaintext.toString(), 'changed');

    const replaced = await env.rewrap(
      wrapped.blob,
      [{ provider: 'alibaba', region: 'cn-hangzhou', key: 'alias/seed-enabled', profile: 'emu' }],
      'replace',
    );
    assert.deepEqual(
      replaced.header.recipients.map((r) => r.provider),
      ['alibaba'],
    );
    assert.deepEqual(replaced.header.context, { app: 'test' });
  });

  it('names the missing profile when a cloud key has none', async () => {
    const env = new EnvelopeService(keys);
    await assert.rejects(
      env.sealText('x', [{ provider: 'tencent', region: 'ap-guangzhou', key: 'k' }], undefined),
      (e: Error & { kind?: string }) => {
        assert.equal(e.kind, 'credentials');
        assert.match(e.message, /No Tencent Cloud KMS profile/);
        return true;
      },
    );
  });
});

/**
 * Commands on the Keys view: refresh, load more, retry, filter, regions per profile, local keys,
 * and the key actions (copy id / ARN / keyref, create, enable, disable, alias, description,
 * schedule / cancel deletion, default key, seal with this key). Each action refreshes only the
 * region it touched. Commands take a tree node, or a plain `{provider, profile?, region, keyId}`
 * (what the "Enable Key" error action passes), or nothing (then they ask).
 */
import * as vscode from 'vscode';
import { KmsEnvelopeError, usageError } from '../core/errors';
import { localProvider } from '../core/kms/local/descriptor';
import { findProvider, providerLabel } from '../core/kms/registry';
import type { KeyMetadata, KmsProvider, ProviderName } from '../core/kms/types';
import type { KeyService, RegionRef } from '../core/services/key-service';
import type { KeyTarget } from '../core/services/envelope-service';
import type { TreeModel, TreeNode } from '../core/services/tree-model';
import type { KeyPicker } from './key-picker';
import { settings } from './settings';
import { VIEW_ID, applyFilter } from './tree';
import { dismissed, registerCommand, ui, withCancellableProgress, type CommandContext } from './ui';

interface KeyArg {
  ref: RegionRef;
  keyId: string;
  /** Alias or id, for messages. */
  name: string;
  key?: KeyMetadata;
}

export interface KeyCommandDeps {
  ctx: CommandContext;
  keys: KeyService;
  model: TreeModel;
  view: vscode.TreeView<TreeNode>;
  picker: KeyPicker;
  /** Seals the active selection (or file) with a target; provided by selection.ts / files.ts. */
  sealSelection: (target?: KeyTarget) => Promise<unknown>;
  sealFile: (uri?: vscode.Uri, target?: KeyTarget) => Promise<unknown>;
}

export function registerKeyCommands(d: KeyCommandDeps): vscode.Disposable[] {
  const { ctx, keys, model, view, picker } = d;
  const reg = (id: string, fn: (...args: any[]) => unknown) => registerCommand(ctx, id, fn);

  async function keyArg(arg: unknown): Promise<KeyArg> {
    const a = arg as Partial<TreeNode> & { provider?: string; profile?: string; region?: string; keyId?: string; key?: KeyMetadata };
    if (a && typeof a === 'object' && a.kind === 'key' && a.key) {
      return {
        ref: { provider: a.provider!, profile: a.profile!, region: a.region! },
        keyId: a.key.keyId,
        name: a.key.alias ?? a.key.keyId,
        key: a.key,
      };
    }
    if (
      a &&
      typeof a === 'object' &&
      typeof a.provider === 'string' &&
      findProvider(a.provider) &&
      typeof a.region === 'string' &&
      typeof a.keyId === 'string'
    ) {
      const provider = a.provider as ProviderName;
      const profile = a.profile ?? (await keys.defaultProfile(provider));
      if (!profile) throw usageError(`No ${provider} profile to reach key ${a.keyId}.`, 'Add a profile first.');
      const ref = { provider, profile, region: a.region };
      const key = keys.findCachedKey(ref, a.keyId);
      return { ref, keyId: key?.keyId ?? a.keyId, name: key?.alias ?? a.keyId, key };
    }
    // No node: choose a key from the quick pick (every state, so Enable works on disabled keys too).
    const t = await picker.pick('Which key?', { anyState: true });
    const profile = t.profile ?? (await keys.defaultProfile(t.provider));
    return { ref: { provider: t.provider, profile: profile!, region: t.region }, keyId: t.key, name: t.key };
  }

  async function regionArg(arg: unknown): Promise<RegionRef> {
    const a = arg as Partial<TreeNode> & { provider?: ProviderName; profile?: string; region?: string };
    if (a && typeof a === 'object' && a.provider && a.profile && a.region)
      return { provider: a.provider, profile: a.profile, region: a.region };
    // A profile / provider node or nothing: ask for the profile and the region.
    let provider = a?.provider;
    if (!provider) {
      const ps = await keys.listProviders();
      const choice = await ui.prompts.pick(
        ps.map((p) => ({ label: providerLabel(p), provider: p })),
        { title: 'Create Key: provider' },
      );
      if (!choice) dismissed();
      provider = choice.provider;
    }
    let profile = a?.profile;
    if (!profile) {
      const profiles = await keys.listProfiles(provider);
      if (profiles.length === 1) profile = profiles[0].name;
      else {
        const choice = await ui.prompts.pick(
          profiles.map((p) => ({ label: p.name, description: p.source })),
          { title: 'Create Key: profile' },
        );
        if (!choice) dismissed();
        profile = choice.label;
      }
    }
    const regions = await keys.listRegions({ provider, profile });
    if (regions.length === 1) return { provider, profile, region: regions[0] };
    const choice = await ui.prompts.pick(
      regions.map((r) => ({ label: r })),
      { title: 'Create Key: region' },
    );
    if (!choice) dismissed();
    return { provider, profile, region: choice.label };
  }

  /** Runs a KMS call under cancellable progress, then refreshes just that region. */
  async function act<T>(title: string, ref: RegionRef, fn: (p: KmsProvider, signal: AbortSignal) => Promise<T>): Promise<T> {
    const out = await withCancellableProgress(title, async (signal) => fn(await keys.getProvider(ref), signal));
    await keys.refreshRegion(ref);
    return out;
  }

  const copy = async (text: string, what: string) => {
    await vscode.env.clipboard.writeText(text);
    vscode.window.setStatusBarMessage(`$(copy) Copied ${what}`, 3000);
    return text;
  };

  /** The provider's alias rules (its descriptor), checked as the user types. */
  const validAlias = (provider: ProviderName) => (v: string) => {
    const s = v.trim();
    if (!s) return 'Enter an alias.';
    return findProvider(provider)?.aliases.check(s);
  };
  /** A profile to name in a keyref target: only providers with credentials have profiles. */
  const profileOf = (ref: { provider: ProviderName; profile: string }) =>
    findProvider(ref.provider)?.credentials ? ref.profile : undefined;

  return [
    reg('kmsEnvelope.refresh', () => keys.reset()),
    reg('kmsEnvelope.refreshNode', async (node?: TreeNode) => {
      if (!node) return keys.reset();
      if (node.kind === 'provider') return keys.invalidateProvider(node.provider);
      if (node.kind === 'profile') return keys.invalidateProfile(node);
      if (node.kind === 'region') {
        await vscode.window.withProgress({ location: { viewId: VIEW_ID } }, () => keys.refreshRegion(node));
      }
    }),
    reg('kmsEnvelope.loadMore', async (node?: TreeNode) => {
      if (!node || node.kind !== 'loadMore') throw usageError('Load more applies to a "Load more" row of the Keys view.');
      const ref = { provider: node.provider, profile: node.profile, region: node.region };
      await vscode.window.withProgress({ location: { viewId: VIEW_ID } }, () => keys.loadMore(ref));
      const regionNode = model.getNode(`r:${ref.provider}/${ref.profile}/${ref.region}`);
      model.rerender();
      return regionNode ? keys.peekRegion(ref)?.keys.length : undefined;
    }),
    reg('kmsEnvelope.retry', async (node?: TreeNode) => {
      if (!node || node.kind !== 'error') throw usageError('Retry applies to an error row of the Keys view.');
      if (node.region) {
        await vscode.window.withProgress({ location: { viewId: VIEW_ID } }, () =>
          keys.retry({ provider: node.provider, profile: node.profile, region: node.region! }),
        );
      } else keys.invalidateProfile(node);
    }),
    reg('kmsEnvelope.filterKeys', async () => {
      const text = await ui.prompts.input({
        title: 'Filter keys',
        prompt: 'Show keys whose alias or id contains this text (empty: show all)',
        value: model.filter,
      });
      if (text === undefined) dismissed();
      await applyFilter(view, model, text);
    }),
    reg('kmsEnvelope.clearFilter', () => applyFilter(view, model, '')),
    reg('kmsEnvelope.chooseRegions', async (node?: TreeNode) => {
      let ref: { provider: ProviderName; profile: string };
      if (node && (node.kind === 'profile' || node.kind === 'region')) ref = { provider: node.provider, profile: node.profile };
      else {
        const all = (
          await Promise.all(
            (await keys.listProviders())
              .filter((p) => !findProvider(p)?.regions.fixed)
              .map(async (p) =>
                (await keys.listProfiles(p)).map((e) => ({
                  label: e.name,
                  description: providerLabel(p),
                  ref: { provider: p, profile: e.name },
                })),
              ),
          )
        ).flat();
        if (!all.length)
          throw usageError('There is no cloud profile to choose regions for.', 'Add a profile first (KMS Envelope: Add Profile).');
        const c = await ui.prompts.pick(all, { title: 'Choose Regions: which profile?' });
        if (!c) dismissed();
        ref = c.ref;
      }
      const fixed = findProvider(ref.provider)?.regions.fixed;
      if (fixed)
        throw usageError(`${providerLabel(ref.provider)} have ${fixed.length === 1 ? `one region, "${fixed[0]}"` : 'fixed regions'}.`);
      const all = await withCancellableProgress(`Listing ${providerLabel(ref.provider)} regions…`, () => keys.allRegions(ref));
      const current = new Set(settings.regions(ref) ?? (await keys.getProfile(ref))?.regions ?? []);
      const picked = await ui.prompts.pickMany(
        all.map((r) => ({ label: r, picked: current.has(r) })),
        {
          title: `Regions shown for ${providerLabel(ref.provider)} profile ${ref.profile}`,
          placeHolder: 'Pick the regions to show (none picked: every region)',
        },
      );
      if (!picked) dismissed();
      await settings.setRegions(
        ref,
        picked.map((p) => p.label),
      );
      keys.invalidateProfile(ref);
      return picked.map((p) => p.label);
    }),
    reg('kmsEnvelope.useLocalKeys', async () => {
      await settings.setLocalKeys('always');
      keys.reset();
      const choice = await ui.prompts.offer(
        "Local keys are shown in the KMS Envelope view. Their key material stays in this machine's OS keychain.",
        'Create a Local Key',
      );
      if (choice === 'Create a Local Key')
        return vscode.commands.executeCommand('kmsEnvelope.createKey', {
          provider: localProvider.name,
          profile: 'default',
          region: localProvider.regions.fixed![0],
        });
      return undefined;
    }),
    reg('kmsEnvelope.createKey', async (arg?: unknown) => {
      const ref = await regionArg(arg);
      const alias = await ui.prompts.input({
        title: `Create key in ${providerLabel(ref.provider)} ${ref.region}`,
        prompt: 'Alias (how the key is shown and named in keyrefs)',
        placeHolder: 'e.g. app-config',
        validateInput: validAlias(ref.provider),
      });
      if (alias === undefined) dismissed();
      const description = await ui.prompts.input({
        title: `Create key ${alias.trim()}`,
        prompt: 'Description (optional)',
        placeHolder: 'What this key protects',
      });
      if (description === undefined) dismissed();
      const meta = await act(`Creating key ${alias.trim()} in ${ref.region}…`, ref, (p, signal) =>
        p.createKey(ref.region, { alias: alias.trim(), description: description.trim() || undefined, signal }),
      );
      // A provider without credentials shows up once it has keys (localKeys: auto): redraw the providers.
      if (!findProvider(ref.provider)?.credentials && settings.localKeys() === 'auto') keys.reset();
      const node = model.getNode(`k:${ref.provider}/${ref.profile}/${ref.region}/${meta.keyId}`);
      if (node) void view.reveal(node, { select: true }).then(undefined, () => undefined);
      vscode.window.setStatusBarMessage(`$(key) Created ${meta.alias ?? meta.keyId} in ${ref.region}`, 5000);
      return meta;
    }),
    reg('kmsEnvelope.copyKeyId', async (arg?: unknown) => copy((await keyArg(arg)).keyId, 'key id')),
    reg('kmsEnvelope.copyKeyArn', async (arg?: unknown) => {
      const k = await keyArg(arg);
      const meta = k.key ?? (await (await keys.getProvider(k.ref)).describeKey(k.ref.region, k.keyId));
      if (!meta.arn)
        throw usageError(
          `Key ${k.name} has no ARN / resource name (${providerLabel(k.ref.provider)} keys are named by id).`,
          'Copy the key id or the keyref instead.',
        );
      return copy(meta.arn, 'ARN');
    }),
    reg('kmsEnvelope.copyKeyRef', async (arg?: unknown) => {
      const k = await keyArg(arg);
      return copy(`${k.ref.provider}:${k.ref.region}:${k.key?.alias ?? k.keyId}`, 'keyref');
    }),
    reg('kmsEnvelope.enableKey', async (arg?: unknown) => {
      const k = await keyArg(arg);
      await act(`Enabling key ${k.name}…`, k.ref, (p, signal) => p.enableKey(k.ref.region, k.keyId, { signal }));
      return true;
    }),
    reg('kmsEnvelope.disableKey', async (arg?: unknown) => {
      const k = await keyArg(arg);
      await act(`Disabling key ${k.name}…`, k.ref, (p, signal) => p.disableKey(k.ref.region, k.keyId, { signal }));
      return true;
    }),
    reg('kmsEnvelope.setAlias', async (arg?: unknown) => {
      const k = await keyArg(arg);
      const alias = await ui.prompts.input({
        title: `Alias of key ${k.keyId}`,
        value: k.key?.alias ?? '',
        prompt: 'New alias (replaces the current one)',
        validateInput: validAlias(k.ref.provider),
      });
      if (alias === undefined) dismissed();
      await act(`Setting alias of ${k.name}…`, k.ref, (p, signal) => p.setAlias(k.ref.region, k.keyId, alias.trim(), { signal }));
      return alias.trim();
    }),
    reg('kmsEnvelope.editDescription', async (arg?: unknown) => {
      const k = await keyArg(arg);
      const description = await ui.prompts.input({
        title: `Description of key ${k.name}`,
        value: k.key?.description ?? '',
        prompt: 'New description',
      });
      if (description === undefined) dismissed();
      await act(`Updating description of ${k.name}…`, k.ref, (p, signal) =>
        p.setDescription(k.ref.region, k.keyId, description, { signal }),
      );
      return description;
    }),
    reg('kmsEnvelope.scheduleDeletion', async (arg?: unknown) => {
      const k = await keyArg(arg);
      const provider = await keys.getProvider(k.ref);
      const w = provider.deletionWindow;
      const daysText = await ui.prompts.input({
        title: `Schedule deletion of key ${k.name}`,
        prompt: `Waiting period in days (${w.min}-${w.max}). The deletion can be cancelled until it ends.`,
        value: String(w.default),
        validateInput: (v) => {
          const n = Number(v.trim());
          return Number.isInteger(n) && n >= w.min && n <= w.max ? undefined : `Enter a whole number of days from ${w.min} to ${w.max}.`;
        },
      });
      if (daysText === undefined) dismissed();
      const days = Number(daysText.trim());
      const named = k.key?.alias ? `"${k.key.alias}" (${k.keyId})` : k.keyId;
      const ok = await ui.prompts.confirm(
        `Schedule deletion of key ${named} in ${providerLabel(k.ref.provider)} ${k.ref.region}?`,
        `After ${days} days the key is deleted for good, and every blob sealed only to this key can never be opened again. Until then you can cancel the deletion.`,
        'Schedule Deletion',
      );
      if (!ok) dismissed();
      const r = await act(`Scheduling deletion of ${k.name}…`, k.ref, (p, signal) =>
        p.scheduleDeletion(k.ref.region, k.keyId, days, { signal }),
      );
      void ui.prompts.offer(
        `Key ${k.name} will be deleted${r.deletionDate ? ` on ${r.deletionDate.slice(0, 10)}` : ` in ${days} days`}. Cancel Deletion restores it.`,
      );
      return r;
    }),
    reg('kmsEnvelope.cancelDeletion', async (arg?: unknown) => {
      const k = await keyArg(arg);
      await act(`Cancelling deletion of ${k.name}…`, k.ref, (p, signal) => p.cancelDeletion(k.ref.region, k.keyId, { signal }));
      return true;
    }),
    reg('kmsEnvelope.setDefaultKey', async (arg?: unknown) => {
      const k = await keyArg(arg);
      if (k.key && k.key.state !== 'Enabled')
        throw new KmsEnvelopeError('usage', `Key ${k.name} is ${k.key.state}; only an enabled key can seal.`, {
          hint: 'Enable it first.',
          details: { provider: k.ref.provider, region: k.ref.region, keyId: k.keyId, providerCode: 'Disabled' },
        });
      const keyref = `${k.ref.provider}:${k.ref.region}:${k.keyId}`;
      await settings.setDefaultKey(keyref, profileOf(k.ref));
      await picker.remember({ provider: k.ref.provider, region: k.ref.region, key: k.keyId, profile: profileOf(k.ref) }, k.name);
      picker.updateStatus();
      model.rerender();
      return keyref;
    }),
    reg('kmsEnvelope.chooseDefaultKey', async () => {
      const current = settings.defaultKey();
      if (current) {
        const c = await ui.prompts.pick(
          [{ label: '$(key) Choose another default key' }, { label: '$(close) Clear the default key', description: current.keyref }],
          { title: 'Default sealing key' },
        );
        if (!c) dismissed();
        if (c.label.startsWith('$(close)')) {
          await settings.setDefaultKey(undefined, undefined);
          picker.updateStatus();
          model.rerender();
          return undefined;
        }
      }
      const t = await picker.pick('Default sealing key');
      await settings.setDefaultKey(`${t.provider}:${t.region}:${t.key}`, t.profile);
      await picker.remember(t);
      picker.updateStatus();
      model.rerender();
      return `${t.provider}:${t.region}:${t.key}`;
    }),
    reg('kmsEnvelope.sealWithKey', async (arg?: unknown) => {
      const k = await keyArg(arg);
      const target: KeyTarget = {
        provider: k.ref.provider,
        region: k.ref.region,
        key: k.keyId,
        label: k.name,
        ...(profileOf(k.ref) ? { profile: k.ref.profile } : {}),
      };
      const editor = vscode.window.activeTextEditor;
      if (editor && editor.selections.some((s) => !s.isEmpty)) return d.sealSelection(target);
      if (editor && editor.document.uri.scheme === 'file' && !editor.document.isUntitled) return d.sealFile(editor.document.uri, target);
      const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: `Seal with ${k.name}` });
      if (!picked?.[0]) dismissed();
      return d.sealFile(picked[0], target);
    }),
  ];
}

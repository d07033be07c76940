/**
 * Key actions: copy id / ARN / keyref, create, enable, disable, alias, description, schedule /
 * cancel deletion, default key, seal with this key. Each action refreshes only the region it
 * touched. Commands take a tree node, or a plain `{provider, profile?, region, keyId}` (what the
 * "Enable Key" error action passes), or nothing (then they ask). One top-level function per
 * command; the table in commands.ts names them.
 */
import * as vscode from 'vscode';
import { KmsEnvelopeError, usageError, type NextStep } from '../core/errors';
import { findProvider, providerLabel } from '../core/kms/registry';
import type { KeyMetadata, KmsProvider, ProviderName } from '../core/kms/types';
import type { KeyTarget } from '../core/services/envelope-service';
import type { RegionRef } from '../core/services/key-service';
import { keyrefOfKey, type TreeNode } from '../core/services/tree-model';
import type { Services } from './ctx';
import { warnIfUsed } from './key-usage';
import { settings } from './settings';
import { dismissed, ui, withCancellableProgress } from './ui';

interface KeyArg {
  ref: RegionRef;
  keyId: string;
  /** Alias or id, for messages. */
  name: string;
  key?: KeyMetadata;
}

/** The key a command is about: a tree node, a plain `{provider, profile?, region, keyId}`, or the user's pick. */
async function keyArg(s: Services, arg: unknown): Promise<KeyArg> {
  const a = arg as Partial<TreeNode> & { provider?: string; profile?: string; region?: string; keyId?: string; key?: KeyMetadata };
  if (a && typeof a === 'object' && a.kind === 'key' && a.key) {
    const ref = { provider: a.provider!, profile: a.profile!, region: a.region! };
    // The region's latest listing wins over the node's copy (a command re-run after Enable Key gets the node it had).
    const key = s.keys.findCachedKey(ref, a.key.keyId) ?? a.key;
    return { ref, keyId: key.keyId, name: key.alias ?? key.keyId, key };
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
    const profile = a.profile ?? (await s.keys.defaultProfile(provider));
    if (!profile) throw usageError(`No ${provider} profile to reach key ${a.keyId}.`, 'Add a profile first.');
    const ref = { provider, profile, region: a.region };
    const key = s.keys.findCachedKey(ref, a.keyId);
    return { ref, keyId: key?.keyId ?? a.keyId, name: key?.alias ?? a.keyId, key };
  }
  // No node: choose a key from the quick pick (every state, so Enable works on disabled keys too).
  const t = await s.picker.pick('Which key?', { anyState: true });
  const profile = t.profile ?? (await s.keys.defaultProfile(t.provider));
  return { ref: { provider: t.provider, profile: profile!, region: t.region }, keyId: t.key, name: t.key };
}

/** A next step about this key, for an error's hint (VS Code words it and offers it as a button). */
const keyStep = (action: 'enableKey' | 'cancelDeletion', k: KeyArg): NextStep => ({
  action,
  key: { provider: k.ref.provider, region: k.ref.region, keyId: k.keyId, profile: k.ref.profile },
});

async function pickLabel<T extends { label: string }>(items: T[], title: string): Promise<T> {
  const choice = await ui.prompts.pick(items, { title });
  if (!choice) dismissed();
  return choice;
}

/** The region a new key goes to: a region node, else the user picks provider, profile and region. */
async function regionArg(s: Services, arg: unknown): Promise<RegionRef> {
  const a = arg as Partial<TreeNode> & { provider?: ProviderName; profile?: string; region?: string };
  if (a && typeof a === 'object' && a.provider && a.profile && a.region)
    return { provider: a.provider, profile: a.profile, region: a.region };
  // A profile / provider node or nothing: ask for the profile and the region.
  const provider =
    a?.provider ??
    (
      await pickLabel(
        (await s.keys.listProviders()).map((p) => ({ label: providerLabel(p), provider: p })),
        'Create Key: provider',
      )
    ).provider;
  let profile = a?.profile;
  if (!profile) {
    const profiles = await s.keys.listProfiles(provider);
    profile =
      profiles.length === 1
        ? profiles[0].name
        : (
            await pickLabel(
              profiles.map((p) => ({ label: p.name, description: p.source })),
              'Create Key: profile',
            )
          ).label;
  }
  const regions = await s.keys.listRegions({ provider, profile });
  if (regions.length === 1) return { provider, profile, region: regions[0] };
  const region = await pickLabel(
    regions.map((r) => ({ label: r })),
    'Create Key: region',
  );
  return { provider, profile, region: region.label };
}

/**
 * Runs a KMS call under cancellable progress, then refreshes just that region; on success says
 * `done` briefly (a note that closes by itself) and writes it to the log, so every action answers.
 */
async function act<T>(
  s: Services,
  title: string,
  ref: RegionRef,
  fn: (p: KmsProvider, signal: AbortSignal) => Promise<T>,
  done?: (out: T) => string,
): Promise<T> {
  const out = await withCancellableProgress(title, async (signal) => fn(await s.keys.getProvider(ref), signal));
  await s.keys.refreshRegion(ref);
  if (done) {
    const message = done(out);
    s.log.info(message);
    ui.prompts.inform(message);
  }
  return out;
}

/** "in Tencent Cloud KMS ap-guangzhou" (local keys: "on this machine"). */
const whereOf = (ref: RegionRef) =>
  findProvider(ref.provider)?.credentials ? `in ${providerLabel(ref.provider)} ${ref.region}` : 'on this machine';

async function copy(text: string, what: string): Promise<string> {
  await vscode.env.clipboard.writeText(text);
  vscode.window.setStatusBarMessage(`$(copy) Copied ${what}`, 3000);
  return text;
}

/** The provider's alias rules (its descriptor), checked as the user types. */
const validAlias = (provider: ProviderName) => (v: string) => {
  const s = v.trim();
  if (!s) return 'Enter an alias.';
  return findProvider(provider)?.aliases.check(s);
};

/** An alias the region's keys (as the tree last loaded them) already use: said while typing, before any call. */
const aliasTaken = (s: Services, ref: RegionRef, alias: string, self?: string) => {
  const bare = alias.replace(/^alias\//, '');
  const other = s.keys.peekRegion(ref)?.keys.find((k) => k.keyId !== self && (k.alias === bare || k.alias === `alias/${bare}`));
  return other ? `The alias ${bare} is already used by key ${other.keyId} in ${ref.region}: pick another.` : undefined;
};

/** A profile to name in a keyref target: only providers with credentials have profiles. */
const profileOf = (ref: { provider: ProviderName; profile: string }) => (findProvider(ref.provider)?.credentials ? ref.profile : undefined);

export async function createKey(s: Services, arg?: unknown): Promise<KeyMetadata> {
  const ref = await regionArg(s, arg);
  const alias = await ui.prompts.input({
    title: `Create key in ${providerLabel(ref.provider)} ${ref.region}`,
    prompt: 'Alias (how the key is shown and named in keyrefs)',
    placeHolder: 'e.g. app-config',
    validateInput: (v) => validAlias(ref.provider)(v) ?? aliasTaken(s, ref, v.trim()),
  });
  if (alias === undefined) dismissed();
  const description = await ui.prompts.input({
    title: `Create key ${alias.trim()}`,
    prompt: 'Description (optional)',
    placeHolder: 'What this key protects',
  });
  if (description === undefined) dismissed();
  const meta = await act(
    s,
    `Creating key ${alias.trim()} in ${ref.region}…`,
    ref,
    (p, signal) => p.createKey(ref.region, { alias: alias.trim(), description: description.trim() || undefined, signal }),
    (m) => `Created key ${m.alias ?? alias.trim()} (${m.keyId}) ${whereOf(ref)}.`,
  );
  // A provider without credentials shows up once it has keys (localKeys: auto): redraw the providers.
  if (!findProvider(ref.provider)?.credentials && settings.localKeys() === 'auto') s.keys.reset();
  const node = s.model.getNode(`k:${ref.provider}/${ref.profile}/${ref.region}/${meta.keyId}`);
  if (node) void s.treeView.reveal(node, { select: true }).then(undefined, () => undefined);
  return meta;
}

export async function copyKeyId(s: Services, arg?: unknown): Promise<string> {
  return copy((await keyArg(s, arg)).keyId, 'key id');
}

export async function copyKeyArn(s: Services, arg?: unknown): Promise<string> {
  const k = await keyArg(s, arg);
  const meta = k.key ?? (await (await s.keys.getProvider(k.ref)).describeKey(k.ref.region, k.keyId));
  if (!meta.arn)
    throw usageError(
      `Key ${k.name} has no ARN / resource name (${providerLabel(k.ref.provider)} keys are named by id).`,
      'Copy the key id or the keyref instead.',
    );
  return copy(meta.arn, 'ARN');
}

export async function copyKeyRef(s: Services, arg?: unknown): Promise<string> {
  const k = await keyArg(s, arg);
  // The keyref the row's tooltip shows (by alias where the key has one).
  return copy(k.key ? keyrefOfKey(k.key) : `${k.ref.provider}:${k.ref.region}:${k.keyId}`, 'keyref');
}

export async function enableKey(s: Services, arg?: unknown): Promise<boolean> {
  const k = await keyArg(s, arg);
  await act(
    s,
    `Enabling key ${k.name}…`,
    k.ref,
    (p, signal) => p.enableKey(k.ref.region, k.keyId, { signal }),
    () => `Enabled key ${k.name} ${whereOf(k.ref)}.`,
  );
  return true;
}

/** Warns when files of the workspace name the key (headers only) and lets the person list them first. */
async function warnUsage(s: Services, k: KeyArg, action: 'Disable' | 'Schedule Deletion'): Promise<void> {
  const meta = k.key ?? s.keys.findCachedKey(k.ref, k.keyId);
  await warnIfUsed(s.usage, { provider: k.ref.provider, region: k.ref.region, keyId: k.keyId, arn: meta?.arn, name: k.name }, action);
}

export async function disableKey(s: Services, arg?: unknown): Promise<boolean> {
  const k = await keyArg(s, arg);
  await warnUsage(s, k, 'Disable');
  await act(
    s,
    `Disabling key ${k.name}…`,
    k.ref,
    (p, signal) => p.disableKey(k.ref.region, k.keyId, { signal }),
    () => `Disabled key ${k.name} ${whereOf(k.ref)}: it no longer seals or unseals until enabled.`,
  );
  return true;
}

export async function setAlias(s: Services, arg?: unknown): Promise<string> {
  const k = await keyArg(s, arg);
  const current = k.key?.alias;
  const alias = await ui.prompts.input({
    title: `Alias of key ${k.keyId}`,
    value: current ?? '',
    prompt: current ? `New alias (replaces ${current})` : 'Alias (how the key is shown and named in keyrefs)',
    validateInput: (v) => validAlias(k.ref.provider)(v) ?? aliasTaken(s, k.ref, v.trim(), k.keyId),
  });
  if (alias === undefined) dismissed();
  const name = alias.trim();
  await act(
    s,
    `Setting alias of ${k.name}…`,
    k.ref,
    (p, signal) => p.setAlias(k.ref.region, k.keyId, name, { signal }),
    // Clouds where a key carries several aliases say which ones the new alias replaced.
    (r) => {
      const was = r?.removed ?? (current && current !== name ? [current] : []);
      return `Key ${k.keyId} ${whereOf(k.ref)} is now named ${name}${was.length ? ` (was ${was.join(', ')})` : ''}.`;
    },
  );
  return name;
}

export async function editDescription(s: Services, arg?: unknown): Promise<string> {
  const k = await keyArg(s, arg);
  const description = await ui.prompts.input({
    title: `Description of key ${k.name}`,
    value: k.key?.description ?? '',
    prompt: 'New description',
  });
  if (description === undefined) dismissed();
  await act(
    s,
    `Updating description of ${k.name}…`,
    k.ref,
    (p, signal) => p.setDescription(k.ref.region, k.keyId, description, { signal }),
    () => `Updated the description of key ${k.name} ${whereOf(k.ref)}.`,
  );
  return description;
}

/**
 * Schedule Key Deletion. Where the provider deletes only disabled keys (Tencent, local) and the key
 * is enabled, it is one confirmed step, "Disable and Schedule Deletion": the dialog says so, then the
 * key is disabled and its deletion scheduled (the tree's menu names the command that way too).
 */
export async function scheduleDeletion(s: Services, arg?: unknown): Promise<unknown> {
  const k = await keyArg(s, arg);
  await warnUsage(s, k, 'Schedule Deletion');
  const provider = await s.keys.getProvider(k.ref);
  const w = provider.deletionWindow;
  const requiresDisabled = !!findProvider(k.ref.provider)?.deletionWindow.requiresDisabled;
  const state = k.key?.state ?? (requiresDisabled ? (await provider.describeKey(k.ref.region, k.keyId)).state : undefined);
  const disableFirst = requiresDisabled && state === 'Enabled';
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
  const where = `${providerLabel(k.ref.provider)} ${k.ref.region}`;
  const ok = await ui.prompts.confirm(
    disableFirst ? `Disable key ${named} in ${where} and schedule its deletion?` : `Schedule deletion of key ${named} in ${where}?`,
    (disableFirst
      ? `${providerLabel(k.ref.provider)} deletes only disabled keys, so the key is disabled first: it stops sealing and unsealing now. `
      : '') +
      `After ${days} days the key is deleted for good, and every blob sealed only to this key can never be opened again. Until then you can cancel the deletion.`,
    disableFirst ? 'Disable and Schedule Deletion' : 'Schedule Deletion',
  );
  if (!ok) dismissed();
  const r = await act(s, `${disableFirst ? 'Disabling and scheduling' : 'Scheduling'} deletion of ${k.name}…`, k.ref, async (p, signal) => {
    if (disableFirst) {
      await p.disableKey(k.ref.region, k.keyId, { signal });
      s.log.info(`Disabled key ${k.name} in ${k.ref.provider} ${k.ref.region} (before scheduling its deletion).`);
    }
    return p.scheduleDeletion(k.ref.region, k.keyId, days, { signal });
  });
  s.log.info(`Scheduled the deletion of key ${k.name} ${whereOf(k.ref)} in ${days} days.`);
  void ui.prompts.offer(
    `Key ${k.name} will be deleted${r.deletionDate ? ` on ${r.deletionDate.slice(0, 10)}` : ` in ${days} days`}. Cancel Deletion restores it.`,
  );
  return r;
}

export async function cancelDeletion(s: Services, arg?: unknown): Promise<boolean> {
  const k = await keyArg(s, arg);
  await act(
    s,
    `Cancelling deletion of ${k.name}…`,
    k.ref,
    (p, signal) => p.cancelDeletion(k.ref.region, k.keyId, { signal }),
    () => `Cancelled the deletion of key ${k.name} ${whereOf(k.ref)}.`,
  );
  return true;
}

/** Sets (or clears) the default sealing key, remembers it as recent, and redraws the status bar and the ★ row. */
async function useAsDefault(s: Services, t: KeyTarget | undefined, label?: string): Promise<void> {
  await settings.setDefaultKey(t && `${t.provider}:${t.region}:${t.key}`, t?.profile);
  if (t) await s.picker.remember(t, label);
  s.picker.updateStatus();
  s.model.rerender();
}

export async function setDefaultKey(s: Services, arg?: unknown): Promise<string> {
  const k = await keyArg(s, arg);
  if (k.key && k.key.state !== 'Enabled')
    throw new KmsEnvelopeError('usage', `Key ${k.name} is ${k.key.state}; only an enabled key can seal.`, {
      hint:
        k.key.state === 'Disabled'
          ? ['Enable it first: ', keyStep('enableKey', k), '.']
          : k.key.state === 'PendingDeletion'
            ? ['Cancel its deletion and enable it first: ', keyStep('cancelDeletion', k), ', ', keyStep('enableKey', k), '.']
            : 'Choose an enabled key.',
      details: { provider: k.ref.provider, region: k.ref.region, keyId: k.keyId },
    });
  const profile = profileOf(k.ref);
  await useAsDefault(s, { provider: k.ref.provider, region: k.ref.region, key: k.keyId, profile }, k.name);
  return `${k.ref.provider}:${k.ref.region}:${k.keyId}`;
}

export async function chooseDefaultKey(s: Services): Promise<string | undefined> {
  const current = settings.defaultKey();
  if (current) {
    const c = await ui.prompts.pick(
      [{ label: '$(key) Choose another default key' }, { label: '$(close) Clear the default key', description: current.keyref }],
      { title: 'Default sealing key' },
    );
    if (!c) dismissed();
    if (c.label.startsWith('$(close)')) {
      await useAsDefault(s, undefined);
      return undefined;
    }
  }
  const t = await s.picker.pick('Default sealing key');
  await useAsDefault(s, t);
  return `${t.provider}:${t.region}:${t.key}`;
}

export async function sealWithKey(s: Services, arg?: unknown): Promise<unknown> {
  const k = await keyArg(s, arg);
  const target: KeyTarget = {
    provider: k.ref.provider,
    region: k.ref.region,
    key: k.keyId,
    label: k.name,
    ...(profileOf(k.ref) ? { profile: k.ref.profile } : {}),
  };
  const editor = vscode.window.activeTextEditor;
  if (editor && editor.selections.some((sel) => !sel.isEmpty)) return s.selections.sealSelection(target);
  if (editor && editor.document.uri.scheme === 'file' && !editor.document.isUntitled) return s.files.sealFile(editor.document.uri, target);
  const picked = await vscode.window.showOpenDialog({ canSelectMany: false, openLabel: `Seal with ${k.name}` });
  if (!picked?.[0]) dismissed();
  return s.files.sealFile(picked[0], target);
}

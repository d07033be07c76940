/**
 * Commands of the Keys view itself (not of one key): refresh, load more, retry a failed row,
 * filter, the regions shown per profile, and showing local keys. One top-level function per
 * command; the table in commands.ts names them.
 */
import * as vscode from 'vscode';
import { usageError } from '../core/errors';
import { localProvider } from '../core/kms/local/descriptor';
import { findProvider, providerLabel } from '../core/kms/registry';
import type { ProviderName } from '../core/kms/types';
import type { TreeNode } from '../core/services/tree-model';
import type { Services } from './ctx';
import { settings } from './settings';
import { VIEW_ID, applyFilter } from './tree';
import { dismissed, ui, withCancellableProgress } from './ui';

const inView = <T>(fn: () => Promise<T>) => vscode.window.withProgress({ location: { viewId: VIEW_ID } }, fn);

export async function refreshNode(s: Services, node?: TreeNode): Promise<void> {
  if (!node) return s.keys.reset();
  if (node.kind === 'provider') return s.keys.invalidateProvider(node.provider);
  if (node.kind === 'profile') return s.keys.invalidateProfile(node);
  if (node.kind === 'region') await inView(() => s.keys.refreshRegion(node));
}

export async function loadMore(s: Services, node?: TreeNode): Promise<number | undefined> {
  if (!node || node.kind !== 'loadMore') throw usageError('Load more applies to a "Load more" row of the Keys view.');
  const ref = { provider: node.provider, profile: node.profile, region: node.region };
  await inView(() => s.keys.loadMore(ref));
  const regionNode = s.model.getNode(`r:${ref.provider}/${ref.profile}/${ref.region}`);
  s.model.rerender();
  return regionNode ? s.keys.peekRegion(ref)?.keys.length : undefined;
}

export async function retry(s: Services, node?: TreeNode): Promise<void> {
  if (!node || node.kind !== 'error') throw usageError('Retry applies to an error row of the Keys view.');
  if (node.region) await inView(() => s.keys.retry({ provider: node.provider, profile: node.profile, region: node.region! }));
  else s.keys.invalidateProfile(node);
}

export async function filterKeys(s: Services): Promise<void> {
  const text = await ui.prompts.input({
    title: 'Filter keys',
    prompt: 'Show keys whose alias or id contains this text (empty: show all)',
    value: s.model.filter,
  });
  if (text === undefined) dismissed();
  await applyFilter(s.treeView, s.model, text);
}

export const clearFilter = (s: Services) => applyFilter(s.treeView, s.model, '');

/** A profile node or region node names its profile; from the palette, the user picks one. */
async function cloudProfileArg(s: Services, node?: TreeNode): Promise<{ provider: ProviderName; profile: string }> {
  if (node && (node.kind === 'profile' || node.kind === 'region')) return { provider: node.provider, profile: node.profile };
  const all = (
    await Promise.all(
      (await s.keys.listProviders())
        .filter((p) => !findProvider(p)?.regions.fixed)
        .map(async (p) =>
          (await s.keys.listProfiles(p)).map((e) => ({
            label: e.name,
            description: providerLabel(p),
            ref: { provider: p, profile: e.name },
          })),
        ),
    )
  ).flat();
  if (!all.length) throw usageError('There is no cloud profile to choose regions for.', 'Add a profile first (KMS Envelope: Add Profile).');
  const c = await ui.prompts.pick(all, { title: 'Choose Regions: which profile?' });
  if (!c) dismissed();
  return c.ref;
}

export async function chooseRegions(s: Services, node?: TreeNode): Promise<string[]> {
  const ref = await cloudProfileArg(s, node);
  const fixed = findProvider(ref.provider)?.regions.fixed;
  if (fixed) throw usageError(`${providerLabel(ref.provider)} have ${fixed.length === 1 ? `one region, "${fixed[0]}"` : 'fixed regions'}.`);
  const all = await withCancellableProgress(`Listing ${providerLabel(ref.provider)} regions…`, () => s.keys.allRegions(ref));
  const current = new Set(settings.regions(ref) ?? (await s.keys.getProfile(ref))?.regions ?? []);
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
  s.keys.invalidateProfile(ref);
  return picked.map((p) => p.label);
}

export async function useLocalKeys(s: Services): Promise<unknown> {
  await settings.setLocalKeys('always');
  s.keys.reset();
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
}

/**
 * The key tree as plain data (no vscode): Provider → Profile → Region → Key, plus the rows a
 * region can end in ("Load more", an error with retry, "No keys"). The extension turns each node
 * into a TreeItem one-to-one (src/extension/tree.ts); everything a row shows is decided here, so
 * it is unit-tested in plain Node.
 *
 * Node objects are interned by id: asking for the same row twice returns the same object with
 * updated fields, because VS Code identifies the elements of a TreeDataProvider by object identity
 * when a change event names them. Ids are stable across refreshes, so expansion survives.
 */
import { findProvider, providerLabel } from '../kms/registry';
import type { KeyMetadata, ProviderName } from '../kms/types';
import { formatKeyRef } from '../keyref';
import { isCancelled, KmsEnvelopeError, type StepWords } from '../errors';
import type { KeyService, KeyServiceChange, ProfileEntry, ProfileRef, RegionRef, RegionState } from './key-service';
import { LOCAL_PROFILE, profileKey, regionKey } from './key-service';

export type Collapsible = 'none' | 'collapsed' | 'expanded';

/** A codicon id and an optional theme color id (`charts.green`, `errorForeground`, ...). */
export interface NodeIcon {
  id: string;
  color?: string;
}

interface NodeBase {
  /** Stable across refreshes. */
  id: string;
  label: string;
  description?: string;
  /** Markdown. */
  tooltip?: string;
  icon?: NodeIcon;
  /** `kms:<kind>+flag+flag`, matched by `viewItem =~ /.../` in package.json menus. */
  contextValue: string;
  collapsible: Collapsible;
  /** Command run on click; its argument is the node itself. */
  command?: { command: string; title: string };
  parentId?: string;
}

export interface ProviderNode extends NodeBase {
  kind: 'provider';
  provider: ProviderName;
}
export interface ProfileNode extends NodeBase {
  kind: 'profile';
  provider: ProviderName;
  profile: string;
  entry: ProfileEntry;
}
export interface RegionNode extends NodeBase {
  kind: 'region';
  provider: ProviderName;
  profile: string;
  region: string;
}
export interface KeyNode extends NodeBase {
  kind: 'key';
  provider: ProviderName;
  profile: string;
  region: string;
  key: KeyMetadata;
  /** `<provider>:<region>:<keyId>`. */
  keyref: string;
}
export interface LoadMoreNode extends NodeBase {
  kind: 'loadMore';
  provider: ProviderName;
  profile: string;
  region: string;
}
export interface ErrorNode extends NodeBase {
  kind: 'error';
  provider: ProviderName;
  profile: string;
  /** Absent when the profile's region list failed. */
  region?: string;
  message: string;
  hint?: string;
}
export interface EmptyNode extends NodeBase {
  kind: 'empty';
}

export type TreeNode = ProviderNode | ProfileNode | RegionNode | KeyNode | LoadMoreNode | ErrorNode | EmptyNode;

/** Commands the model's rows run on click (declared in package.json). */
export const TREE_COMMANDS = {
  loadMore: 'kmsEnvelope.loadMore',
  retry: 'kmsEnvelope.retry',
} as const;

export interface TreeModelOptions {
  /** The default sealing key (a keyref, maybe with an alias instead of an id), to mark its row. */
  defaultKey?: () => { keyref: string; profile?: string } | undefined;
  /** What uses a key in the workspace, shown on its row ("used by 3 files, 12 values"); '' or undefined: nothing. */
  usage?: (k: { provider: string; region: string; keyId: string; arn?: string }) => string | undefined;
  /** Regions up to this many are shown expanded (and load in parallel) when the user chose them. */
  expandRegionsUpTo?: number;
  /** How error rows word their next steps (the front door's words; plain words by default). */
  stepWords?: StepWords;
  /** The locale dates in tooltips are written for (the front door's display language; the runtime's by default). */
  locale?: string;
}

const STATE_ICONS: Record<string, NodeIcon> = {
  Enabled: { id: 'key', color: 'charts.green' },
  Disabled: { id: 'circle-slash', color: 'disabledForeground' },
  PendingDeletion: { id: 'trash', color: 'errorForeground' },
  PendingImport: { id: 'cloud-upload', color: 'charts.yellow' },
  Archived: { id: 'archive', color: 'disabledForeground' },
  Unknown: { id: 'question' },
};

const STATE_FLAGS: Record<string, string> = {
  Enabled: 'enabled',
  Disabled: 'disabled',
  PendingDeletion: 'pendingDeletion',
  PendingImport: 'pendingImport',
  Archived: 'archived',
  Unknown: 'unknown',
};

/** Keys of a region are listed in this order of state (enabled first, as both clouds do then), then by name. */
const STATE_ORDER: Record<string, number> = { Enabled: 0, Disabled: 1, PendingImport: 2, PendingDeletion: 3, Archived: 4, Unknown: 5 };

export function compareKeys(a: KeyMetadata, b: KeyMetadata): number {
  const sa = STATE_ORDER[a.state] ?? 9;
  const sb = STATE_ORDER[b.state] ?? 9;
  if (sa !== sb) return sa - sb;
  const na = a.alias ?? a.keyId;
  const nb = b.alias ?? b.keyId;
  return na.localeCompare(nb, undefined, { sensitivity: 'base', numeric: true }) || a.keyId.localeCompare(b.keyId);
}

const STATE_LABELS: Record<string, string> = {
  Enabled: 'Enabled',
  Disabled: 'Disabled',
  PendingDeletion: 'Pending deletion',
  PendingImport: 'Pending import',
  Archived: 'Archived',
  Unknown: 'Unknown',
};

/** Escapes text for Markdown tooltips. */
export function mdEscape(s: string): string {
  return s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}

function shorten(s: string, max: number): string {
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? one.slice(0, max - 1) + '…' : one;
}

/** An ISO date as a person reads it, in local time with the zone named ("2 Dec 2026, 17:24 UTC"); unreadable text as given. */
export function localDate(iso: string | undefined, locale?: string): string | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const style: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' };
  try {
    return new Intl.DateTimeFormat(locale, { ...style, timeZoneName: 'short' }).format(t);
  } catch {
    return new Intl.DateTimeFormat(undefined, { ...style, timeZoneName: 'short' }).format(t); // an unknown locale
  }
}

/**
 * An error's reason as a row under its region shows it: the provider and region the row sits under
 * are dropped, and the API action goes after the reason ("Could not reach … (ECONNREFUSED)" instead
 * of "Tencent Cloud KMS ListKeyDetail in region ap-guangzhou: could not reach …").
 */
export function reasonFirst(message: string, provider: ProviderName, region?: string): { reason: string; action?: string } {
  let s = message.replace(/\s+/g, ' ').trim();
  const label = providerLabel(provider);
  if (s.startsWith(label + ': ')) s = s.slice(label.length + 2);
  else if (s.startsWith(label + ' ')) {
    const rest = s.slice(label.length + 1);
    // "<Action> in region r: …" / "<Action> failed in region r …": the action is context, not the reason.
    if (/^[A-Z][A-Za-z]+ (failed )?in /.test(rest)) s = rest;
  }
  if (region) s = s.split(` in region ${region}`).join('').split(` in ${region}:`).join(':');
  let action: string | undefined;
  const m = /^([A-Z][A-Za-z]+)( failed)?(?: (\([^)]*\)))?: (.+)$/.exec(s);
  if (m) {
    action = m[1] + (m[3] ? ` ${m[3]}` : '');
    s = m[4];
  }
  return { reason: s.charAt(0).toUpperCase() + s.slice(1), action };
}

function endpointHost(endpoint: string | undefined): string | undefined {
  if (!endpoint) return undefined;
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
}

/**
 * The one region of a provider without credentials and with one fixed region (local keys): its keys
 * are shown right under the provider row, with no "This machine" and "local" rows in between.
 */
export function flatRegion(provider: ProviderName): RegionRef | undefined {
  const d = findProvider(provider);
  const fixed = d?.regions.fixed;
  return d && !d.credentials && fixed?.length === 1 ? { provider, profile: LOCAL_PROFILE, region: fixed[0] } : undefined;
}

export function keyMatches(k: KeyMetadata, filter: string): boolean {
  if (!filter) return true;
  const f = filter.toLowerCase();
  return k.keyId.toLowerCase().includes(f) || (k.alias ?? '').toLowerCase().includes(f);
}

/** Whether a keyref (id or alias) names this key in this region. */
export function keyrefMatches(keyref: string, provider: ProviderName, region: string, k: KeyMetadata): boolean {
  const a = keyref.indexOf(':');
  const b = keyref.indexOf(':', a + 1);
  if (a < 0 || b < 0) return false;
  if (keyref.slice(0, a) !== provider || keyref.slice(a + 1, b) !== region) return false;
  const key = keyref.slice(b + 1);
  return key === k.keyId || key === k.alias || key === `alias/${k.alias}` || (!!k.arn && key === k.arn);
}

/** The keyref a key row copies and its tooltip shows: by alias where the key has one (both clouds resolve it), else by id. */
export function keyrefOfKey(k: KeyMetadata): string {
  return formatKeyRef({ provider: k.provider, region: k.region, key: k.alias ?? k.keyId });
}

export function keyTooltip(k: KeyMetadata, profile: string, locale?: string): string {
  const rows: Array<[string, string | undefined]> = [
    ['Key id', '`' + k.keyId + '`'],
    ['Alias', k.alias ? mdEscape(k.alias) : '—'],
    ['State', STATE_LABELS[k.state] ?? k.state],
    ['Description', k.description ? mdEscape(shorten(k.description, 200)) : '—'],
    ['Provider', `${providerLabel(k.provider)} (profile ${mdEscape(profile)})`],
    ['Region', mdEscape(k.region)],
    ['KMS instance', k.instanceId ? '`' + k.instanceId + '`' : undefined],
    ['ARN', k.arn ? '`' + k.arn + '`' : undefined],
    ['Created', localDate(k.createdAt, locale)],
    ['Deletion date', localDate(k.deletionDate, locale)],
    ['Usage', k.keyUsage],
    ['Spec', k.keySpec],
    ['Origin', k.origin],
    ['Rotation', k.rotationEnabled === undefined ? undefined : k.rotationEnabled ? 'on' : 'off'],
    ['Keyref', '`' + keyrefOfKey(k) + '`'],
  ];
  const title = `**${mdEscape(k.alias ?? k.keyId)}**`;
  return [title, '', '| | |', '|---|---|', ...rows.filter(([, v]) => v !== undefined).map(([n, v]) => `| ${n} | ${v} |`)].join('\n');
}

export class TreeModel {
  private readonly nodes = new Map<string, TreeNode>();
  private readonly listeners = new Set<(node?: TreeNode) => void>();
  private filterText = '';
  private readonly sub: { dispose(): void };

  /** An error's next step in the front door's words. */
  private hintOf(err: unknown): string | undefined {
    if (err instanceof KmsEnvelopeError) return this.opts.stepWords ? err.hintIn(this.opts.stepWords) : err.hint;
    return (err as { hint?: string })?.hint;
  }

  constructor(
    private readonly keys: KeyService,
    private readonly opts: TreeModelOptions = {},
  ) {
    this.sub = keys.onDidChange((e) => this.onServiceChange(e));
  }

  dispose(): void {
    this.sub.dispose();
    this.listeners.clear();
  }

  onDidChange(listener: (node?: TreeNode) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private fire(node?: TreeNode): void {
    for (const l of [...this.listeners]) l(node);
  }

  private onServiceChange(e: KeyServiceChange): void {
    // A provider shown flat (its keys right under its row) has no profile or region row: redraw the provider's.
    if ((e.scope === 'region' || e.scope === 'profile') && flatRegion(e.ref.provider))
      return this.fire(this.nodes.get(`p:${e.ref.provider}`));
    if (e.scope === 'region') return this.fire(this.nodes.get(`r:${regionKey(e.ref)}`));
    if (e.scope === 'profile') return this.fire(this.nodes.get(`pf:${profileKey(e.ref)}`));
    if (e.scope === 'provider') return this.fire(this.nodes.get(`p:${e.provider}`));
    this.fire(undefined);
  }

  get filter(): string {
    return this.filterText;
  }

  setFilter(text: string): void {
    this.filterText = text.trim();
    this.fire(undefined);
  }

  /** Re-renders every row (default key changed, settings changed) without dropping caches. */
  rerender(): void {
    this.fire(undefined);
  }

  /** Brings a region row's description, icon and flags up to date with its cache (called when VS Code renders it). */
  update(node: TreeNode): TreeNode {
    if (node.kind === 'region') {
      const st = this.keys.peekRegion(node);
      node.description = this.regionDescription(st);
      node.icon = st?.error ? { id: 'warning', color: 'list.warningForeground' } : { id: 'globe' };
      node.contextValue = `kms:region+${node.provider}${st?.error ? '+error' : ''}`;
    }
    const flat = node.kind === 'provider' ? flatRegion(node.provider) : undefined;
    if (node.kind === 'provider' && flat) {
      const st = this.keys.peekRegion(flat);
      node.description = this.regionDescription(st);
      node.icon = st?.error
        ? { id: 'warning', color: 'list.warningForeground' }
        : { id: findProvider(node.provider)?.tree?.icon ?? 'cloud' };
      node.contextValue = `kms:provider+${node.provider}+keys${st?.error ? '+error' : ''}`;
    }
    return node;
  }

  getNode(id: string): TreeNode | undefined {
    return this.nodes.get(id);
  }

  getParent(node: TreeNode): TreeNode | undefined {
    return node.parentId ? this.nodes.get(node.parentId) : undefined;
  }

  private intern<T extends TreeNode>(node: T): T {
    const old = this.nodes.get(node.id) as T | undefined;
    if (!old) {
      this.nodes.set(node.id, node);
      return node;
    }
    for (const k of Object.keys(old)) if (!(k in node)) delete (old as unknown as Record<string, unknown>)[k];
    Object.assign(old, node);
    return old;
  }

  async getChildren(parent?: TreeNode): Promise<TreeNode[]> {
    if (!parent) return this.roots();
    switch (parent.kind) {
      case 'provider': {
        const flat = flatRegion(parent.provider);
        return flat ? this.keysOf(parent, flat) : this.profiles(parent);
      }
      case 'profile':
        return this.regionsOf(parent);
      case 'region':
        return this.keysOf(parent, { provider: parent.provider, profile: parent.profile, region: parent.region });
      default:
        return [];
    }
  }

  private async roots(): Promise<TreeNode[]> {
    const providers = await this.keys.listProviders();
    return providers.map((p) => {
      const d = findProvider(p);
      const flat = flatRegion(p);
      return this.update(
        this.intern<ProviderNode>({
          kind: 'provider',
          id: `p:${p}`,
          provider: p,
          label: providerLabel(p),
          icon: { id: d?.tree?.icon ?? 'cloud' },
          // `+profiles`: profiles can be added here; `+keys`: its keys are right below it, so keys are created here
          // (menus match the flags, never a provider name).
          contextValue: `kms:provider+${p}${d?.credentials ? '+profiles' : ''}${flat ? '+keys' : ''}`,
          collapsible: 'expanded',
          tooltip: d?.tree?.tooltip ?? `${providerLabel(p)} profiles`,
        }),
      ) as ProviderNode;
    });
  }

  private async profiles(parent: ProviderNode): Promise<TreeNode[]> {
    const list = await this.keys.listProfiles(parent.provider);
    const d = findProvider(parent.provider);
    return list.map((e) => {
      const host = endpointHost(e.endpoint);
      const sourceLabel = e.source === 'keychain' || e.source === 'local' ? '' : e.source === 'env' ? 'environment' : e.source;
      const description = [sourceLabel, host].filter(Boolean).join(' · ');
      const tooltip = [
        `**${mdEscape(providerLabel(e.provider))}: ${mdEscape(e.name)}**`,
        '',
        !d?.credentials
          ? `${mdEscape(providerLabel(e.provider))} on this machine.`
          : `Source: ${e.source === 'keychain' ? 'stored profile (secret in the OS keychain)' : mdEscape(e.source)}`,
        e.kind ? `\n\nKind: ${e.kind === 'sts' ? 'temporary (STS)' : 'long-term key'}` : '',
        e.keyIdHint ? `\n\nKey id: \`${e.keyIdHint}\`` : '',
        e.endpoint ? `\n\nEndpoint: \`${e.endpoint}\`` : '',
        e.regions?.length ? `\n\nDefault regions: ${e.regions.map(mdEscape).join(', ')}` : '',
        e.expiration ? `\n\nExpires: ${localDate(e.expiration, this.opts.locale)}` : '',
      ].join('');
      return this.intern<ProfileNode>({
        kind: 'profile',
        id: `pf:${e.provider}/${e.name}`,
        parentId: parent.id,
        provider: e.provider,
        profile: e.name,
        entry: e,
        label: (!d?.credentials && d?.tree?.profileLabel) || e.name,
        description: description || undefined,
        icon: { id: d?.tree?.profileIcon ?? 'account' },
        // `+credentials`: a profile with a secret (Test / Rotate / Remove match the flag, never a provider name).
        contextValue: `kms:profile+${e.provider}+${e.source}${d?.credentials ? '+credentials' : ''}`,
        collapsible: 'expanded',
        tooltip,
      });
    });
  }

  private async regionsOf(parent: ProfileNode): Promise<TreeNode[]> {
    const ref: ProfileRef = { provider: parent.provider, profile: parent.profile };
    let regions: string[];
    try {
      regions = await this.keys.listRegions(ref);
    } catch (err) {
      if (isCancelled(err)) return [];
      const e = { message: (err as Error)?.message, hint: this.hintOf(err) };
      const why = reasonFirst(e.message ?? String(err), ref.provider);
      return [
        this.intern<ErrorNode>({
          kind: 'error',
          id: `e:${profileKey(ref)}`,
          parentId: parent.id,
          provider: ref.provider,
          profile: ref.profile,
          message: e.message ?? String(err),
          hint: e.hint,
          label: shorten(why.reason, 120),
          description: ['no region list', why.action, 'click to retry'].filter(Boolean).join(' · '),
          icon: { id: 'error', color: 'errorForeground' },
          contextValue: 'kms:error+regions',
          collapsible: 'none',
          command: { command: TREE_COMMANDS.retry, title: 'Retry' },
          tooltip: [mdEscape(e.message ?? String(err)), e.hint ? `\n\n${mdEscape(e.hint)}` : ''].join(''),
        }),
      ];
    }
    const chosen = await this.keys.hasRegionChoice(ref);
    const expand = chosen && regions.length <= (this.opts.expandRegionsUpTo ?? 8);
    if (expand) {
      // Load every shown region at once; the tree's own getChildren calls then share these loads.
      for (const region of regions) void this.keys.ensureLoaded({ ...ref, region }).catch(() => undefined);
    }
    return regions.map((region) => this.regionNode(parent, region, expand));
  }

  private regionNode(parent: ProfileNode, region: string, expand: boolean): RegionNode {
    const ref: RegionRef = { provider: parent.provider, profile: parent.profile, region };
    const st = this.keys.peekRegion(ref);
    return this.intern<RegionNode>({
      kind: 'region',
      id: `r:${regionKey(ref)}`,
      parentId: parent.id,
      ...ref,
      label: region,
      description: this.regionDescription(st),
      icon: st?.error ? { id: 'warning', color: 'list.warningForeground' } : { id: 'globe' },
      contextValue: `kms:region+${ref.provider}${st?.error ? '+error' : ''}`,
      collapsible: expand ? 'expanded' : 'collapsed',
      tooltip: `**${mdEscape(region)}** — ${mdEscape(providerLabel(ref.provider))}, profile ${mdEscape(ref.profile)}`,
    });
  }

  private regionDescription(st: RegionState | undefined): string | undefined {
    if (!st) return undefined;
    if (!st.loaded) return 'loading…';
    if (st.error && st.keys.length === 0) return 'failed';
    const n = st.keys.length;
    const total = st.total !== undefined && st.total > n ? ` of ${st.total}` : st.nextToken ? '+' : '';
    const base = `${n}${total} key${n === 1 && !total ? '' : 's'}`;
    if (this.filterText) return `${st.keys.filter((k) => keyMatches(k, this.filterText)).length} match · ${base}`;
    return base;
  }

  /** The rows under a region: its keys (enabled first, then by name), then an error, "No keys" or "Load more" row. */
  private async keysOf(parent: RegionNode | ProviderNode, ref: RegionRef): Promise<TreeNode[]> {
    let st: RegionState;
    try {
      st = await this.keys.ensureLoaded(ref);
    } catch (err) {
      if (isCancelled(err)) return [];
      throw err;
    }
    if (this.regionDescription(st) !== parent.description || (!!st.error && parent.icon?.id !== 'warning')) {
      // The region row was drawn before its keys arrived (count, failure): draw it again.
      setTimeout(() => this.fire(parent), 0);
    }
    const out: TreeNode[] = [];
    const def = this.opts.defaultKey?.();
    const shown = st.keys.filter((k) => keyMatches(k, this.filterText)).sort(compareKeys);
    for (const k of shown) out.push(this.keyNode(parent, ref, k, def));
    if (st.error) {
      const why = reasonFirst(st.error.message, ref.provider, ref.region);
      const usage = st.error.kind === 'usage';
      out.push(
        this.intern<ErrorNode>({
          kind: 'error',
          id: `e:${regionKey(ref)}`,
          parentId: parent.id,
          ...ref,
          message: st.error.message,
          hint: this.hintOf(st.error),
          label: shorten(why.reason, 120),
          // A usage error (an instance-only profile cannot list keys) says what to change; a retry would not help.
          description: [why.action, usage ? undefined : 'click to retry'].filter(Boolean).join(' · ') || undefined,
          icon: usage ? { id: 'info' } : { id: 'error', color: 'errorForeground' },
          contextValue: 'kms:error+region',
          collapsible: 'none',
          command: { command: TREE_COMMANDS.retry, title: 'Retry' },
          tooltip: [
            mdEscape(st.error.message),
            this.hintOf(st.error) ? `\n\n${mdEscape(this.hintOf(st.error)!)}` : '',
            st.error.details.providerCode ? `\n\nCode: \`${st.error.details.providerCode}\`` : '',
          ].join(''),
        }),
      );
    } else if (shown.length === 0) {
      out.push(
        this.intern<EmptyNode>({
          kind: 'empty',
          id: `x:${regionKey(ref)}`,
          parentId: parent.id,
          label: this.filterText && st.keys.length ? `No keys match "${this.filterText}"` : 'No keys',
          description: this.filterText && st.keys.length ? `${st.keys.length} hidden by the filter` : undefined,
          icon: { id: 'circle-outline', color: 'disabledForeground' },
          contextValue: 'kms:empty',
          collapsible: 'none',
        }),
      );
    }
    if (st.nextToken && !st.error) {
      out.push(
        this.intern<LoadMoreNode>({
          kind: 'loadMore',
          id: `m:${regionKey(ref)}`,
          parentId: parent.id,
          ...ref,
          label: 'Load more…',
          description: st.total !== undefined ? `${st.keys.length} of ${st.total} loaded` : `${st.keys.length} loaded`,
          icon: { id: 'more' },
          contextValue: 'kms:loadMore',
          collapsible: 'none',
          command: { command: TREE_COMMANDS.loadMore, title: 'Load more' },
        }),
      );
    }
    return out;
  }

  private keyNode(
    parent: RegionNode | ProviderNode,
    ref: RegionRef,
    k: KeyMetadata,
    def: { keyref: string; profile?: string } | undefined,
  ): KeyNode {
    const isDefault = !!def && (!def.profile || def.profile === ref.profile) && keyrefMatches(def.keyref, ref.provider, ref.region, k);
    const flags = [STATE_FLAGS[k.state] ?? 'unknown', ref.provider];
    if (isDefault) flags.push('default');
    if (k.alias) flags.push('alias');
    if (k.arn) flags.push('arn');
    // The provider deletes only disabled keys: the menu offers "Disable and Schedule Deletion…" instead.
    if (k.state === 'Enabled' && findProvider(ref.provider)?.deletionWindow.requiresDisabled) flags.push('disableFirst');
    const desc: string[] = [];
    if (isDefault) desc.push('★ default');
    if (k.state !== 'Enabled') desc.push(STATE_LABELS[k.state]?.toLowerCase() ?? k.state);
    const used = this.opts.usage?.({ provider: ref.provider, region: ref.region, keyId: k.keyId, arn: k.arn });
    if (used) desc.push(used);
    if (k.instanceId) desc.push(k.instanceId);
    if (k.description) desc.push(shorten(k.description, 40));
    else if (k.alias) desc.push(shorten(k.keyId, 24));
    return this.intern<KeyNode>({
      kind: 'key',
      id: `k:${regionKey(ref)}/${k.keyId}`,
      parentId: parent.id,
      ...ref,
      key: k,
      keyref: keyrefOfKey(k),
      label: k.alias ?? k.keyId,
      description: desc.join(' · ') || undefined,
      icon: STATE_ICONS[k.state] ?? STATE_ICONS.Unknown,
      contextValue: `kms:key+${flags.join('+')}`,
      collapsible: 'none',
      tooltip: keyTooltip(k, ref.profile, this.opts.locale),
    });
  }
}

/**
 * Choosing a key to seal with: the default sealing key (kmsEnvelope.defaultKey), else a quick pick
 * of the enabled keys across every profile and region the tree shows, recently used keys first.
 * Recent keys live in globalState as keyref + profile + label (never a secret). The status bar item
 * shows the default key; clicking it chooses another.
 */
import * as vscode from 'vscode';
import { findProvider, providerLabel } from '../core/kms/registry';
import type { KeyService } from '../core/services/key-service';
import { keyrefOf, targetFromKeyref, targetLabel, targetName, type KeyTarget } from '../core/services/envelope-service';
import { settings } from './settings';
import { dismissed, ui } from './ui';

const RECENT_KEY = 'kmsEnvelope.recentKeys';
const MAX_RECENT = 8;

/** Keys not to offer (e.g. a file's recipients already), by provider, region and key id / ARN. */
export type KeyExclude = (provider: string, region: string, keyId: string, arn?: string) => boolean;

interface RecentKey {
  keyref: string;
  profile?: string;
  label: string;
}

interface KeyItem extends vscode.QuickPickItem {
  target?: KeyTarget;
}

export class KeyPicker implements vscode.Disposable {
  private readonly status: vscode.StatusBarItem;
  private readonly subs: Array<{ dispose(): void }>;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly keys: KeyService,
  ) {
    this.status = vscode.window.createStatusBarItem('kmsEnvelope.defaultKey', vscode.StatusBarAlignment.Right, 100);
    this.status.name = 'KMS Envelope: default sealing key';
    this.status.command = 'kmsEnvelope.chooseDefaultKey';
    this.updateStatus();
    this.status.show();
    // A listing that arrives may name the default key (its alias): draw the item again.
    this.subs = [keys.onDidChange(() => this.updateStatus()), keys.onDidLoadRegion(() => this.updateStatus())];
  }

  dispose(): void {
    for (const s of this.subs) s.dispose();
    this.status.dispose();
  }

  get statusText(): string {
    return this.status.text;
  }

  get statusTooltip(): string {
    return typeof this.status.tooltip === 'string' ? this.status.tooltip : (this.status.tooltip?.value ?? '');
  }

  /**
   * The target with its alias as label where one is known (a loaded listing, else the recent keys),
   * so progress and messages name the key as the tree does.
   */
  named(t: KeyTarget): KeyTarget {
    if (t.label && t.label !== t.key) return t;
    const keyref = keyrefOf(t);
    const alias =
      this.keys.aliasOf(t.provider, t.region, t.key) ??
      this.recent().find((r) => r.keyref === keyref && r.label && r.label !== t.key)?.label;
    return alias ? { ...t, label: alias } : t;
  }

  updateStatus(): void {
    const def = settings.defaultKey();
    if (def) {
      let shown = def.keyref;
      let where = '';
      try {
        const t = this.named(targetFromKeyref(def.keyref, def.profile));
        const name = t.label ?? t.key;
        shown = name.length > 24 ? name.slice(0, 23) + '…' : name;
        where = ` — ${targetName(t)}`;
      } catch {
        /* shown as written */
      }
      this.status.text = `$(key) ${shown}`;
      this.status.tooltip = `Default sealing key${where}\nKeyref: ${def.keyref}${def.profile ? ` (profile ${def.profile})` : ''}\nClick to choose another.`;
    } else {
      this.status.text = '$(key) No default key';
      this.status.tooltip = 'KMS Envelope: no default sealing key. Click to choose one.';
    }
  }

  recent(): RecentKey[] {
    return this.context.globalState.get<RecentKey[]>(RECENT_KEY) ?? [];
  }

  async remember(t: KeyTarget, label?: string): Promise<void> {
    const keyref = keyrefOf(t);
    const rest = this.recent().filter((r) => !(r.keyref === keyref && (r.profile ?? '') === (t.profile ?? '')));
    const entry: RecentKey = {
      keyref,
      label: label ?? t.label ?? this.recent().find((r) => r.keyref === keyref)?.label ?? t.key,
      ...(t.profile ? { profile: t.profile } : {}),
    };
    await this.context.globalState.update(RECENT_KEY, [entry, ...rest].slice(0, MAX_RECENT));
  }

  /** The default key as a target, if set. */
  defaultTarget(): KeyTarget | undefined {
    const def = settings.defaultKey();
    return def ? targetFromKeyref(def.keyref, def.profile) : undefined;
  }

  /** Where a key is, as the picker's rows say it: "Tencent Cloud KMS · ap-guangzhou · emu". */
  private whereOf(t: KeyTarget): string {
    const hasProfiles = !!findProvider(t.provider)?.credentials;
    return `${providerLabel(t.provider)} · ${t.region}${hasProfiles && t.profile ? ` · ${t.profile}` : ''}`;
  }

  /** Keys across every provider, profile and region shown in the tree (first page of each region); enabled ones unless `anyState`. */
  private async allKeyItems(anyState = false, exclude?: KeyExclude): Promise<KeyItem[]> {
    const items: KeyItem[] = [];
    const jobs: Promise<void>[] = [];
    for (const provider of await this.keys.listProviders()) {
      const hasProfiles = !!findProvider(provider)?.credentials;
      for (const p of await this.keys.listProfiles(provider)) {
        const ref = { provider, profile: p.name };
        jobs.push(
          (async () => {
            let regions: string[];
            try {
              regions = await this.keys.listRegions(ref);
            } catch {
              return;
            }
            await Promise.all(
              regions.map(async (region) => {
                const st = await this.keys.ensureLoaded({ ...ref, region }).catch(() => undefined);
                for (const k of st?.keys ?? []) {
                  if (k.state !== 'Enabled' && !anyState) continue;
                  if (exclude?.(provider, region, k.keyId, k.arn)) continue;
                  items.push({
                    label: `$(key) ${k.alias ?? k.keyId}`,
                    description: `${this.whereOf({ provider, region, key: k.keyId, profile: p.name })}${k.state === 'Enabled' ? '' : ` · ${k.state}`}`,
                    detail: k.description || (k.alias ? k.keyId : undefined),
                    target: {
                      provider,
                      region,
                      key: k.keyId,
                      label: k.alias ?? k.keyId,
                      ...(hasProfiles ? { profile: p.name } : {}),
                    },
                  });
                }
              }),
            );
          })(),
        );
      }
    }
    await Promise.all(jobs);
    return items.sort((a, b) => (a.description ?? '').localeCompare(b.description ?? '') || a.label.localeCompare(b.label));
  }

  /** Asks for a key (recent keys first). Throws CancelledError when dismissed. */
  async pick(title: string, opts: { anyState?: boolean; exclude?: KeyExclude } = {}): Promise<KeyTarget> {
    const items = (async (): Promise<KeyItem[]> => {
      const all = await this.allKeyItems(opts.anyState, opts.exclude);
      // Recent keys as the listings know them now: not offered when disabled (or excluded), each once.
      const same = (t: KeyTarget) => {
        const k = this.keys.knownKey(t.provider, t.region, t.key);
        return `${t.provider}:${t.region}:${k?.keyId ?? t.key}|${t.profile ?? ''}`;
      };
      const seen = new Set<string>();
      const recentItems: KeyItem[] = [];
      for (const r of opts.anyState ? [] : this.recent()) {
        const t = this.named({ ...targetFromKeyref(r.keyref, r.profile), label: r.label });
        const known = this.keys.knownKey(t.provider, t.region, t.key);
        if ((known && known.state !== 'Enabled') || opts.exclude?.(t.provider, t.region, known?.keyId ?? t.key, known?.arn)) continue;
        if (seen.has(same(t))) continue;
        seen.add(same(t));
        recentItems.push({ label: `$(history) ${t.label ?? t.key}`, description: this.whereOf(t), target: t });
      }
      const rest = all.filter((i) => !seen.has(same(i.target!)));
      const out: KeyItem[] = [];
      if (recentItems.length) out.push({ label: 'recently used', kind: vscode.QuickPickItemKind.Separator }, ...recentItems);
      if (rest.length) out.push({ label: 'all keys', kind: vscode.QuickPickItemKind.Separator }, ...rest);
      if (!out.length)
        out.push({
          label: `$(add) No ${opts.exclude ? 'other ' : ''}enabled key found — create one in the KMS Envelope view`,
          alwaysShow: true,
        });
      return out;
    })();
    const picked = await ui.prompts.pick(items, {
      title,
      placeHolder: 'Key to seal with (type to filter by alias, id, region)',
      matchOnDescription: true,
      matchOnDetail: true,
    });
    if (!picked?.target) dismissed();
    return picked.target;
  }

  /** The key to seal with: explicit, else the default key, else a quick pick. Remembers it as recent. */
  async resolve(explicit: KeyTarget | undefined, title: string): Promise<KeyTarget> {
    const t = this.named(explicit ?? (await this.checkedDefault()) ?? (await this.pick(title)));
    await this.remember(t);
    return t;
  }

  /**
   * The default key, checked against what the tree already knows before any KMS call: a key the
   * view shows disabled asks first (Enable and Seal / Pick Another Key), one pending deletion or in
   * another state offers another key. Undefined: pick one.
   */
  private async checkedDefault(): Promise<KeyTarget | undefined> {
    const t = this.defaultTarget();
    if (!t) return undefined;
    const profile = t.profile ?? (await this.keys.defaultProfile(t.provider));
    const known = profile ? this.keys.findCachedKey({ provider: t.provider, profile, region: t.region }, t.key) : undefined;
    if (!known || known.state === 'Enabled') return t;
    const name = known.alias ?? known.keyId;
    const state = known.state === 'Disabled' ? 'disabled' : known.state === 'PendingDeletion' ? 'pending deletion' : known.state;
    const enable = known.state === 'Disabled' ? ['Enable and Seal'] : [];
    const choice = await ui.prompts.choose(
      `The default sealing key ${name} (${providerLabel(t.provider)} ${t.region}) is ${state}.`,
      enable.length ? 'Enable it and seal with it, or pick another key for this seal.' : 'Pick another key for this seal.',
      ...enable,
      'Pick Another Key',
    );
    if (choice === 'Pick Another Key') return undefined;
    if (choice !== 'Enable and Seal') dismissed();
    const enabled = await vscode.commands.executeCommand('kmsEnvelope.enableKey', {
      provider: t.provider,
      profile,
      region: t.region,
      keyId: known.keyId,
    });
    if (!enabled) dismissed(); // its error was shown by the command
    return t;
  }

  describe(t: KeyTarget): string {
    return targetLabel(t);
  }
}

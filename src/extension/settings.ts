/** Typed access to the `kmsEnvelope.*` settings (declared with descriptions in package.json). */
import * as vscode from 'vscode';
import type { EncryptionContext } from '../core/kms/types';
import type { ProfileRef } from '../core/services/key-service';

export const SECTION = 'kmsEnvelope';

const cfg = () => vscode.workspace.getConfiguration(SECTION);

/** kmsEnvelope.sealedFiles.autoSaveDelayMs: default and the range it is clamped to (ms). */
export const AUTO_SAVE_RANGE_MS = { default: 300, min: 50, max: 750 } as const;

export const settings = {
  /** `kmsEnvelope.defaultKey`: keyref of the default sealing key, and the profile that reaches it. */
  defaultKey(): { keyref: string; profile?: string } | undefined {
    const keyref = cfg().get<string>('defaultKey')?.trim();
    if (!keyref) return undefined;
    const profile = cfg().get<string>('defaultKeyProfile')?.trim();
    return { keyref, ...(profile ? { profile } : {}) };
  },
  async setDefaultKey(keyref: string | undefined, profile: string | undefined): Promise<void> {
    await cfg().update('defaultKey', keyref, vscode.ConfigurationTarget.Global);
    await cfg().update('defaultKeyProfile', profile, vscode.ConfigurationTarget.Global);
  },
  /** `kmsEnvelope.regions`: { "<provider>/<profile>": ["region", ...] }. */
  regions(ref: ProfileRef): string[] | undefined {
    const map = cfg().get<Record<string, unknown>>('regions') ?? {};
    const v = map[`${ref.provider}/${ref.profile}`];
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.trim() !== '') : undefined;
  },
  async setRegions(ref: ProfileRef, regions: string[] | undefined): Promise<void> {
    const map = { ...(cfg().get<Record<string, unknown>>('regions') ?? {}) };
    if (regions?.length) map[`${ref.provider}/${ref.profile}`] = regions;
    else delete map[`${ref.provider}/${ref.profile}`];
    await cfg().update('regions', Object.keys(map).length ? map : undefined, vscode.ConfigurationTarget.Global);
  },
  sealedSuffix(): string {
    const s = cfg().get<string>('sealedSuffix') ?? '.sealed';
    return s && !/[\\/]/.test(s) ? s : '.sealed';
  },
  clipboardTimeoutSeconds(): number {
    const n = cfg().get<number>('clipboardTimeoutSeconds') ?? 30;
    return Number.isFinite(n) && n >= 0 ? n : 30;
  },
  /** 0 / unset: the engine's default frame length. */
  frameLength(): number | undefined {
    const n = cfg().get<number>('frameLength') ?? 0;
    return Number.isInteger(n) && n > 0 ? n : undefined;
  },
  encryptionContext(): EncryptionContext | undefined {
    const v = cfg().get<Record<string, unknown>>('encryptionContext') ?? {};
    const out: EncryptionContext = {};
    for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
    return Object.keys(out).length ? out : undefined;
  },
  /** `kmsEnvelope.localKeys`: auto (shown once a local key exists), always, never. */
  localKeys(): 'auto' | 'always' | 'never' {
    const v = cfg().get<string>('localKeys');
    return v === 'always' || v === 'never' ? v : 'auto';
  },
  async setLocalKeys(v: 'auto' | 'always' | 'never'): Promise<void> {
    await cfg().update('localKeys', v, vscode.ConfigurationTarget.Global);
  },
  /**
   * Delay before an edited kms-sealed: editor is sealed and saved. From the user settings only (an
   * application-scoped setting; a workspace value is ignored even if VS Code were to pass it), and
   * clamped to AUTO_SAVE_RANGE_MS, below VS Code's 1 s hot-exit backup delay: nothing turns it off.
   */
  sealedAutoSaveDelayMs(): number {
    const n = cfg().inspect<number>('sealedFiles.autoSaveDelayMs')?.globalValue ?? AUTO_SAVE_RANGE_MS.default;
    if (typeof n !== 'number' || !Number.isFinite(n)) return AUTO_SAVE_RANGE_MS.default;
    return Math.min(AUTO_SAVE_RANGE_MS.max, Math.max(AUTO_SAVE_RANGE_MS.min, Math.round(n)));
  },
  pageSize(): number {
    const n = cfg().get<number>('tree.pageSize') ?? 100;
    return Number.isInteger(n) && n >= 1 ? Math.min(n, 1000) : 100;
  },
};

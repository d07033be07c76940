// Shared by the extension-*.test.ts suites: the extension's API, scripted answers for the prompts
// (the only thing replaced: every KMS call, file write and editor edit is real), cloud profiles on
// the emulator the runner started, the emulator's admin API, and a marker search over the disk.
import * as assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { emulatorAdmin } from '../../src/emulator/admin-client';
import type { KmsEnvelopeApi, TreeSnapshotNode } from '../../src/extension/extension';
import type { BACK as UiBack, Prompts } from '../../src/extension/ui';
import { activateExtension, requireEmulator, testEnv } from './helpers';

export async function api(): Promise<KmsEnvelopeApi> {
  const ext = await activateExtension();
  const a = ext.exports as KmsEnvelopeApi;
  assert.ok(a?.keys, 'the extension returned no API object');
  assert.ok(a.testing, 'the testing hooks are missing (extension not in Development/Test mode?)');
  return a;
}

export type Answer = (
  kind: 'input' | 'pick' | 'pickMany' | 'openFile' | 'confirm' | 'choose' | 'offer',
  question: {
    title?: string;
    message?: string;
    detail?: string;
    items?: readonly vscode.QuickPickItem[];
    actions?: string[];
    options?: unknown;
  },
) => unknown;

/**
 * Prompts answered from a queue; an unexpected question fails the test that caused it. Notes
 * (`inform`) and error notifications (`error`) ask nothing: they are recorded in `asked` (and
 * `messages`) without taking an answer from the queue; an error's button is chosen only when a
 * test sets `errorChoice`.
 */
export class ScriptedPrompts implements Prompts {
  readonly asked: Array<{ kind: string; title?: string; message?: string; detail?: string; items?: string[]; actions?: string[] }> = [];
  /** Which button to press on the next error notification (then cleared). */
  errorChoice?: string;
  private readonly queue: Answer[] = [];
  unexpected?: string;

  answer(...a: Answer[]): this {
    this.queue.push(...a);
    return this;
  }
  get pending(): number {
    return this.queue.length;
  }
  /** What was shown without a question: notes and errors, as `level: text`. */
  get messages(): string[] {
    return this.asked.filter((a) => a.kind === 'inform' || a.kind === 'error').map((a) => `${a.title}: ${a.message}`);
  }
  private next(kind: Parameters<Answer>[0], q: Parameters<Answer>[1]): unknown {
    this.asked.push({
      kind,
      title: q.title,
      message: q.message,
      detail: q.detail,
      items: q.items?.map((i) => i.label),
      actions: q.actions,
    });
    const a = this.queue.shift();
    if (!a) {
      this.unexpected = `unexpected ${kind}: ${q.title ?? q.message}`;
      return undefined;
    }
    return a(kind, q);
  }
  async input(opts: vscode.InputBoxOptions) {
    const v = this.next('input', { title: opts.title ?? opts.prompt, options: opts }) as string | undefined;
    if (v !== undefined && opts.validateInput) {
      const problem = await opts.validateInput(v);
      if (problem)
        throw new Error(
          `scripted input "${v}" rejected by the input box's validation: ${typeof problem === 'string' ? problem : problem.message}`,
        );
    }
    return v;
  }
  /** A wizard step: recorded with its "(step/total)" as VS Code shows it; an answer may be `back`. */
  async inputStep(opts: vscode.InputBoxOptions & { step: number; totalSteps: number }): Promise<string | typeof UiBack | undefined> {
    const title = `${opts.title ?? opts.prompt} (${opts.step}/${opts.totalSteps})`;
    const v = this.next('input', { title, options: opts }) as string | typeof UiBack | undefined;
    if (typeof v === 'string' && opts.validateInput) {
      const problem = await opts.validateInput(v);
      if (problem)
        throw new Error(
          `scripted input "${v}" rejected by the input box's validation: ${typeof problem === 'string' ? problem : problem.message}`,
        );
    }
    return v;
  }
  async pickStep<T extends vscode.QuickPickItem>(
    items: T[],
    opts: vscode.QuickPickOptions & { step: number; totalSteps: number },
  ): Promise<T | typeof UiBack | undefined> {
    return this.next('pick', { title: `${opts.title} (${opts.step}/${opts.totalSteps})`, items }) as T | typeof UiBack | undefined;
  }
  async pick<T extends vscode.QuickPickItem>(items: T[] | Promise<T[]>, opts: vscode.QuickPickOptions) {
    const list = await items;
    return this.next('pick', { title: opts.title, items: list }) as T | undefined;
  }
  async pickMany<T extends vscode.QuickPickItem>(items: T[] | Promise<T[]>, opts: vscode.QuickPickOptions) {
    const list = await items;
    return this.next('pickMany', { title: opts.title, items: list }) as T[] | undefined;
  }
  async openFile(opts: { title: string; openLabel: string; filters?: Record<string, string[]>; defaultPath?: string }) {
    return this.next('openFile', { title: opts.title, options: opts }) as string | undefined;
  }
  async confirm(message: string, detail: string, action: string) {
    return this.next('confirm', { message, detail, actions: [action] }) as boolean;
  }
  async choose(message: string, detail: string | undefined, ...actions: string[]) {
    return this.next('choose', { message, detail, actions }) as string | undefined;
  }
  async offer(message: string, ...actions: string[]) {
    return this.next('offer', { message, actions }) as string | undefined;
  }
  inform(message: string, level: 'info' | 'warning' = 'info') {
    this.asked.push({ kind: 'inform', title: level, message });
  }
  async error(message: string, ...actions: string[]) {
    this.asked.push({ kind: 'error', title: 'error', message, actions });
    const choice = this.errorChoice;
    this.errorChoice = undefined;
    if (choice !== undefined && !actions.includes(choice)) throw new Error(`error button ${choice} not offered: ${actions.join(', ')}`);
    return choice;
  }
}

/** The Back button of a wizard step (ui.ts's BACK: Symbol.for, so the same symbol in this bundle). */
export const BACK = Symbol.for('kmsEnvelope.back') as typeof UiBack;
export const back: Answer = () => BACK;

/** Answer helpers. */
export const say =
  (v: string | undefined): Answer =>
  () =>
    v;
export const yes: Answer = () => true;
export const no: Answer = () => false;
export const choose =
  (match: (label: string, item: vscode.QuickPickItem) => boolean): Answer =>
  (_k, q) => {
    const item = (q.items ?? []).find((i) => i.kind !== vscode.QuickPickItemKind.Separator && match(i.label, i));
    if (!item) throw new Error(`no quick-pick item matches among: ${(q.items ?? []).map((i) => i.label).join(' | ')}`);
    return item;
  };
export const chooseMany =
  (labels: string[]): Answer =>
  (_k, q) =>
    (q.items ?? []).filter((i) => labels.includes(i.label));

export function scripted(a: KmsEnvelopeApi): ScriptedPrompts {
  const p = new ScriptedPrompts();
  a.testing!.setPrompts(p);
  return p;
}

/** Tencent + Alibaba profiles named `emu` on the runner's emulator (secrets into the real keychain). */
export async function addEmulatorProfiles(a: KmsEnvelopeApi): Promise<string> {
  const em = requireEmulator();
  const x = em.exports;
  const existing = await a.credentials.listProfiles();
  if (!existing.some((p) => p.provider === 'tencent' && p.name === 'emu')) {
    await a.credentials.addProfile(
      { provider: 'tencent', name: 'emu', endpoint: em.url },
      { accessKeyId: x.TENCENTCLOUD_SECRET_ID, accessKeySecret: x.TENCENTCLOUD_SECRET_KEY },
    );
  }
  if (!existing.some((p) => p.provider === 'alibaba' && p.name === 'emu')) {
    await a.credentials.addProfile(
      { provider: 'alibaba', name: 'emu', endpoint: em.url, regions: ['cn-hangzhou', 'cn-shanghai'] },
      { accessKeyId: x.ALIBABA_CLOUD_ACCESS_KEY_ID, accessKeySecret: x.ALIBABA_CLOUD_ACCESS_KEY_SECRET },
    );
  }
  return em.url;
}

/** The emulator's admin API (loopback only, with its admin header: src/emulator/admin-client.ts). */
export async function setFaults(faults: Record<string, unknown>): Promise<void> {
  await emulatorAdmin(requireEmulator().url, 'PUT', 'faults', faults);
}

export async function counters(): Promise<Record<string, number>> {
  return emulatorAdmin(requireEmulator().url, 'GET', 'counters');
}

export async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('kmsEnvelope').update(key, value, vscode.ConfigurationTarget.Global);
}

/** Finds a row by a path of labels from the top. */
export function findRow(tree: TreeSnapshotNode[], ...labels: string[]): TreeSnapshotNode | undefined {
  let level: TreeSnapshotNode[] | undefined = tree;
  let found: TreeSnapshotNode | undefined;
  for (const l of labels) {
    found = level?.find((n) => n.label === l);
    if (!found) return undefined;
    level = found.children;
  }
  return found;
}

export function render(tree: TreeSnapshotNode[], depth = 0): string {
  return tree
    .map(
      (n) =>
        `${'  '.repeat(depth)}${n.label}${n.description ? ` [${n.description}]` : ''} <${n.contextValue}>\n${n.children ? render(n.children, depth + 1) : ''}`,
    )
    .join('');
}

/** The model node (what commands receive from the view) for a row id. */
export function node(a: KmsEnvelopeApi, id: string) {
  const n = a.model.getNode(id);
  assert.ok(n, `no tree node ${id}`);
  return n;
}

/**
 * Every file under the roots (skipping node_modules and the code-server install) whose bytes contain
 * `marker`. Files that vanish while walking are skipped.
 */
export async function filesContaining(marker: string, roots: string[]): Promise<string[]> {
  const hits: string[] = [];
  const needle = Buffer.from(marker);
  const walk = async (d: string, depth: number): Promise<void> => {
    if (depth > 12) return;
    let entries;
    try {
      entries = await fsp.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (e.name === 'node_modules' || e.name === '.cache' || e.name === '.git') continue;
        await walk(p, depth + 1);
      } else if (e.isFile()) {
        try {
          const st = await fsp.stat(p);
          if (st.size > 64 * 1024 * 1024) continue;
          if ((await fsp.readFile(p)).includes(needle)) hits.push(p);
        } catch {
          /* gone */
        }
      }
    }
  };
  for (const r of roots) await walk(r, 0);
  return hits;
}

/** Where a plaintext copy could land: the runner's whole temp root (user data, backups, history, home, config, test files) and the system temp dir. */
export function plaintextSearchRoots(): string[] {
  return [dirname(testEnv.configDir), tmpdir()];
}

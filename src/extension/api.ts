/**
 * What activate() returns: the services the integration tests and the extension bench drive, the
 * tree as the view shows it, and (in Development / Test mode only) the testing hooks: the prompt
 * seam, the last command error, the Cancel buttons.
 */
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import type { CredentialService } from '../core/credentials/service';
import type { EnvelopeService } from '../core/services/envelope-service';
import type { KeyService } from '../core/services/key-service';
import type { TreeModel, TreeNode } from '../core/services/tree-model';
import type { Services } from './ctx';
import type { KeyPicker } from './key-picker';
import type { KeyUsageIndex } from './key-usage';
import type { LeakGuard } from './leak-guard';
import type { KeyTreeProvider } from './tree';
import { activeOperationCount, cancelAllOperations, progressTitles, ui, windowPrompts, type Prompts } from './ui';

export interface TreeSnapshotNode {
  id: string;
  label: string;
  description?: string;
  contextValue?: string;
  icon?: string;
  iconColor?: string;
  tooltip?: string;
  command?: string;
  collapsible: string;
  children?: TreeSnapshotNode[];
}

export interface KmsEnvelopeApi {
  /** Wall time of activate() itself, ms. */
  readonly activationMs: number;
  readonly keys: KeyService;
  readonly model: TreeModel;
  readonly treeProvider: KeyTreeProvider;
  readonly treeView: vscode.TreeView<TreeNode>;
  readonly envelope: EnvelopeService;
  readonly credentials: CredentialService;
  readonly picker: KeyPicker;
  /** What uses each key in the workspace (headers only). */
  readonly usage: KeyUsageIndex;
  /** Problems for check's findings (the Seal Value Quick Fix). */
  readonly leakGuard: LeakGuard;
  /** Drops every cache and reloads the tree. */
  refresh(): void;
  /**
   * The tree as the view shows it (TreeItems from the provider), walked from the top. Collapsed
   * rows are walked only with `expandCollapsed` (which loads those regions).
   */
  getTreeSnapshot(opts?: { expandCollapsed?: boolean }): Promise<TreeSnapshotNode[]>;
  /** Present only in Development / Test mode (or under the test runner): what the integration tests use. */
  readonly testing?: {
    setPrompts(p: Prompts | undefined): void;
    lastError(): { command: string; error: unknown } | undefined;
    clearLastError(): void;
    /** Aborts the operations under way exactly as their Cancel buttons do; returns how many. */
    cancelAll(): number;
    activeOperations(): number;
    statusBarText(): string;
    /** The decrypted sealed-file editor's status bar item while one is active. */
    sealedEditorStatus(): { text: string; tooltip: string } | undefined;
    statusBarTooltip(): string;
    /** Titles of the last progress notifications, oldest first. */
    progressTitles(): string[];
    /** The log's last info / warning / error lines ("info Enabled key …"), redacted as written. */
    logLines(): string[];
  };
}

function snapshotItem(treeProvider: KeyTreeProvider, c: TreeNode, below: TreeSnapshotNode[] | undefined): TreeSnapshotNode {
  const item = treeProvider.getTreeItem(c);
  const icon = item.iconPath instanceof vscode.ThemeIcon ? item.iconPath : undefined;
  const out: TreeSnapshotNode = {
    id: item.id!,
    label: typeof item.label === 'string' ? item.label : (item.label?.label ?? ''),
    description: typeof item.description === 'string' ? item.description : undefined,
    contextValue: item.contextValue,
    icon: icon?.id,
    iconColor: icon?.color?.id,
    tooltip: item.tooltip instanceof vscode.MarkdownString ? item.tooltip.value : item.tooltip,
    command: item.command?.command,
    collapsible: c.collapsible,
  };
  if (below) out.children = below;
  return out;
}

async function snapshot(treeProvider: KeyTreeProvider, node: TreeNode | undefined, expandCollapsed: boolean): Promise<TreeSnapshotNode[]> {
  const children = await treeProvider.getChildren(node);
  return Promise.all(
    children.map(async (c) => {
      // Children first: a region row's description (count, failure) is rendered once its keys are in, as in the view.
      const walk = c.collapsible === 'expanded' || (c.collapsible === 'collapsed' && expandCollapsed);
      const below = walk ? await snapshot(treeProvider, c, expandCollapsed) : undefined;
      return snapshotItem(treeProvider, c, below);
    }),
  );
}

export function createApi(s: Services, t0: number): KmsEnvelopeApi {
  // Test hooks: in Development / Test mode, and for the packaged build under the project's test runner
  // (scripts/vscode/run.ts sets KMS_ENVELOPE_TEST_MODE for the .vsix it installs into a throw-away profile).
  const devMode = s.context.extensionMode !== vscode.ExtensionMode.Production || !!s.env.KMS_ENVELOPE_TEST_MODE;
  const activationMs = performance.now() - t0;
  s.log.info(`KMS Envelope activated in ${activationMs.toFixed(1)} ms (config dir ${s.configDir}).`);
  const testing: KmsEnvelopeApi['testing'] = {
    setPrompts: (p) => (ui.prompts = p ?? windowPrompts),
    lastError: () => s.cmd.lastError,
    clearLastError: () => (s.cmd.lastError = undefined),
    cancelAll: () => cancelAllOperations(),
    activeOperations: () => activeOperationCount(),
    statusBarText: () => s.picker.statusText,
    sealedEditorStatus: () => s.sealedIndicators.status,
    statusBarTooltip: () => s.picker.statusTooltip,
    progressTitles: () => progressTitles(),
    logLines: () => s.log.recent(),
  };
  return {
    activationMs,
    keys: s.keys,
    model: s.model,
    treeProvider: s.treeProvider,
    treeView: s.treeView,
    envelope: s.envelope,
    credentials: s.credentials,
    picker: s.picker,
    usage: s.usage,
    leakGuard: s.leakGuard,
    refresh: () => s.keys.reset(),
    getTreeSnapshot: (opts = {}) => snapshot(s.treeProvider, undefined, !!opts.expandCollapsed),
    ...(devMode ? { testing } : {}),
  };
}

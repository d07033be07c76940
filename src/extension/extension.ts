/**
 * Composition root of the extension (thin, rust-analyzer style): build the services once, register
 * every view, command and provider into context.subscriptions, return an API object. No KMS call
 * and no keychain access happen here; the envelope engine, the cloud SDKs and keytar load on first
 * use, so activation stays in the low milliseconds.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import * as vscode from 'vscode';
import { onStaleTempFilesRemoved } from '../core/atomic';
import { CredentialService } from '../core/credentials/service';
import type { CreateProviderFn } from '../core/credentials/test-profile';
import { configDir } from '../core/paths';
import type { SecretStore } from '../core/secrets';
import { EnvelopeService, type KeyTarget } from '../core/services/envelope-service';
import { KeyService, type ProviderFactory } from '../core/services/key-service';
import { TreeModel, type TreeNode } from '../core/services/tree-model';
import { FileCommands, INSPECT_SCHEME } from './files';
import { registerKeyCommands } from './key-commands';
import { KeyPicker } from './key-picker';
import { channelLogger } from './log';
import { registerProfileCommands } from './profiles';
import { SEALED_SCHEME, SealedAutoSave, SealedFileSystem } from './sealed-fs';
import { chooseSecretStore, type ChosenSecretStore } from './secret-storage';
import { SealedHoverProvider, SealedValueContext, SelectionCommands } from './selection';
import { SECTION, settings } from './settings';
import { KeyTreeProvider, VIEW_ID } from './tree';
import { activeOperationCount, cancelAllOperations, registerCommand, ui, windowPrompts, type CommandContext, type Prompts } from './ui';

/** Picks keytar or SecretStorage on first use (the probe can take a moment; activation does not wait). */
class LazySecretStore implements SecretStore {
  private chosen?: Promise<ChosenSecretStore>;
  private resolved?: ChosenSecretStore;
  constructor(private readonly choose: () => Promise<ChosenSecretStore>) {}
  get description(): string {
    return this.resolved?.store.description ?? 'the OS keychain';
  }
  get kind(): ChosenSecretStore['kind'] | undefined {
    return this.resolved?.kind;
  }
  private async store(): Promise<SecretStore> {
    this.chosen ??= this.choose().then((c) => (this.resolved = c));
    return (await this.chosen).store;
  }
  async get(service: string, account: string) {
    return (await this.store()).get(service, account);
  }
  async set(service: string, account: string, secret: string) {
    return (await this.store()).set(service, account, secret);
  }
  async delete(service: string, account: string) {
    return (await this.store()).delete(service, account);
  }
  async list(service: string) {
    return (await this.store()).list(service);
  }
}

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
  };
}

async function localKeysExist(dir: string): Promise<boolean> {
  try {
    const data = JSON.parse(await fsp.readFile(path.join(dir, 'local-keys.json'), 'utf8')) as { keys?: unknown[] };
    return Array.isArray(data.keys) && data.keys.length > 0;
  } catch {
    return false;
  }
}

export function activate(context: vscode.ExtensionContext): KmsEnvelopeApi {
  const t0 = performance.now();
  const channel = vscode.window.createOutputChannel('KMS Envelope', { log: true });
  const log = channelLogger(channel);
  const ctx: CommandContext = { log };
  // The composition root hands the environment down; nothing below reads process.env.
  const env = process.env;
  const dir = configDir(env);

  const secretStore = new LazySecretStore(() => chooseSecretStore(context, channel, { env }));
  const credentials = new CredentialService({ secretStore, configDir: dir, env, logger: log });

  // Providers are built with the credentials KeyService / the profile commands resolved and hand in.
  // Key material kept on this machine goes to the extension's secret store unless key files are opted in.
  const createProvider: ProviderFactory & CreateProviderFn = async (name, opts) => {
    const registry = await import('../core/kms/registry.js');
    const keyFiles = registry.findProvider(name)?.keyFiles;
    return registry.createProvider(name, {
      ...opts,
      env,
      logger: opts.logger ?? log,
      ...(keyFiles && env[keyFiles.env] ? {} : { secretStore }),
    });
  };

  const keys = new KeyService({
    credentials,
    createProvider,
    showLocal: async () => {
      const v = settings.localKeys();
      return v === 'always' || (v === 'auto' && (await localKeysExist(dir)));
    },
    regionChoice: (ref) => settings.regions(ref),
    pageSize: () => settings.pageSize(),
    logger: log,
  });
  const model = new TreeModel(keys, { defaultKey: () => settings.defaultKey() });
  const treeProvider = new KeyTreeProvider(model, log);
  const treeView = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: treeProvider, showCollapseAll: true });
  const envelope = new EnvelopeService(keys, { frameLength: () => settings.frameLength(), logger: log });
  const picker = new KeyPicker(context, keys);
  const selections = new SelectionCommands(envelope, picker, log);
  const files = new FileCommands(envelope, picker, log);
  const sealedFs = new SealedFileSystem(envelope, log);

  const reg = (id: string, fn: (...args: any[]) => unknown) => registerCommand(ctx, id, fn);
  context.subscriptions.push(
    channel,
    // Where files go through named temp files (not Linux), a write removes those a killed run left.
    {
      dispose: onStaleTempFilesRemoved(({ dir, files }) =>
        log.warn(`Removed ${files.length} temp file(s) an interrupted write left in ${dir}: ${files.join(', ')}`),
      ),
    },
    { dispose: () => keys.dispose() },
    { dispose: () => model.dispose() },
    { dispose: () => void cancelAllOperations() },
    treeProvider,
    treeView,
    picker,
    selections,
    files,
    reg('kmsEnvelope.showLog', () => log.show()),
    reg('kmsEnvelope.sealSelection', (t?: KeyTarget) =>
      selections.sealSelection(t && typeof t === 'object' && 'provider' in t ? t : undefined),
    ),
    reg('kmsEnvelope.unsealSelection', (at?: unknown) => selections.unsealSelection(at)),
    reg('kmsEnvelope.copyUnsealed', (at?: unknown) => selections.copyUnsealed(at)),
    reg('kmsEnvelope.sealFile', (a?: unknown, b?: unknown) => files.sealFile(a, b)),
    reg('kmsEnvelope.unsealFile', (a?: unknown, b?: unknown) => files.unsealFile(a, b)),
    reg('kmsEnvelope.openSealedFile', (a?: unknown) => files.openSealedFile(a)),
    reg('kmsEnvelope.rewrapFile', (a?: unknown) => files.rewrapFile(a)),
    reg('kmsEnvelope.inspect', (a?: unknown) => files.inspect(a)),
    ...registerKeyCommands({
      ctx,
      keys,
      model,
      view: treeView,
      picker,
      sealSelection: (t) => selections.sealSelection(t),
      sealFile: (u, t) => files.sealFile(u, t),
    }),
    vscode.workspace.registerFileSystemProvider(SEALED_SCHEME, sealedFs, { isCaseSensitive: true }),
    new SealedAutoSave(log),
    vscode.workspace.registerTextDocumentContentProvider(INSPECT_SCHEME, files),
    vscode.window.registerFileDecorationProvider(files),
    vscode.languages.registerHoverProvider({ pattern: '**' }, new SealedHoverProvider()),
    new SealedValueContext(),
    vscode.workspace.onDidCloseTextDocument((d) => {
      if (d.uri.scheme === SEALED_SCHEME) sealedFs.forget(d.uri);
    }),
    vscode.window.tabGroups.onDidChangeTabs((e) => files.onTabsOpened(e.opened)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      if (e.affectsConfiguration(`${SECTION}.defaultKey`) || e.affectsConfiguration(`${SECTION}.defaultKeyProfile`)) {
        picker.updateStatus();
        model.rerender();
      }
      if (
        e.affectsConfiguration(`${SECTION}.regions`) ||
        e.affectsConfiguration(`${SECTION}.localKeys`) ||
        e.affectsConfiguration(`${SECTION}.tree.pageSize`)
      )
        keys.reset();
      if (e.affectsConfiguration(`${SECTION}.sealedSuffix`)) files.refreshDecorations();
    }),
  );
  // Profile commands (Add / Test / Rotate / Remove) are the credentials helper's; they push their own disposables.
  registerProfileCommands(context, credentials, channel, createProvider);

  const snapshot = async (node: TreeNode | undefined, expandCollapsed: boolean): Promise<TreeSnapshotNode[]> => {
    const children = await treeProvider.getChildren(node);
    return Promise.all(
      children.map(async (c) => {
        // Children first: a region row's description (count, failure) is rendered once its keys are in, as in the view.
        const below =
          c.collapsible === 'expanded' || (c.collapsible === 'collapsed' && expandCollapsed)
            ? await snapshot(c, expandCollapsed)
            : undefined;
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
      }),
    );
  };

  // Test hooks: in Development / Test mode, and for the packaged build under the project's test runner
  // (scripts/vscode/run.ts sets KMS_ENVELOPE_TEST_MODE for the .vsix it installs into a throw-away profile).
  const devMode = context.extensionMode !== vscode.ExtensionMode.Production || !!env.KMS_ENVELOPE_TEST_MODE;
  const activationMs = performance.now() - t0;
  log.info(`KMS Envelope activated in ${activationMs.toFixed(1)} ms (config dir ${dir}).`);
  return {
    activationMs,
    keys,
    model,
    treeProvider,
    treeView,
    envelope,
    credentials,
    picker,
    refresh: () => keys.reset(),
    getTreeSnapshot: (opts = {}) => snapshot(undefined, !!opts.expandCollapsed),
    ...(devMode
      ? {
          testing: {
            setPrompts: (p: Prompts | undefined) => (ui.prompts = p ?? windowPrompts),
            lastError: () => ctx.lastError,
            clearLastError: () => (ctx.lastError = undefined),
            cancelAll: () => cancelAllOperations(),
            activeOperations: () => activeOperationCount(),
            statusBarText: () => picker.statusText,
          },
        }
      : {}),
  };
}

export function deactivate(): void {
  cancelAllOperations();
}

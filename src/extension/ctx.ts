/**
 * The extension's services, built once at activation (rust-analyzer's `ctx.ts` is the model): the
 * log, the secret store, credentials, keys, the tree, the envelope service, the key picker and the
 * editor-facing parts. Commands receive this object; nothing here calls a KMS or the keychain, so
 * activation stays in the low milliseconds (the registry, the cloud SDKs and keytar load on first use).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { onStaleTempFilesRemoved } from '../core/atomic';
import { CredentialService } from '../core/credentials/service';
import type { CreateProviderFn } from '../core/credentials/test-profile';
import { configDir } from '../core/paths';
import { EnvelopeService } from '../core/services/envelope-service';
import { KeyService, type ProviderFactory } from '../core/services/key-service';
import { TreeModel, type TreeNode } from '../core/services/tree-model';
import { FileCommands, INSPECT_SCHEME } from './files';
import { KeyPicker } from './key-picker';
import { KeyUsageIndex, usageText } from './key-usage';
import { channelLogger, type ExtensionLogger } from './log';
import { LeakGuard } from './leak-guard';
import { DecryptedDiffs } from './scm-diff';
import { SEALED_SCHEME, SealedAutoSave, SealedFileSystem } from './sealed-fs';
import { SealedEditorIndicators } from './sealed-indicators';
import { chooseSecretStore, LazySecretStore } from './secret-storage';
import { SealedHoverProvider, SealedValueContext, SelectionCommands } from './selection';
import { SECTION, settings } from './settings';
import { TeamAccess } from './team';
import { vscodeStep } from './hints';
import { KeyTreeProvider, VIEW_ID } from './tree';
import { SealedEnvDebugProvider, SealedSchemeRouter, ValuesCommands, ValuesFileSystem } from './values';
import { cancelAllOperations, type CommandContext } from './ui';

export interface Services {
  readonly context: vscode.ExtensionContext;
  readonly log: ExtensionLogger;
  /** What the command wrapper needs (the log, the last error for the tests). */
  readonly cmd: CommandContext;
  /** The environment the composition root handed down (nothing below reads process.env). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly configDir: string;
  readonly secretStore: LazySecretStore;
  readonly credentials: CredentialService;
  readonly createProvider: ProviderFactory & CreateProviderFn;
  readonly keys: KeyService;
  readonly model: TreeModel;
  readonly treeProvider: KeyTreeProvider;
  readonly treeView: vscode.TreeView<TreeNode>;
  readonly envelope: EnvelopeService;
  readonly picker: KeyPicker;
  readonly selections: SelectionCommands;
  readonly files: FileCommands;
  readonly sealedFs: SealedFileSystem;
  /** Lock, tooltip and status bar item of decrypted sealed-file editors. */
  readonly sealedIndicators: SealedEditorIndicators;
  readonly values: ValuesCommands;
  readonly valuesFs: ValuesFileSystem;
  /** Sealed files in git and in a team (TeamService, loaded on first use). */
  readonly team: TeamAccess;
  readonly diffs: DecryptedDiffs;
  /** What uses each key in the workspace (headers only). */
  readonly usage: KeyUsageIndex;
  /** check's findings as Problems, with the Seal Value Quick Fix. */
  readonly leakGuard: LeakGuard;
}

async function localKeysExist(dir: string): Promise<boolean> {
  try {
    const data = JSON.parse(await fsp.readFile(path.join(dir, 'local-keys.json'), 'utf8')) as { keys?: unknown[] };
    return Array.isArray(data.keys) && data.keys.length > 0;
  } catch {
    return false;
  }
}

/** Builds every service; what needs disposing goes to context.subscriptions. */
export function createServices(context: vscode.ExtensionContext, env: NodeJS.ProcessEnv): Services {
  const channel = vscode.window.createOutputChannel('KMS Envelope', { log: true });
  const log = channelLogger(channel);
  const dir = configDir(env);
  const secretStore = new LazySecretStore(() => chooseSecretStore(context, log, { env }));
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
  const envelope = new EnvelopeService(keys, { frameLength: () => settings.frameLength(), logger: log });
  const team = new TeamAccess(envelope, log);
  // What uses each key in the workspace (scanned on first need, headers only), shown on the key rows.
  const rerender = { tree: () => undefined as void };
  const usage = new KeyUsageIndex(team, log, () => rerender.tree());
  const model = new TreeModel(keys, {
    defaultKey: () => settings.defaultKey(),
    usage: (k) => usageText(usage.peek(k)),
    stepWords: vscodeStep,
    locale: vscode.env.language,
  });
  rerender.tree = () => model.rerender();
  const treeProvider = new KeyTreeProvider(model, log);
  const treeView = vscode.window.createTreeView(VIEW_ID, { treeDataProvider: treeProvider, showCollapseAll: true });
  const picker = new KeyPicker(context, keys);
  const selections = new SelectionCommands(envelope, picker, log);
  const files = new FileCommands(envelope, picker, log, team);
  const sealedFs = new SealedFileSystem(envelope, log, team);
  const sealedIndicators = new SealedEditorIndicators(sealedFs, keys);
  const diffs = new DecryptedDiffs(team, log);
  const leakGuard = new LeakGuard(team, envelope, log);
  const values = new ValuesCommands(envelope, picker, log);
  const valuesFs = new ValuesFileSystem(values, log);
  const disposables = [treeProvider, treeView, picker, selections, files, sealedIndicators, usage, leakGuard];
  context.subscriptions.push(channel, valuesFs, { dispose: () => keys.dispose() }, { dispose: () => model.dispose() });
  context.subscriptions.push({ dispose: () => void cancelAllOperations() }, ...disposables);
  // Errors name a key by its alias where a loaded listing knows it (the clouds' errors name ids).
  const cmd: CommandContext = { log, nameKeys: (err) => keys.nameKeyIn(err) };
  return {
    context,
    log,
    cmd,
    env,
    configDir: dir,
    secretStore,
    credentials,
    createProvider,
    keys,
    model,
    treeProvider,
    treeView,
    envelope,
    picker,
    selections,
    files,
    sealedFs,
    sealedIndicators,
    values,
    valuesFs,
    team,
    diffs,
    usage,
    leakGuard,
  };
}

/** The editor-facing registrations: the kms-sealed: file system, hover, decorations, context keys, watchers. */
export function registerWorkbenchParts(s: Services): vscode.Disposable[] {
  // Profiles changed by the CLI (profiles.json rewritten) refresh the tree too.
  const profilesJson = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(s.configDir), 'profiles.json'));
  const reloadProfiles = () => s.credentials.reload();
  const sealedScheme = new SealedSchemeRouter(s.sealedFs, s.valuesFs);
  // Activated by a git: read (a diff opening): the diff tab that caused it is already open.
  s.diffs.onTabs(vscode.window.tabGroups.all.flatMap((g) => g.tabs));
  return [
    // One provider for the scheme: whole sealed files and files of sealed values (`?values=`).
    vscode.workspace.registerFileSystemProvider(SEALED_SCHEME, sealedScheme, { isCaseSensitive: true }),
    vscode.debug.registerDebugConfigurationProvider('*', new SealedEnvDebugProvider(s.values, s.log)),
    s.sealedFs, // zeroes the data keys of files still open
    new SealedAutoSave(s.log),
    // Where files go through named temp files (not Linux), a write removes those a killed run left.
    {
      dispose: onStaleTempFilesRemoved(({ dir, files }) =>
        s.log.warn(`Removed ${files.length} temp file(s) an interrupted write left in ${dir}: ${files.join(', ')}`),
      ),
    },
    vscode.workspace.registerTextDocumentContentProvider(INSPECT_SCHEME, s.files),
    vscode.window.registerFileDecorationProvider(s.files),
    vscode.languages.registerHoverProvider({ pattern: '**' }, new SealedHoverProvider(s.envelope.aliasOf)),
    vscode.languages.registerCodeActionsProvider({ scheme: 'file' }, s.leakGuard, LeakGuard.metadata),
    new SealedValueContext(),
    vscode.workspace.onDidCloseTextDocument((d) => {
      if (d.uri.scheme === SEALED_SCHEME) sealedScheme.forget(d.uri);
    }),
    vscode.window.tabGroups.onDidChangeTabs((e) => {
      s.files.onTabsOpened(e.opened);
      s.diffs.onTabs([...e.opened, ...e.changed]);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => onSettingsChanged(s, e)),
    profilesJson,
    profilesJson.onDidChange(reloadProfiles),
    profilesJson.onDidCreate(reloadProfiles),
    profilesJson.onDidDelete(reloadProfiles),
  ];
}

function onSettingsChanged(s: Services, e: vscode.ConfigurationChangeEvent): void {
  if (!e.affectsConfiguration(SECTION)) return;
  const changed = (...keys: string[]) => keys.some((k) => e.affectsConfiguration(`${SECTION}.${k}`));
  if (changed('defaultKey', 'defaultKeyProfile')) {
    s.picker.updateStatus();
    s.model.rerender();
  }
  if (changed('regions', 'localKeys', 'tree.pageSize')) s.keys.reset();
  if (changed('sealedSuffix')) s.files.refreshDecorations();
}

/**
 * Profile commands of the extension: Add Profile (with a live test before saving), Test Profile,
 * Rotate Secret, Remove Profile. Each accepts an optional tree node `{ provider, profile }` so
 * the tree's context menus can call it; without one, the user picks from a quick pick.
 *
 * Secrets are typed into input boxes with `password: true`, handed to the CredentialService
 * (which stores them in the chosen SecretStore) and never logged or shown.
 */
import * as vscode from 'vscode';
import { checkProfileName, credentialProviders, type CredentialService } from '../core/credentials/service';
import { testCredentials, testProfile, type CreateProviderFn } from '../core/credentials/test-profile';
import type { CloudCredentials, ProfileInfo } from '../core/credentials/types';
import { isCancelled, KmsEnvelopeError } from '../core/errors';
import type { CredentialPart } from '../core/kms/descriptor';
import { checkEndpoint } from '../core/kms/endpoint';
import { providerDescriptor, providerLabel } from '../core/kms/registry';
import type { ProviderName } from '../core/kms/types';
import { redactString } from '../core/log';

export const PROFILE_COMMANDS = {
  add: 'kmsEnvelope.addProfile',
  test: 'kmsEnvelope.testProfile',
  rotate: 'kmsEnvelope.rotateSecret',
  remove: 'kmsEnvelope.removeProfile',
} as const;

/** What tree nodes pass. `profile` may be the name or a ProfileInfo-like object. */
export interface ProfileNodeArg {
  provider?: string;
  profile?: string | { name: string };
  name?: string;
}

function nodeTarget(arg: unknown): { provider?: ProviderName; name?: string } {
  if (!arg || typeof arg !== 'object') return {};
  const a = arg as ProfileNodeArg;
  const provider = typeof a.provider === 'string' && credentialProviders().includes(a.provider) ? a.provider : undefined;
  const name =
    typeof a.profile === 'string'
      ? a.profile
      : a.profile && typeof a.profile === 'object' && typeof a.profile.name === 'string'
        ? a.profile.name
        : a.name;
  return { provider, name: typeof name === 'string' ? name : undefined };
}

function describeError(err: unknown): string {
  if (err instanceof KmsEnvelopeError) return redactString(err.hint ? `${err.message} ${err.hint}` : err.message);
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
    return 'No answer in time. Check the endpoint and the network.';
  return redactString(err instanceof Error ? err.message : String(err));
}

class Cancelled extends Error {}

async function input(opts: vscode.InputBoxOptions): Promise<string> {
  const v = await vscode.window.showInputBox({ ignoreFocusOut: true, ...opts });
  if (v === undefined) throw new Cancelled();
  return v;
}

function validRegions(v: string): string | undefined {
  const bad = v
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '' && !/^[a-z0-9][a-z0-9-]{1,49}$/.test(r));
  return bad.length ? `Not a region id: ${bad.join(', ')} (write e.g. ap-guangzhou, cn-hangzhou)` : undefined;
}

function validEndpoint(v: string): string | undefined {
  try {
    checkEndpoint(v);
    return undefined;
  } catch (err) {
    return err instanceof KmsEnvelopeError ? `${err.message} ${err.hint ?? ''}`.trim() : String(err);
  }
}

/** Inline check of a credential part as it is typed (the descriptor's check; empty only where optional). */
function validPart(part: CredentialPart) {
  return (v: string): string | undefined => {
    const s = v.trim();
    if (!s) return part.optional ? undefined : `Enter the ${part.label}.`;
    return part.input === 'file' ? undefined : part.validate?.(s);
  };
}

export function registerProfileCommands(
  context: vscode.ExtensionContext,
  service: CredentialService,
  log: vscode.LogOutputChannel,
  createProvider: CreateProviderFn,
): vscode.Disposable[] {
  /** One wrapper: logs (redacted) and shows an error once; cancelling is not a failure. */
  const command =
    (id: string, fn: (arg?: unknown) => Promise<void>) =>
    async (arg?: unknown): Promise<void> => {
      try {
        await fn(arg);
      } catch (err) {
        if (err instanceof Cancelled || isCancelled(err)) return;
        log.error(`${id}: ${describeError(err)}`);
        void vscode.window.showErrorMessage(describeError(err), 'Show Log').then((c) => {
          if (c === 'Show Log') log.show();
        });
      }
    };

  async function pickProvider(preset?: ProviderName): Promise<ProviderName> {
    if (preset) return preset;
    const picked = await vscode.window.showQuickPick(
      credentialProviders().map((p) => ({ label: providerLabel(p), description: p, provider: p })),
      { title: 'Add Profile (1/6): provider', placeHolder: 'Which cloud is this key for?', ignoreFocusOut: true },
    );
    if (!picked) throw new Cancelled();
    return picked.provider;
  }

  async function pickProfile(
    title: string,
    filter: (p: ProfileInfo) => boolean,
    target: { provider?: ProviderName; name?: string },
  ): Promise<ProfileInfo> {
    if (target.provider && target.name) {
      const p = await service.getProfile(target.provider, target.name);
      if (p && filter(p)) return p;
      if (p)
        throw new KmsEnvelopeError(
          'usage',
          `The ${target.provider} profile ${target.name} is discovered from ${p.source} and is read-only here.`,
          {
            hint: 'Change it where it comes from (environment variables or the cloud CLI config file).',
          },
        );
      throw new KmsEnvelopeError('usage', `There is no ${target.provider} profile named ${target.name}.`, {
        hint: 'Refresh the KMS Envelope view.',
      });
    }
    const all = (await service.listProfiles(target.provider)).filter(filter);
    if (!all.length) {
      const add = await vscode.window.showInformationMessage('There is no profile to choose from. Add one?', 'Add Profile');
      if (add) await vscode.commands.executeCommand(PROFILE_COMMANDS.add, target.provider ? { provider: target.provider } : undefined);
      throw new Cancelled();
    }
    const picked = await vscode.window.showQuickPick(
      all.map((p) => ({
        label: `${p.provider}/${p.name}`,
        description: p.source === 'keychain' ? `${p.kind}${p.keyIdHint ? ' · ' + p.keyIdHint : ''}` : `${p.source} (read-only)`,
        detail: [p.regions?.join(', '), p.endpoint].filter(Boolean).join(' · ') || undefined,
        profile: p,
      })),
      { title, ignoreFocusOut: true },
    );
    if (!picked) throw new Cancelled();
    return picked.profile;
  }

  /** Runs the region list with progress and cancel. */
  function withTestProgress<T>(title: string, fn: (signal: AbortSignal) => Promise<T>): Thenable<T> {
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (_p, token) => {
      const ac = new AbortController();
      const sub = token.onCancellationRequested(() => ac.abort());
      try {
        return await fn(ac.signal);
      } finally {
        sub.dispose();
      }
    });
  }

  interface Draft {
    provider: ProviderName;
    name: string;
    kind: 'long-term' | 'sts';
    /** Values of the credential parts by key (file parts: the path typed). */
    parts: Record<string, string>;
    expiration?: string;
    regions: string;
    endpoint: string;
  }

  /** Asks for the provider's credential parts (its descriptor's, in order); reads `file` parts. */
  async function askSecretParts(provider: ProviderName, kind: 'long-term' | 'sts', step: (n: number) => string, prev?: Partial<Draft>) {
    const spec = providerDescriptor(provider).credentials!;
    const typed: Record<string, string> = {};
    const values: CloudCredentials = {};
    for (const part of spec.parts.filter((p) => !p.temporary || kind === 'sts')) {
      const where = part.secret
        ? ` (kept in ${service.secretStore.description}, never shown again)`
        : part.prompt
          ? ` (${part.prompt})`
          : '';
      const v = (
        await input({
          title: step(part.secret ? 4 : 3),
          prompt: `${part.input === 'file' ? `Path of the ${part.label} file` : part.label}${part.optional ? ' (optional)' : ''}${where}`,
          password: part.secret && part.input !== 'file',
          value: prev?.parts?.[part.key],
          validateInput: validPart(part),
        })
      ).trim();
      if (!v) continue;
      typed[part.key] = v;
      (values as Record<string, string>)[part.key] = part.input === 'file' ? await readPartFile(part, v) : v;
    }
    let expiration: string | undefined;
    if (kind === 'sts') {
      expiration =
        (
          await input({
            title: step(4),
            prompt: 'When the temporary key expires (ISO 8601, e.g. 2030-01-31T12:00:00Z); leave empty if unknown',
            value: prev?.expiration,
            validateInput: (v) =>
              v.trim() && Number.isNaN(Date.parse(v.trim())) ? 'Not a date; write e.g. 2030-01-31T12:00:00Z' : undefined,
          })
        ).trim() || undefined;
    }
    return { typed, values, expiration };
  }

  /** Long-term or temporary (STS) credentials; asked only when the provider offers temporary ones. */
  async function pickKind(
    provider: ProviderName,
    title: string,
    current: 'long-term' | 'sts' | undefined,
    placeHolder = 'What kind of key?',
  ): Promise<{ keyKind: 'long-term' | 'sts' }> {
    if (!providerDescriptor(provider).credentials?.temporary) return { keyKind: 'long-term' };
    const kindPick = await vscode.window.showQuickPick(
      [
        { label: 'Long-term access key', keyKind: 'long-term' as const, picked: current !== 'sts' },
        { label: 'Temporary key (STS) with a session token', keyKind: 'sts' as const, picked: current === 'sts' },
      ],
      { title, placeHolder, ignoreFocusOut: true },
    );
    if (!kindPick) throw new Cancelled();
    return kindPick;
  }

  async function readPartFile(part: CredentialPart, file: string): Promise<string> {
    try {
      return new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(file)));
    } catch (err) {
      throw new KmsEnvelopeError('usage', `Cannot read the ${part.label} file ${file}.`, { hint: 'Check the path.', cause: err });
    }
  }

  async function addProfile(arg?: unknown): Promise<void> {
    const target = nodeTarget(arg);
    let draft: Partial<Draft> = { provider: target.provider };
    for (;;) {
      const provider = await pickProvider(draft.provider);
      const step = (i: number) => `Add ${providerLabel(provider)} Profile (${i}/6)`;
      const existing = (await service.listProfiles(provider)).filter((p) => p.source === 'keychain').map((p) => p.name);
      const name = (
        await input({
          title: step(2),
          prompt: 'Profile name',
          value: draft.name ?? (existing.includes('default') ? '' : 'default'),
          validateInput: (v) => {
            try {
              checkProfileName(v.trim());
            } catch (err) {
              return describeError(err);
            }
            return existing.includes(v.trim()) && v.trim() !== draft.name
              ? `A ${provider} profile named ${v.trim()} exists; use Rotate Secret to change its key.`
              : undefined;
          },
        })
      ).trim();
      const kindPick = await pickKind(provider, step(3), draft.kind);
      const parts = await askSecretParts(provider, kindPick.keyKind, step, draft);
      const regions = await input({
        title: step(5),
        prompt: 'Default regions, comma separated (optional; empty = all the provider lists)',
        value: draft.regions ?? '',
        validateInput: validRegions,
      });
      const endpoint = await input({
        title: step(6),
        prompt: 'Endpoint override (optional): a private endpoint, or the emulator http://127.0.0.1:PORT',
        value: draft.endpoint ?? '',
        validateInput: validEndpoint,
      });
      draft = { provider, name, kind: kindPick.keyKind, parts: parts.typed, expiration: parts.expiration, regions, endpoint };
      const regionList = regions
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const creds: CloudCredentials = { ...parts.values, ...(parts.expiration ? { expiration: parts.expiration } : {}) };
      const result = await withTestProgress(`Testing ${provider} profile ${name}…`, (signal) =>
        testCredentials(
          createProvider,
          provider,
          { name, endpoint: endpoint.trim() || undefined, regions: regionList },
          async () => creds,
          { signal },
        ),
      );
      const save = async () => {
        const info = await service.addProfile(
          { provider, name, kind: kindPick.keyKind, regions: regionList, endpoint: endpoint.trim() || undefined },
          creds,
          { replace: existing.includes(name) },
        );
        log.info(`Saved ${provider} profile ${info.name} (key ${info.keyIdHint}) in ${service.secretStore.description}.`);
        return info;
      };
      if (result.ok) {
        await save();
        void vscode.window.showInformationMessage(
          `${providerLabel(provider)} profile "${name}" tested OK (${result.regions!.length} regions) and saved.`,
        );
        return;
      }
      if (isCancelled(result.error)) throw new Cancelled();
      const why = describeError(result.error);
      log.warn(`Testing ${provider} profile ${name} failed: ${why}`);
      const choice = await vscode.window.showWarningMessage(
        `Testing ${provider} profile "${name}" failed: ${why}`,
        { modal: true },
        'Edit',
        'Save Anyway',
      );
      if (choice === 'Save Anyway') {
        await save();
        void vscode.window.showInformationMessage(`${providerLabel(provider)} profile "${name}" saved without a successful test.`);
        return;
      }
      if (choice !== 'Edit') throw new Cancelled();
    }
  }

  async function testProfileCmd(arg?: unknown): Promise<void> {
    const p = await pickProfile('Test Profile', () => true, nodeTarget(arg));
    const provider = p.provider;
    const r = await withTestProgress(`Testing ${provider} profile ${p.name}…`, (signal) =>
      testProfile(service, createProvider, provider, p.name, { signal }),
    );
    if (r.ok) {
      log.info(`Profile ${provider}/${p.name}: OK, ${r.regions!.length} regions.`);
      void vscode.window.showInformationMessage(
        `${providerLabel(provider)} profile "${p.name}": OK, ${r.regions!.length} regions${p.endpoint ? ` at ${p.endpoint}` : ''}.`,
      );
      return;
    }
    if (isCancelled(r.error)) return;
    const why = describeError(r.error);
    log.warn(`Profile ${provider}/${p.name}: ${why}`);
    const actions =
      p.source === 'keychain' && r.error instanceof KmsEnvelopeError && r.error.kind === 'credentials'
        ? ['Rotate Secret', 'Show Log']
        : ['Show Log'];
    const choice = await vscode.window.showErrorMessage(`${providerLabel(provider)} profile "${p.name}": ${why}`, ...actions);
    if (choice === 'Rotate Secret') await vscode.commands.executeCommand(PROFILE_COMMANDS.rotate, { provider, profile: p.name });
    else if (choice === 'Show Log') log.show();
  }

  async function rotateSecretCmd(arg?: unknown): Promise<void> {
    const p = await pickProfile('Rotate Secret: which stored profile?', (x) => x.source === 'keychain', nodeTarget(arg));
    const provider = p.provider;
    const kindPick = await pickKind(
      provider,
      `Rotate Secret of ${provider}/${p.name}`,
      p.kind,
      `The new key (current: ${p.kind}${p.keyIdHint ? ', ' + p.keyIdHint : ''})`,
    );
    const parts = await askSecretParts(provider, kindPick.keyKind, () => `Rotate Secret of ${provider}/${p.name}`);
    const info = await service.rotateSecret(
      provider,
      p.name,
      { ...parts.values, ...(kindPick.keyKind === 'sts' && parts.expiration ? { expiration: parts.expiration } : {}) },
      { kind: kindPick.keyKind },
    );
    const r = await withTestProgress(`Testing the new key of ${provider}/${p.name}…`, (signal) =>
      testProfile(service, createProvider, provider, p.name, { signal }),
    );
    if (r.ok)
      void vscode.window.showInformationMessage(
        `Rotated the secret of ${provider} profile "${p.name}" (key ${info.keyIdHint}); tested OK.`,
      );
    else if (!isCancelled(r.error))
      void vscode.window.showWarningMessage(
        `Rotated the secret of ${provider} profile "${p.name}", but the test failed: ${describeError(r.error)}`,
      );
  }

  async function removeProfileCmd(arg?: unknown): Promise<void> {
    const p = await pickProfile('Remove Profile: which stored profile?', (x) => x.source === 'keychain', nodeTarget(arg));
    const provider = p.provider;
    const ok = await vscode.window.showWarningMessage(
      `Remove the ${providerLabel(provider)} profile "${p.name}"?`,
      {
        modal: true,
        detail: `Its secret (key ${p.keyIdHint ?? '…'}) is deleted from ${service.secretStore.description}. Sealed files are not affected.`,
      },
      'Remove',
    );
    if (ok !== 'Remove') throw new Cancelled();
    await service.removeProfile(provider, p.name);
    void vscode.window.showInformationMessage(`Removed ${provider} profile "${p.name}" and its secret.`);
  }

  const disposables = [
    vscode.commands.registerCommand(PROFILE_COMMANDS.add, command(PROFILE_COMMANDS.add, addProfile)),
    vscode.commands.registerCommand(PROFILE_COMMANDS.test, command(PROFILE_COMMANDS.test, testProfileCmd)),
    vscode.commands.registerCommand(PROFILE_COMMANDS.rotate, command(PROFILE_COMMANDS.rotate, rotateSecretCmd)),
    vscode.commands.registerCommand(PROFILE_COMMANDS.remove, command(PROFILE_COMMANDS.remove, removeProfileCmd)),
  ];

  // Profiles changed by the CLI (profiles.json rewritten) refresh the tree too.
  const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(service.configDir), 'profiles.json'));
  const reload = () => service.reload();
  disposables.push(watcher, watcher.onDidChange(reload), watcher.onDidCreate(reload), watcher.onDidDelete(reload));

  context.subscriptions.push(...disposables);
  return disposables;
}

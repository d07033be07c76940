/**
 * Profile commands of the extension: Add Profile (with a live test before saving), Test Profile,
 * Rotate Secret, Remove Profile. Each accepts an optional tree node `{ provider, profile }` so
 * the tree's context menus can call it; without one, the user picks from a quick pick. They run
 * through the command wrapper and ask through the prompts of ui.ts, like every other command.
 *
 * Secrets are typed into input boxes with `password: true`, handed to the CredentialService
 * (which stores them in the chosen SecretStore) and never logged or shown.
 */
import * as vscode from 'vscode';
import { checkProfileName, credentialProviders } from '../core/credentials/service';
import { testCredentials, testProfile } from '../core/credentials/test-profile';
import type { CloudCredentials, ProfileInfo } from '../core/credentials/types';
import { isCancelled, KmsEnvelopeError, providerError, usageError } from '../core/errors';
import type { CredentialPart } from '../core/kms/descriptor';
import { checkEndpoint } from '../core/kms/endpoint';
import { providerDescriptor, providerLabel } from '../core/kms/registry';
import type { ProviderName } from '../core/kms/types';
import type { Services } from './ctx';
import { describe, dismissed, ui, withActions, withCancellableProgress } from './ui';

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

/** An input box whose dismissal cancels the command. */
async function input(opts: vscode.InputBoxOptions): Promise<string> {
  const v = await ui.prompts.input(opts);
  if (v === undefined) dismissed();
  return v;
}

/** A test that ran out of time is a provider error naming what to check; other errors pass unchanged. */
function testFailure(err: unknown, what: string): unknown {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError') && !isCancelled(err))
    return providerError(`No answer in time while ${what}.`, 'Check the endpoint and the network.');
  return err;
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
    return describe(err);
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

async function pickProvider(preset?: ProviderName): Promise<ProviderName> {
  if (preset) return preset;
  const picked = await ui.prompts.pick(
    credentialProviders().map((p) => ({ label: providerLabel(p), description: p, provider: p })),
    { title: 'Add Profile (1/6): provider', placeHolder: 'Which cloud is this key for?' },
  );
  if (!picked) dismissed();
  return picked.provider;
}

async function pickProfile(
  s: Services,
  title: string,
  filter: (p: ProfileInfo) => boolean,
  target: { provider?: ProviderName; name?: string },
): Promise<ProfileInfo> {
  if (target.provider && target.name) {
    const p = await s.credentials.getProfile(target.provider, target.name);
    if (p && filter(p)) return p;
    if (p)
      throw usageError(
        `The ${target.provider} profile ${target.name} is discovered from ${p.source} and is read-only here.`,
        'Change it where it comes from (environment variables or the cloud CLI config file).',
      );
    throw usageError(`There is no ${target.provider} profile named ${target.name}.`, 'Refresh the KMS Envelope view.');
  }
  const all = (await s.credentials.listProfiles(target.provider)).filter(filter);
  if (!all.length) {
    const add = await ui.prompts.offer('There is no profile to choose from. Add one?', 'Add Profile');
    if (add) await vscode.commands.executeCommand(PROFILE_COMMANDS.add, target.provider ? { provider: target.provider } : undefined);
    dismissed();
  }
  const picked = await ui.prompts.pick(
    all.map((p) => ({
      label: `${p.provider}/${p.name}`,
      description: p.source === 'keychain' ? `${p.kind}${p.keyIdHint ? ' · ' + p.keyIdHint : ''}` : `${p.source} (read-only)`,
      detail: [p.regions?.join(', '), p.endpoint].filter(Boolean).join(' · ') || undefined,
      profile: p,
    })),
    { title },
  );
  if (!picked) dismissed();
  return picked.profile;
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

/** Long-term or temporary (STS) credentials; asked only when the provider offers temporary ones. */
async function askKind(
  provider: ProviderName,
  title: string,
  current: Draft['kind'] | undefined,
  placeHolder: string,
): Promise<Draft['kind']> {
  if (!providerDescriptor(provider).credentials?.temporary) return 'long-term';
  const picked = await ui.prompts.pick(
    [
      { label: 'Long-term access key', keyKind: 'long-term' as const, picked: current !== 'sts' },
      { label: 'Temporary key (STS) with a session token', keyKind: 'sts' as const, picked: current === 'sts' },
    ],
    { title, placeHolder },
  );
  if (!picked) dismissed();
  return picked.keyKind;
}

async function readPartFile(part: CredentialPart, file: string): Promise<string> {
  try {
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(vscode.Uri.file(file)));
  } catch (err) {
    throw new KmsEnvelopeError('usage', `Cannot read the ${part.label} file ${file}.`, { hint: 'Check the path.', cause: err });
  }
}

/**
 * A file part (the CA certificate, the client key file): picked in a file dialog, read, and checked
 * with the descriptor's check; a file that does not pass is named in a warning and the dialog opens
 * again. Dismissing the dialog cancels the command. The file's text goes into the credentials (the
 * keychain or profiles.json, as the part says); only its path is kept to prefill an Edit round.
 */
async function askPartFile(part: CredentialPart, title: string, previous?: string): Promise<{ path: string; text: string }> {
  const label = part.label.charAt(0).toUpperCase() + part.label.slice(1);
  for (;;) {
    const file = await ui.prompts.openFile({
      title: `${title}: ${part.label} file${part.prompt ? ` (${part.prompt})` : ''}`,
      openLabel: `Use as ${part.label}`,
      filters: { ...Object.fromEntries(Object.entries(part.fileTypes ?? {}).map(([k, v]) => [k, [...v]])), 'All files': ['*'] },
      defaultPath: previous,
    });
    if (!file) dismissed();
    const text = await readPartFile(part, file);
    const problem = part.validate?.(text);
    if (!problem) return { path: file, text };
    ui.prompts.inform(`${label} file ${file}: ${problem}`, 'warning');
    previous = file;
  }
}

interface SecretParts {
  /** What was typed per part key (file parts: the path), to prefill an Edit round. */
  typed: Record<string, string>;
  /** The credentials (file parts: the file's content). */
  values: CloudCredentials;
  expiration?: string;
}

/** Asks for the provider's credential parts (its descriptor's, in order); reads `file` parts. */
async function askSecretParts(
  s: Services,
  provider: ProviderName,
  kind: Draft['kind'],
  step: (n: number) => string,
  prev?: Partial<Draft>,
): Promise<SecretParts> {
  const spec = providerDescriptor(provider).credentials!;
  const typed: Record<string, string> = {};
  const values: CloudCredentials = {};
  for (const part of spec.parts.filter((p) => !p.temporary || kind === 'sts')) {
    if (part.input === 'file') {
      const file = await askPartFile(part, step(3), prev?.parts?.[part.key]);
      typed[part.key] = file.path;
      (values as Record<string, string>)[part.key] = file.text;
      continue;
    }
    const where = part.secret
      ? ` (kept in ${s.credentials.secretStore.description}, never shown again)`
      : part.prompt
        ? ` (${part.prompt})`
        : '';
    const v = (
      await input({
        title: step(part.secret ? 4 : 3),
        prompt: `${part.label}${part.optional ? ' (optional)' : ''}${where}`,
        password: part.secret,
        value: prev?.parts?.[part.key],
        validateInput: validPart(part),
      })
    ).trim();
    if (!v) continue;
    typed[part.key] = v;
    (values as Record<string, string>)[part.key] = v;
  }
  if (kind !== 'sts') return { typed, values };
  const expiration =
    (
      await input({
        title: step(4),
        prompt: 'When the temporary key expires (ISO 8601, e.g. 2030-01-31T12:00:00Z); leave empty if unknown',
        value: prev?.expiration,
        validateInput: (v) => (v.trim() && Number.isNaN(Date.parse(v.trim())) ? 'Not a date; write e.g. 2030-01-31T12:00:00Z' : undefined),
      })
    ).trim() || undefined;
  return { typed, values, expiration };
}

/** One round of the Add Profile questions (2/6 to 6/6), prefilled from the previous round. */
async function askDraft(
  s: Services,
  provider: ProviderName,
  prev: Partial<Draft>,
  existing: string[],
): Promise<{ draft: Draft; credentials: CloudCredentials }> {
  const step = (i: number) => `Add ${providerLabel(provider)} Profile (${i}/6)`;
  const name = (
    await input({
      title: step(2),
      prompt: 'Profile name',
      value: prev.name ?? (existing.includes('default') ? '' : 'default'),
      validateInput: (v) => {
        try {
          checkProfileName(v.trim());
        } catch (err) {
          return describe(err);
        }
        return existing.includes(v.trim()) && v.trim() !== prev.name
          ? `A ${provider} profile named ${v.trim()} exists; use Rotate Secret to change its key.`
          : undefined;
      },
    })
  ).trim();
  const kind = await askKind(provider, step(3), prev.kind, 'What kind of key?');
  const parts = await askSecretParts(s, provider, kind, step, prev);
  const regions = await input({
    title: step(5),
    prompt: 'Default regions, comma separated (optional; empty = all the provider lists)',
    value: prev.regions ?? '',
    validateInput: validRegions,
  });
  const endpoint = await input({
    title: step(6),
    prompt: 'Endpoint override (optional): a private endpoint, or the emulator http://127.0.0.1:PORT',
    value: prev.endpoint ?? '',
    validateInput: validEndpoint,
  });
  return {
    draft: { provider, name, kind, parts: parts.typed, expiration: parts.expiration, regions, endpoint },
    credentials: { ...parts.values, ...(parts.expiration ? { expiration: parts.expiration } : {}) },
  };
}

const regionList = (regions: string) =>
  regions
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);

/** Add Profile: asks, tests the key live, saves; a failed test offers Edit (ask again, prefilled) or Save Anyway. */
export async function addProfile(s: Services, arg?: unknown): Promise<ProfileInfo> {
  let draft: Partial<Draft> = { provider: nodeTarget(arg).provider };
  for (;;) {
    const provider = await pickProvider(draft.provider);
    const existing = (await s.credentials.listProfiles(provider)).filter((p) => p.source === 'keychain').map((p) => p.name);
    const { draft: d, credentials: creds } = await askDraft(s, provider, draft, existing);
    draft = d;
    const label = `${providerLabel(provider)} profile "${d.name}"`;
    const endpoint = d.endpoint.trim() || undefined;
    // Checked and split as saving will (profile settings such as an instance endpoint and CA go to the
    // provider as settings, the secrets as credentials), so the test builds the provider the profile will.
    const tried = s.credentials.draftProfile({ provider, name: d.name, kind: d.kind, regions: regionList(d.regions), endpoint }, creds);
    const result = await withCancellableProgress(`Testing ${provider} profile ${d.name}…`, (signal) =>
      testCredentials(s.createProvider, provider, tried, async () => tried.credentials, { signal }),
    );
    const save = async () => {
      const info = await s.credentials.addProfile(
        { provider, name: d.name, kind: d.kind, regions: regionList(d.regions), endpoint },
        creds,
        { replace: existing.includes(d.name) },
      );
      s.log.info(`Saved ${provider} profile ${info.name} (key ${info.keyIdHint}) in ${s.credentials.secretStore.description}.`);
      return info;
    };
    if (result.ok) {
      const info = await save();
      ui.prompts.inform(`${label} tested OK (${result.regions!.length} regions) and saved.`);
      return info;
    }
    if (isCancelled(result.error)) dismissed();
    const why = describe(testFailure(result.error, `testing ${provider} profile ${d.name}`));
    s.log.warn(`Testing ${provider} profile ${d.name} failed: ${why}`);
    const choice = await ui.prompts.choose(`Testing ${provider} profile "${d.name}" failed: ${why}`, undefined, 'Edit', 'Save Anyway');
    if (choice === 'Save Anyway') {
      const info = await save();
      ui.prompts.inform(`${label} saved without a successful test.`);
      return info;
    }
    if (choice !== 'Edit') dismissed();
  }
}

/** Test Profile: the region list with the stored key; a rejected stored key offers Rotate Secret. */
export async function testProfileCommand(s: Services, arg?: unknown): Promise<string[]> {
  const p = await pickProfile(s, 'Test Profile', () => true, nodeTarget(arg));
  const provider = p.provider;
  const label = `${providerLabel(provider)} profile "${p.name}"`;
  const r = await withCancellableProgress(`Testing ${provider} profile ${p.name}…`, (signal) =>
    testProfile(s.credentials, s.createProvider, provider, p.name, { signal }),
  );
  if (r.ok) {
    s.log.info(`Profile ${provider}/${p.name}: OK, ${r.regions!.length} regions.`);
    ui.prompts.inform(`${label}: OK, ${r.regions!.length} regions${p.endpoint ? ` at ${p.endpoint}` : ''}.`);
    return r.regions!;
  }
  if (isCancelled(r.error)) dismissed();
  const e = testFailure(r.error, `testing ${provider} profile ${p.name}`);
  const failed =
    e instanceof KmsEnvelopeError
      ? new KmsEnvelopeError(e.kind, `${label}: ${e.message}`, {
          hint: e.hintParts,
          cause: e,
          details: { ...e.details, provider, profile: p.name },
        })
      : providerError(`${label}: ${e instanceof Error ? e.message : String(e)}`, undefined, { provider, profile: p.name }, e);
  if (p.source === 'keychain' && failed.kind === 'credentials')
    withActions(failed, {
      title: 'Rotate Secret',
      run: () => vscode.commands.executeCommand(PROFILE_COMMANDS.rotate, { provider, profile: p.name }),
    });
  throw failed;
}

/** Rotate Secret: a new key for a stored profile, then a live test of it. */
export async function rotateSecret(s: Services, arg?: unknown): Promise<ProfileInfo> {
  const p = await pickProfile(s, 'Rotate Secret: which stored profile?', (x) => x.source === 'keychain', nodeTarget(arg));
  const provider = p.provider;
  const title = `Rotate Secret of ${provider}/${p.name}`;
  const kind = await askKind(provider, title, p.kind, `The new key (current: ${p.kind}${p.keyIdHint ? ', ' + p.keyIdHint : ''})`);
  const parts = await askSecretParts(s, provider, kind, () => title);
  const creds = { ...parts.values, ...(kind === 'sts' && parts.expiration ? { expiration: parts.expiration } : {}) };
  const info = await s.credentials.rotateSecret(provider, p.name, creds, { kind });
  s.log.info(`Rotated the secret of ${provider} profile ${p.name} (key ${info.keyIdHint}).`);
  const r = await withCancellableProgress(`Testing the new key of ${provider}/${p.name}…`, (signal) =>
    testProfile(s.credentials, s.createProvider, provider, p.name, { signal }),
  );
  const rotated = `Rotated the secret of ${provider} profile "${p.name}"`;
  if (r.ok) ui.prompts.inform(`${rotated} (key ${info.keyIdHint}); tested OK.`);
  else if (!isCancelled(r.error))
    ui.prompts.inform(`${rotated}, but the test failed: ${describe(testFailure(r.error, 'testing the new key'))}`, 'warning');
  return info;
}

/** Remove Profile: asks (modal), then deletes the stored profile and its secret. */
export async function removeProfile(s: Services, arg?: unknown): Promise<boolean> {
  const p = await pickProfile(s, 'Remove Profile: which stored profile?', (x) => x.source === 'keychain', nodeTarget(arg));
  const provider = p.provider;
  const ok = await ui.prompts.confirm(
    `Remove the ${providerLabel(provider)} profile "${p.name}"?`,
    `Its secret (key ${p.keyIdHint ?? '…'}) is deleted from ${s.credentials.secretStore.description}. Sealed files are not affected.`,
    'Remove',
  );
  if (!ok) dismissed();
  await s.credentials.removeProfile(provider, p.name);
  s.log.info(`Removed ${provider} profile ${p.name} and its secret.`);
  ui.prompts.inform(`Removed ${provider} profile "${p.name}" and its secret.`);
  return true;
}

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
import { profileNoun, providerDescriptor, providerLabel } from '../core/kms/registry';
import type { ProviderName } from '../core/kms/types';
import type { Services } from './ctx';
import { BACK, describe, dismissed, ui, withActions, withCancellableProgress, type StepOptions } from './ui';

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
        `The ${profileNoun(target.provider)} ${target.name} is discovered from ${p.source} and is read-only here.`,
        'Change it where it comes from (environment variables or the cloud CLI config file).',
      );
    throw usageError(`There is no ${profileNoun(target.provider)} named ${target.name}.`, 'Refresh the KMS Envelope view.');
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

/** What the Add Profile wizard has gathered so far (kept across an Edit round and Back). */
interface Draft {
  /** Undefined until the first step is answered (a tree row may preselect it). */
  provider?: ProviderName;
  name: string;
  kind: 'long-term' | 'sts';
  /** What was typed per credential part key (file parts: the path). */
  parts: Record<string, string>;
  /** File parts: the file's text. */
  files: Record<string, string>;
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

/** One question of a wizard: asks at its place, keeps the answer in the draft; BACK when Back was pressed. */
type Question = (at: StepOptions & { title: string }) => Promise<typeof BACK | void>;

/** The answer, or a cancellation when the prompt was dismissed. */
function answered<T>(v: T | undefined): T {
  if (v === undefined) dismissed();
  return v;
}

/**
 * Runs a wizard (VS Code's multi-step pattern) from question `start`: each step numbered once, Back
 * goes one question back; the list is asked for again after every answer, as a provider or a kind
 * changes what follows.
 */
async function runWizard(questions: () => Question[], title: (step: number) => string, start = 0): Promise<void> {
  for (let i = start; ;) {
    const qs = questions();
    if (i >= qs.length) return;
    const r = await qs[i]({ title: title(i + 1), step: i + 1, totalSteps: qs.length });
    i = r === BACK ? Math.max(0, i - 1) : i + 1;
  }
}

/** An input step whose trimmed answer goes to `set`. */
const inputQuestion =
  (opts: () => vscode.InputBoxOptions, set: (v: string) => void): Question =>
  async (at) => {
    const v = await ui.prompts.inputStep({ ...opts(), ...at });
    if (v === BACK) return BACK;
    set(answered(v).trim());
  };

/** A credential part: typed (password box for secrets), or a file picked in a file dialog. */
function partQuestion(s: Services, d: Draft, part: CredentialPart): Question {
  if (part.input === 'file')
    return async (at) => {
      const f = await askPartFile(part, `${at.title} (${at.step}/${at.totalSteps})`, d.parts[part.key]);
      d.parts[part.key] = f.path;
      d.files[part.key] = f.text;
    };
  const where = part.secret
    ? ` (kept in ${s.credentials.secretStore.description}, never shown again)`
    : part.prompt
      ? ` (${part.prompt})`
      : '';
  return inputQuestion(
    () => ({
      prompt: `${part.label}${part.optional ? ' (optional)' : ''}${where}`,
      password: part.secret,
      value: d.parts[part.key],
      validateInput: validPart(part),
    }),
    (v) => (d.parts[part.key] = v),
  );
}

/** The questions of Add Profile for the draft as it stands: provider, name, kind, credential parts, regions, endpoint. */
function addQuestions(s: Services, d: Draft, existing: string[]): Question[] {
  const provider = d.provider ?? credentialProviders()[0];
  const spec = providerDescriptor(provider).credentials!;
  const qs: Question[] = [
    async (at) => {
      const items = credentialProviders().map((p) => ({ label: providerLabel(p), description: p, provider: p, picked: p === d.provider }));
      const picked = await ui.prompts.pickStep(items, { ...at, placeHolder: 'Which cloud is this key for?' });
      if (picked === BACK) return BACK;
      d.provider = answered(picked).provider;
      existing.splice(0, existing.length, ...(await storedNames(s, d.provider)));
    },
    inputQuestion(
      () => ({
        prompt: 'Profile name',
        value: d.name || (existing.includes('default') ? '' : 'default'),
        validateInput: validName(d, existing),
      }),
      (v) => (d.name = v),
    ),
  ];
  if (spec.temporary)
    qs.push(async (at) => {
      const picked = await ui.prompts.pickStep(kindItems(d.kind), { ...at, placeHolder: 'What kind of key?' });
      if (picked === BACK) return BACK;
      d.kind = answered(picked).keyKind;
    });
  for (const part of spec.parts.filter((p) => !p.temporary || d.kind === 'sts')) qs.push(partQuestion(s, d, part));
  if (d.kind === 'sts')
    qs.push(
      inputQuestion(
        () => ({
          prompt: 'When the temporary key expires (ISO 8601, e.g. 2030-01-31T12:00:00Z); leave empty if unknown',
          value: d.expiration,
          validateInput: (v) =>
            v.trim() && Number.isNaN(Date.parse(v.trim())) ? 'Not a date; write e.g. 2030-01-31T12:00:00Z' : undefined,
        }),
        (v) => (d.expiration = v || undefined),
      ),
    );
  qs.push(
    inputQuestion(
      () => ({
        prompt: 'Default regions, comma separated (optional; empty = all the provider lists)',
        value: d.regions,
        validateInput: validRegions,
      }),
      (v) => (d.regions = v),
    ),
    inputQuestion(
      () => ({
        prompt: 'Endpoint override (optional): a private endpoint, or the emulator http://127.0.0.1:PORT',
        value: d.endpoint,
        validateInput: validEndpoint,
      }),
      (v) => (d.endpoint = v),
    ),
  );
  return qs;
}

/** Names of the stored profiles of a provider (a new one may not take them). */
async function storedNames(s: Services, provider: ProviderName): Promise<string[]> {
  return (await s.credentials.listProfiles(provider)).filter((p) => p.source === 'keychain').map((p) => p.name);
}

function validName(d: Draft, existing: string[]) {
  return (v: string): string | undefined => {
    try {
      checkProfileName(v.trim());
    } catch (err) {
      return describe(err);
    }
    return existing.includes(v.trim()) && v.trim() !== d.name
      ? `A ${profileNoun(d.provider!)} named ${v.trim()} exists; use Rotate Secret to change its key.`
      : undefined;
  };
}

function kindItems(current: Draft['kind'] | undefined) {
  return [
    { label: 'Long-term access key', keyKind: 'long-term' as const, picked: current !== 'sts' },
    { label: 'Temporary key (STS) with a session token', keyKind: 'sts' as const, picked: current === 'sts' },
  ];
}

/** The credentials the draft holds for its provider and kind (file parts: the files' text). */
function draftCredentials(d: Draft): CloudCredentials {
  const out: Record<string, string> = {};
  for (const part of providerDescriptor(d.provider!).credentials!.parts.filter((p) => !p.temporary || d.kind === 'sts')) {
    const v = part.input === 'file' ? d.files[part.key] : d.parts[part.key];
    if (v) out[part.key] = v;
  }
  if (d.kind === 'sts' && d.expiration) out.expiration = d.expiration;
  return out as CloudCredentials;
}

const regionList = (regions: string) =>
  regions
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);

/**
 * Add Profile: a wizard (provider first, each step numbered once, Back), a live test, then save; a
 * failed test offers Edit (the wizard again from the name, prefilled; Back reaches the provider) or
 * Save Anyway. A tree row's provider is preselected in the first step.
 */
export async function addProfile(s: Services, arg?: unknown): Promise<ProfileInfo> {
  const d: Draft = { provider: nodeTarget(arg).provider, name: '', kind: 'long-term', parts: {}, files: {}, regions: '', endpoint: '' };
  const existing = d.provider ? await storedNames(s, d.provider) : [];
  for (let start = 0; ; start = 1) {
    await runWizard(
      () => addQuestions(s, d, existing),
      (step) => (step > 1 && d.provider ? `Add ${providerLabel(d.provider)} Profile` : 'Add Profile'),
      start,
    );
    const provider = d.provider!;
    const creds = draftCredentials(d);
    const label = `${profileNoun(provider)} "${d.name}"`;
    const endpoint = d.endpoint.trim() || undefined;
    const settings = { provider, name: d.name, kind: d.kind, regions: regionList(d.regions), endpoint };
    // Checked and split as saving will (profile settings such as an instance endpoint and CA go to the
    // provider as settings, the secrets as credentials), so the test builds the provider the profile will.
    const tried = s.credentials.draftProfile(settings, creds);
    const result = await withCancellableProgress(`Testing ${label}…`, (signal) =>
      testCredentials(s.createProvider, provider, tried, async () => tried.credentials, { signal }),
    );
    const save = async () => {
      const info = await s.credentials.addProfile(settings, creds, { replace: existing.includes(d.name) });
      s.log.info(`Saved ${profileNoun(provider)} ${info.name} (key ${info.keyIdHint}) in ${s.credentials.secretStore.description}.`);
      return info;
    };
    if (result.ok) {
      const info = await save();
      ui.prompts.inform(`${label} tested OK (${result.regions!.length} regions) and saved.`);
      return info;
    }
    if (isCancelled(result.error)) dismissed();
    const why = describe(testFailure(result.error, `testing ${label}`));
    s.log.warn(`Testing ${label} failed: ${why}`);
    const choice = await ui.prompts.choose(`Testing ${label} failed: ${why}`, undefined, 'Edit', 'Save Anyway');
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
  const label = `${profileNoun(provider)} "${p.name}"`;
  const r = await withCancellableProgress(`Testing ${label}…`, (signal) =>
    testProfile(s.credentials, s.createProvider, provider, p.name, { signal }),
  );
  if (r.ok) {
    s.log.info(`Profile ${provider}/${p.name}: OK, ${r.regions!.length} regions.`);
    ui.prompts.inform(`${label}: OK, ${r.regions!.length} regions${p.endpoint ? ` at ${p.endpoint}` : ''}.`);
    return r.regions!;
  }
  if (isCancelled(r.error)) dismissed();
  const e = testFailure(r.error, `testing ${label}`);
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
  s.log.info(`Rotated the secret of ${profileNoun(provider)} ${p.name} (key ${info.keyIdHint}).`);
  const r = await withCancellableProgress(`Testing the new key of ${provider}/${p.name}…`, (signal) =>
    testProfile(s.credentials, s.createProvider, provider, p.name, { signal }),
  );
  const rotated = `Rotated the secret of ${profileNoun(provider)} "${p.name}"`;
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
    `Remove the ${profileNoun(provider)} "${p.name}"?`,
    `Its secret (key ${p.keyIdHint ?? '…'}) is deleted from ${s.credentials.secretStore.description}. Sealed files are not affected.`,
    'Remove',
  );
  if (!ok) dismissed();
  await s.credentials.removeProfile(provider, p.name);
  s.log.info(`Removed ${profileNoun(provider)} ${p.name} and its secret.`);
  ui.prompts.inform(`Removed ${profileNoun(provider)} "${p.name}" and its secret.`);
  return true;
}

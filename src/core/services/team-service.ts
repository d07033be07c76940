/**
 * Sealed files in git and in a team, as use-cases for the front doors (no vscode):
 *
 * - textconv: the plaintext of a sealed file, or of a file with sealed values (git's diff driver, the
 *   editor's decrypted diff), in memory;
 * - merge: git's merge driver — the three versions unsealed, merged line by line (core/git/diff3.ts),
 *   sealed again to the recipients of OURS (the current branch's version); a file of sealed values is
 *   merged in its sealed form so unchanged values keep their records (values engine, mergeValues);
 * - check: the leak guard — values the policy says must be sealed but are not, and broken sealed
 *   entries, from the files alone (no KMS call);
 * - scan: which sealed files and values name each recipient key, from headers only (no KMS call);
 * - rewrap: other recipients for sealed files (core/envelope/rewrap.ts) and files of sealed values
 *   (their header line only), or a fresh data key (rotate).
 *
 * How keys are reached is the front door's business: it hands in TeamKeys.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { usageError } from '../errors';
import { ARMOR_PREFIX, armor, dearmor } from '../envelope/armor';
import { sniffHead } from '../envelope/magic';
import { recipientLabel, type RecipientInfo } from '../envelope/recipients';
import type { HeaderInfo, Recipient } from '../envelope/types';
import { merge3, type MergeLabels } from '../git/diff3';
import type { Logger } from '../log';
import { nullLogger } from '../log';
import { displayPath } from '../paths';
import {
  HEADER_PREFIX,
  checkValues,
  findPolicy,
  formatFromName,
  inspectValues,
  mergeValues,
  rewrapValuesKeeping,
  rotateValues,
  ruleFor,
  ruleSelects,
  unsealValues,
  type Policy,
  type ValuesFormat,
} from '../values';
import type { RewrapEntry, RewrapPlan } from '../envelope/rewrap';
import type { ValuesKeys } from './values-service';
import { readBytes } from '../read-file';

const engine = () => import('../envelope/engine.js');
const rewrapModule = () => import('../envelope/rewrap.js');

export interface TeamKeys extends ValuesKeys {
  /** Providers for recipients a header names (provider, region, key id), in order. */
  recipientsFor(infos: RecipientInfo[], signal?: AbortSignal): Promise<Recipient[]>;
}

/** Largest text read whole (a file of values); larger files are only looked at as blobs. */
export const TEXT_LIMIT = 64 * 1024 * 1024;

export type FileKind =
  | { kind: 'blob'; form: 'binary' | 'armored' }
  | { kind: 'values'; format: ValuesFormat }
  | { kind: 'armored-text' }
  | { kind: 'plain'; format?: ValuesFormat };

/** Finds the policy of each folder once per run. */
export class PolicyCache {
  private readonly byDir = new Map<string, Promise<Policy | undefined>>();
  /** `enabled: false`: no workspace policy decides anything (VS Code's Restricted Mode). */
  constructor(private readonly enabled = true) {}
  policyOf(file: string): Promise<Policy | undefined> {
    if (!this.enabled) return Promise.resolve(undefined);
    const dir = path.dirname(path.resolve(file));
    let p = this.byDir.get(dir);
    if (!p) this.byDir.set(dir, (p = findPolicy(file)));
    return p;
  }
  async ruleOf(file: string) {
    const policy = await this.policyOf(file);
    return policy && ruleFor(policy, file);
  }
}

/** A file's text as an armored blob is read: without a byte-order mark, trimmed. */
const armoredText = (b: Buffer) =>
  b
    .toString('utf8')
    .replace(/^\uFEFF/, '')
    .trim();

/** The blob of a file classify() calls one: its bytes, or its armored text decoded. */
const blobOf = (b: Buffer, k: { form: 'binary' | 'armored' }) => (k.form === 'armored' ? dearmor(armoredText(b)) : b);

/** What a file holds, from its bytes (no KMS call): a blob, a file of sealed values, a text with armored values, or plain. */
export async function classify(file: string, bytes: Buffer, policies = new PolicyCache()): Promise<FileKind> {
  const head = sniffHead(bytes.subarray(0, 4096));
  if (head === 'binary') return { kind: 'blob', form: 'binary' };
  if (head === 'armored') {
    const text = armoredText(bytes);
    if (/^kmsenv:v1:[A-Za-z0-9+/=]+$/.test(text)) return { kind: 'blob', form: 'armored' };
  }
  const format = formatFromName(file) ?? (await policies.ruleOf(file))?.format;
  if (format && bytes.includes(HEADER_PREFIX)) return { kind: 'values', format };
  if (bytes.includes(ARMOR_PREFIX)) return { kind: 'armored-text' };
  return { kind: 'plain', format };
}

export interface Finding {
  file: string;
  line: number;
  /** Key path of the value (or `kms-envelope` for a header entry, `(file)` for the whole file). */
  key: string;
  kind: 'plaintext' | 'broken';
  reason?: string;
}

export interface KeyUsage {
  /** provider:region:keyId as the headers name it. */
  key: string;
  recipient: RecipientInfo;
  /** Files naming the key, with how many sealed values each holds for it (0 for a sealed file). */
  files: Array<{ file: string; kind: 'file' | 'values'; values: number }>;
  fileCount: number;
  valueCount: number;
}

export interface RewrapChange {
  file: string;
  kind: 'file' | 'values';
  before: string[];
  after: string[];
  changed: boolean;
  rotated?: boolean;
}

/** A requested change of recipients, as keyrefs resolved to provider/region/key id. */
export interface RecipientChange {
  add: Array<{ recipient: Recipient; keyId: string; label: string }>;
  remove: Array<{ provider: string; region: string; keyId: string; label: string }>;
  /** Replaces the list (in this order) when given. */
  to?: Array<{ recipient: Recipient; keyId: string; label: string }>;
}

const sameKey = (r: RecipientInfo, k: { provider: string; region: string; keyId: string }) =>
  r.provider === k.provider && r.region === k.region && r.keyId === k.keyId;

/** The new recipient list for a header: kept EDKs by index, new recipients where a key is not there yet. */
export function planFor(current: RecipientInfo[], change: RecipientChange): { plan: RewrapPlan; after: string[] } {
  const next: RewrapEntry[] = [];
  const after: string[] = [];
  if (change.to) {
    for (const t of change.to) {
      const i = current.findIndex((r) => sameKey(r, { provider: t.recipient.provider.name, region: t.recipient.region, keyId: t.keyId }));
      next.push(i >= 0 ? { keep: i, recipient: t.recipient } : { add: t.recipient });
      after.push(t.label);
    }
  } else {
    current.forEach((r, i) => {
      if (change.remove.some((k) => sameKey(r, k))) return;
      next.push({ keep: i });
      after.push(recipientLabel(r));
    });
    for (const a of change.add) {
      if (current.some((r) => sameKey(r, { provider: a.recipient.provider.name, region: a.recipient.region, keyId: a.keyId }))) continue;
      next.push({ add: a.recipient });
      after.push(a.label);
    }
  }
  return { plan: { next }, after };
}

/** The first bytes of a file (enough to sniff it), or all of it when it is small enough to be a text. */
async function headOrAll(file: string): Promise<Buffer> {
  const st = await fsp.stat(file);
  if (st.size <= TEXT_LIMIT) return readBytes(file);
  const fh = await fsp.open(file, 'r');
  try {
    const b = Buffer.alloc(4096);
    return b.subarray(0, (await fh.read(b, 0, b.length, 0)).bytesRead);
  } finally {
    await fh.close();
  }
}

export class TeamService {
  private readonly log: Logger;

  constructor(
    private readonly keys: TeamKeys,
    opts: { logger?: Logger } = {},
  ) {
    this.log = opts.logger ?? nullLogger;
  }

  /**
   * The plaintext of a file for a diff: a sealed blob unsealed, a file of values with every value
   * unsealed in its place (conflict markers kept), a text's armored values unsealed, anything else as
   * it is. In memory only.
   */
  async textconv(file: string, bytes?: Buffer, o: { signal?: AbortSignal; policies?: PolicyCache } = {}): Promise<Buffer> {
    const b = bytes ?? (await readBytes(file));
    const k = await classify(file, b, o.policies);
    if (k.kind === 'blob') {
      const blob = blobOf(b, k);
      return (await (await engine()).unsealBuffer(blob, { resolve: this.keys.resolve, signal: o.signal })).plaintext;
    }
    if (k.kind === 'values') {
      const r = await unsealValues(b.toString('utf8'), { format: k.format, name: file, resolve: this.keys.resolve, signal: o.signal });
      return Buffer.from(r.text, 'utf8');
    }
    if (k.kind === 'armored-text') return this.unsealArmoredText(file, b, o.signal);
    return b;
  }

  /** Every kmsenv:v1: value of a text unsealed in its place (one Decrypt per data key, through a cache made for this call). */
  private async unsealArmoredText(file: string, b: Buffer, signal?: AbortSignal): Promise<Buffer> {
    const [{ scanArmored }, { unsealBuffer }, { bulkUnsealMaterials }] = await Promise.all([
      import('../envelope/sniff.js'),
      engine(),
      import('../envelope/cache.js'),
    ]);
    const found = await scanArmored(
      (async function* () {
        yield b;
      })(),
      file,
    );
    const materials = bulkUnsealMaterials(this.keys.resolve, signal);
    const parts: Buffer[] = [];
    let at = 0;
    for (const v of found) {
      const { plaintext } = await unsealBuffer(dearmor(v.text), { resolve: this.keys.resolve, signal, materials });
      parts.push(b.subarray(at, v.offset), plaintext);
      at = v.end;
    }
    parts.push(b.subarray(at));
    return Buffer.concat(parts);
  }

  /**
   * git's merge driver: `base`, `ours`, `theirs` are the three versions' bytes (sealed or not), `file`
   * the path (for the policy and messages). Returns what to write to ours' file: sealed to ours'
   * recipients and context (a file of values keeps ours' header), with conflict markers inside the
   * sealed content when both sides changed the same lines.
   */
  async merge(
    base: Buffer,
    ours: Buffer,
    theirs: Buffer,
    file: string,
    o: { labels?: MergeLabels; signal?: AbortSignal } = {},
  ): Promise<{ output: Buffer; conflicts: number; kind: 'file' | 'values' | 'text' }> {
    const policies = new PolicyCache();
    const kinds = await Promise.all([base, ours, theirs].map((b) => classify(file, b, policies)));
    const labels = o.labels ?? { ours: `ours (${path.basename(file)})`, theirs: `theirs (${path.basename(file)})` };
    const valuesFormat = kinds.find((k): k is { kind: 'values'; format: ValuesFormat } => k.kind === 'values')?.format;
    if (valuesFormat && !kinds.some((k) => k.kind === 'blob')) {
      const rule = await policies.ruleOf(file);
      const r = await mergeValues(base.toString('utf8'), ours.toString('utf8'), theirs.toString('utf8'), {
        format: valuesFormat,
        name: file,
        resolve: this.keys.resolve,
        select: (s) => !!rule && ruleSelects(rule, s),
        labels,
        signal: o.signal,
      });
      return { output: Buffer.from(r.text, 'utf8'), conflicts: r.conflicts, kind: 'values' };
    }
    if (!kinds.some((k) => k.kind === 'blob')) {
      const r = merge3(base.toString('latin1'), ours.toString('latin1'), theirs.toString('latin1'), labels);
      return { output: Buffer.from(r.text, 'latin1'), conflicts: r.conflicts, kind: 'text' };
    }
    const { unsealBuffer, sealBuffer } = await engine();
    const opened: Array<{ plain: Buffer; header?: HeaderInfo; armored: boolean }> = [];
    try {
      for (const [i, b] of [base, ours, theirs].entries()) {
        const k = kinds[i]!;
        if (k.kind !== 'blob') {
          opened.push({ plain: b, armored: false });
          continue;
        }
        const blob = blobOf(b, k);
        const r = await unsealBuffer(blob, { resolve: this.keys.resolve, signal: o.signal });
        opened.push({ plain: r.plaintext, header: r.header, armored: k.form === 'armored' });
      }
      const [O, A, B] = opened as [(typeof opened)[0], (typeof opened)[0], (typeof opened)[0]];
      const ref = A.header ? A : B.header ? B : O;
      if (A.plain.equals(B.plain) || B.plain.equals(O.plain)) return { output: ours, conflicts: 0, kind: 'file' };
      let plain: Buffer;
      let conflicts = 0;
      if (A.plain.equals(O.plain)) plain = B.plain;
      else if ([O, A, B].some((x) => x.plain.includes(0))) {
        // Binary plaintext changed on both sides: keep ours, report the conflict (what git does for binaries).
        return { output: ours, conflicts: 1, kind: 'file' };
      } else {
        const r = merge3(O.plain.toString('latin1'), A.plain.toString('latin1'), B.plain.toString('latin1'), labels);
        plain = Buffer.from(r.text, 'latin1');
        conflicts = r.conflicts;
      }
      const recipients = await this.keys.recipientsFor(ref.header!.recipients, o.signal);
      try {
        const sealed = await sealBuffer(plain, {
          recipients,
          context: ref.header!.context,
          frameLength: ref.header!.frameLength,
          signal: o.signal,
        });
        return { output: ref.armored ? Buffer.from(armor(sealed) + '\n', 'utf8') : sealed, conflicts, kind: 'file' };
      } finally {
        plain.fill(0);
      }
    } finally {
      for (const x of opened) if (x.header) x.plain.fill(0);
    }
  }

  /**
   * The leak guard: for each file, values the policy selects that are still plaintext, and sealed
   * entries that are broken (a blob or header that does not parse, records without a header, a
   * malformed record). `files` may carry the bytes to check (the staged version). No KMS call.
   */
  async check(files: Array<{ file: string; bytes?: Buffer }>, policies = new PolicyCache()): Promise<Finding[]> {
    const out: Finding[] = [];
    const { parseHeaderFields } = await import('../envelope/header.js');
    const { DEFAULT_MAX_RECIPIENTS } = await import('../envelope/message.js');
    for (const { file, bytes } of files) {
      const b = bytes ?? (await headOrAll(file));
      const k = await classify(file, b, policies);
      const rule = await policies.ruleOf(file);
      const broken = (line: number, key: string, reason: string) => out.push({ file, line, key, kind: 'broken', reason });
      if (k.kind === 'blob') {
        try {
          const blob = blobOf(b, k);
          if (!parseHeaderFields(blob, DEFAULT_MAX_RECIPIENTS, { signed: true }))
            broken(1, '(file)', 'the sealed file is cut short inside its header');
        } catch (err) {
          broken(1, '(file)', (err as Error).message);
        }
        continue;
      }
      if (b.length > TEXT_LIMIT) continue;
      const format = k.kind === 'values' ? k.format : rule ? (rule.format ?? formatFromName(file)) : undefined;
      if (format && (k.kind === 'values' || rule)) {
        const text = b.toString('utf8');
        for (const f of checkValues(text, { format, name: file, select: (s) => !!rule && ruleSelects(rule, s) }))
          out.push({ file, line: f.line, key: f.path, kind: f.kind, reason: f.reason });
        continue;
      }
      if (k.kind === 'armored-text') {
        const { scanArmored } = await import('../envelope/sniff.js');
        for (const v of await scanArmored(
          (async function* () {
            yield b;
          })(),
          file,
        )) {
          try {
            parseHeaderFields(dearmor(v.text), DEFAULT_MAX_RECIPIENTS, { signed: true });
          } catch (err) {
            broken(v.line, 'kmsenv:v1:', (err as Error).message);
          }
        }
      }
    }
    return out;
  }

  /** Per recipient key, the files and values that name it, from headers only. No KMS call. */
  async scan(files: string[], policies = new PolicyCache()): Promise<KeyUsage[]> {
    const byKey = new Map<string, KeyUsage>();
    const add = (r: RecipientInfo, file: string, kind: 'file' | 'values', values: number) => {
      const key = recipientLabel(r);
      let u = byKey.get(key);
      if (!u) byKey.set(key, (u = { key, recipient: r, files: [], fileCount: 0, valueCount: 0 }));
      const f = u.files.find((x) => x.file === file);
      if (f) f.values += values;
      else {
        u.files.push({ file, kind, values });
        u.fileCount++;
      }
      u.valueCount += values;
    };
    const { readSealedHeader } = await rewrapModule();
    const { inspect } = await engine();
    for (const file of files) {
      let b: Buffer;
      try {
        b = await headOrAll(file);
      } catch {
        continue;
      }
      const k = await classify(file, b, policies);
      try {
        if (k.kind === 'blob') {
          const { info } = await readSealedHeader(file);
          for (const r of info.recipients) add(r, file, 'file', 0);
        } else if (k.kind === 'values') {
          const v = inspectValues(b.toString('utf8'), { format: k.format, name: file });
          for (const r of v.header?.recipients ?? []) add(r, file, 'values', v.records.length);
        }
        if (k.kind === 'values' || k.kind === 'armored-text') {
          const { scanArmored } = await import('../envelope/sniff.js');
          for (const v of await scanArmored(
            (async function* () {
              yield b;
            })(),
            file,
          )) {
            const info = await inspect(dearmor(v.text));
            for (const r of info.recipients) add(r, file, 'values', 1);
          }
        }
      } catch (err) {
        this.log.warn(`scan: ${displayPath(file)} skipped: ${(err as Error).message}`);
      }
    }
    return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /**
   * Re-wraps one file in place (atomically): a sealed file for the new recipients (one Decrypt, one
   * Encrypt per new cloud recipient; the body re-encrypted under a new message id, see rewrap.ts), a
   * file of sealed values its header line only. `rotate`: a fresh data key. `dryRun`: only the plan
   * (no KMS call). Unchanged recipients: nothing is written and no KMS is called.
   */
  async rewrap(
    file: string,
    change: RecipientChange,
    o: { rotate?: boolean; dryRun?: boolean; signal?: AbortSignal } = {},
  ): Promise<RewrapChange> {
    const { readSealedHeader, rewrapSealedFile, planIsIdentity } = await rewrapModule();
    const b = await headOrAll(file);
    const k = await classify(file, b);
    let current: RecipientInfo[];
    if (k.kind === 'blob') current = (await readSealedHeader(file)).info.recipients;
    else if (k.kind === 'values') {
      const v = inspectValues(b.toString('utf8'), { format: k.format, name: file });
      current = v.header?.recipients ?? [];
    } else
      throw usageError(
        `${displayPath(file)} is neither a sealed file nor a file of sealed values.`,
        ['Seal it first: the whole file (', { action: 'seal', file }, '), or its values (', { action: 'seal', file, values: true }, ').'],
        { file },
      );
    const { plan, after } = planFor(current, change);
    const before = current.map(recipientLabel);
    const kind = k.kind === 'blob' ? 'file' : 'values';
    const changed = !!o.rotate || !planIsIdentity(plan, current.length);
    if (!plan.next.length)
      throw usageError(`Re-wrapping ${displayPath(file)} would leave no recipient.`, 'Keep one key, or add one.', { file });
    if (!changed || o.dryRun) return { file, kind, before, after, changed, rotated: !!o.rotate };
    if (o.rotate) {
      // A fresh data key needs every recipient's provider (kept ones too).
      const infos = plan.next.map((e) => ('keep' in e ? current[e.keep]! : undefined));
      const needed = infos.filter((x): x is RecipientInfo => !!x);
      const providers = await this.keys.recipientsFor(needed, o.signal);
      let n = 0;
      plan.next = plan.next.map((e) => ('keep' in e ? { keep: e.keep, recipient: e.recipient ?? providers[n++]! } : e));
    }
    if (k.kind === 'blob') {
      await rewrapSealedFile(file, plan, { resolve: this.keys.resolve, rotate: o.rotate, signal: o.signal });
    } else {
      const text = b.toString('utf8');
      const r = o.rotate
        ? await rotateValues(text, {
            format: k.format,
            name: file,
            resolve: this.keys.resolve,
            recipients: plan.next.map((e) => ('add' in e ? e.add : e.recipient!)),
            signal: o.signal,
          })
        : await rewrapValuesKeeping(text, { format: k.format, name: file, resolve: this.keys.resolve, plan, signal: o.signal });
      const { writeFileAtomic } = await import('../atomic.js');
      await writeFileAtomic(file, r.text, (await fsp.stat(file)).mode & 0o777);
    }
    this.log.info(`Re-wrapped ${file}: ${before.join(', ')} → ${after.join(', ')}${o.rotate ? ' (new data key)' : ''}.`);
    return { file, kind, before, after, changed: true, rotated: !!o.rotate };
  }
}

/** The recipients a file names, from its header (no KMS call); undefined when it is not sealed. */
export async function recipientsOfFile(file: string): Promise<RecipientInfo[] | undefined> {
  const b = await headOrAll(file).catch(() => undefined);
  if (!b) return undefined;
  const k = await classify(file, b);
  if (k.kind === 'blob') return (await (await rewrapModule()).readSealedHeader(file)).info.recipients;
  if (k.kind === 'values') return inspectValues(b.toString('utf8'), { format: k.format, name: file }).header?.recipients;
  return undefined;
}

/**
 * Seal and unseal the values of a config file (YAML, JSON/JSONC, .env) in its text, by policy.
 *
 * - Only the bytes of the chosen values change (plus one header line); comments, order, quoting and
 *   formatting stay, and unsealing gives back the original file byte for byte.
 * - One KMS call per file: sealing N values of a new file is one GenerateDataKey (+1 Encrypt per further
 *   recipient); sealing more values into a file that has a header, or unsealing it, is one Decrypt.
 * - Stable output: a value already sealed is never sealed again. `seal` keeps every record of the file
 *   as it is and seals only the plaintext values the policy selects, so replacing one sealed value with
 *   its new plaintext and sealing again changes one line. A ValuesSession (the editor's decrypted view)
 *   keeps each record whose plaintext did not change, and writes nothing when nothing changed.
 * - Each value is bound to its key path: a record moved or copied to another key refuses to unseal,
 *   naming both paths when the other one is in the same file.
 *
 * The crypto is in records.ts, the formats in formats/, the policy in policy.ts.
 */
import { ARMOR_PREFIX, dearmor } from '../envelope/armor';
import type { HeaderInfo, ProviderResolver, Recipient } from '../envelope/types';
import { FORMAT_HINTS, formatError, throwIfAborted, type KmsEnvelopeError } from '../errors';
import type { EncryptionContext } from '../kms/types';
import { parseHeaderFields } from '../envelope/header';
import { DEFAULT_MAX_RECIPIENTS } from '../envelope/message';
import type { RewrapPlan } from '../envelope/rewrap';
import { merge3, splitConflicts, type MergeLabels } from '../git/diff3';
import { HEADER_PREFIX, PATH_KEY, RECORD_PREFIX, RESERVED_VALUES_PREFIX, isRecordToken } from './constants';
import { HEADER_KEY, applyEdits, lineCol, parseValues, type Edit, type ParsedValues, type ValueSlot, type ValuesFormat } from './formats';
import { FileKey, parseHeader } from './records';

/** The engine for buffers (standalone `kmsenv:v1:` values), loaded on first use like the services do. */
const engine = () => import('../envelope/engine.js');

export interface ValuesFileOptions {
  format: ValuesFormat;
  /** How the file is named in messages. */
  name: string;
  signal?: AbortSignal;
}

export interface SealValuesOptions extends ValuesFileOptions {
  /** Which plaintext values to seal (the policy rule: ruleSelects). */
  select: (slot: ValueSlot) => boolean;
  /** The recipients, asked for only when the file has no header yet (the first one generates the data key). */
  recipients: () => Promise<Recipient[]>;
  /** Opens the existing header (one Decrypt) when there is one. */
  resolve: ProviderResolver;
  /** Extra encryption context for a new header (the rule's `context`). */
  context?: EncryptionContext;
}

export interface SealValuesResult {
  text: string;
  /** False when nothing was sealed: `text` is the input and no KMS was called. */
  changed: boolean;
  /** Key paths sealed now. */
  sealed: string[];
  /** Records the file already had (kept byte for byte). */
  kept: number;
  /** The file's header; undefined when nothing is sealed. */
  header?: HeaderInfo;
  /** Whether a new header (a new data key) was written. */
  newHeader: boolean;
}

export interface UnsealValuesOptions extends ValuesFileOptions {
  resolve: ProviderResolver;
  /** Each k=v must be in the header's (or a standalone value's) context, checked before any KMS call. */
  context?: EncryptionContext;
}

export interface UnsealValuesResult {
  text: string;
  /** Key paths unsealed from records. */
  records: string[];
  /** Key paths unsealed from standalone `kmsenv:v1:` values (one KMS call each). */
  standalone: string[];
  header?: HeaderInfo;
}

/** A slot's identity across edits: its path and which occurrence of that path it is. */
function slotIds(slots: ValueSlot[]): string[] {
  const seen = new Map<string, number>();
  return slots.map((s) => {
    const n = seen.get(s.pathText) ?? 0;
    seen.set(s.pathText, n + 1);
    return `${s.pathText}\u0000${n}`;
  });
}

const isStandalone = (s: ValueSlot) => !!s.value?.includes(ARMOR_PREFIX) || s.raw.includes(ARMOR_PREFIX);
const isRecord = (s: ValueSlot) => isRecordToken(s.value) || isRecordToken(s.raw);
const recordToken = (s: ValueSlot) => (isRecordToken(s.value) ? s.value : s.raw);

/** How a record token is written in place of a value. */
function writeToken(format: ValuesFormat, token: string): string {
  return format === 'json' ? JSON.stringify(token) : token;
}

function parse(text: string, o: ValuesFileOptions): ParsedValues {
  const doc = parseValues(text, o.format, o.name);
  if (doc.header && !doc.header.token.startsWith(HEADER_PREFIX)) {
    throw formatError(`${o.name}: the kms-envelope header entry does not start with ${HEADER_PREFIX}.`, FORMAT_HINTS.modified, {
      file: o.name,
    });
  }
  const records = doc.slots.filter(isRecord);
  if (records.length && !doc.header) {
    throw formatError(
      `${o.name} has ${records.length} sealed value${records.length > 1 ? 's' : ''} (${records[0]!.pathText}${records.length > 1 ? ', …' : ''}) but no kms-envelope header entry, so they cannot be opened.`,
      'Restore the header line the file was sealed with (git shows it), or get the file again.',
      { file: o.name },
    );
  }
  return doc;
}

/**
 * Opens every record of the document with the key; a record that fails is looked for under every other
 * key path of the file, so the error names where it was sealed. Returns the plaintexts in slot order.
 */
function openRecords(doc: ParsedValues, key: FileKey, name: string): Map<ValueSlot, string> {
  const out = new Map<ValueSlot, string>();
  const failures: string[] = [];
  const candidates = [...new Set(doc.slots.flatMap((s) => [s.pathText]))];
  for (const s of doc.slots.filter(isRecord)) {
    const token = recordToken(s);
    const raw = key.open(s.pathText, token);
    if (raw !== undefined) {
      out.set(s, raw);
      continue;
    }
    const from = candidates.find((p) => p !== s.pathText && key.open(p, token) !== undefined);
    failures.push(
      from
        ? `the value at ${s.pathText} was sealed for ${from}: it was moved or copied there`
        : `the value at ${s.pathText} was not sealed for this place in this file (copied from another file or key, or modified)`,
    );
  }
  if (failures.length) {
    throw formatError(
      `${name}: ${failures.length === 1 ? failures[0] : `${failures.length} sealed values are not where they were sealed:\n  - ${failures.join('\n  - ')}`}.`,
      'A sealed value only opens at the key path it was sealed for. Move it back, or replace it with its plaintext and seal the values again where it now is.',
      { file: name },
    );
  }
  return out;
}

/**
 * Re-parses sealed output before it is handed back: the header and every record written must be found
 * at their key paths, so a file the format reads differently than expected is never written.
 */
function checkSealed(text: string, o: ValuesFileOptions, header: string, written: Map<string, string>): void {
  const doc = parseValues(text, o.format, o.name);
  const bad = (why: string) => new Error(`${o.name}: ${why} after sealing (internal error; the file was not written)`);
  if (doc.header?.token !== header) throw bad('the header entry is not found');
  const found = new Map<string, string>();
  for (const s of doc.slots) if (isRecord(s)) found.set(s.pathText, recordToken(s));
  for (const [path, token] of written) if (found.get(path) !== token) throw bad(`the sealed value of ${path} is not found`);
}

/**
 * Seals the values the policy selects that are still plaintext; records already in the file are
 * checked (they must open at their path) and kept byte for byte. Nothing to seal: no KMS call, same text.
 */
export async function sealValues(text: string, o: SealValuesOptions): Promise<SealValuesResult> {
  throwIfAborted(o.signal);
  const doc = parse(text, o);
  const toSeal = doc.slots.filter((s) => !isRecord(s) && !isStandalone(s) && o.select(s));
  const kept = doc.slots.filter(isRecord).length;
  if (!toSeal.length) {
    return {
      text,
      changed: false,
      sealed: [],
      kept,
      header: doc.header ? parseHeader(doc.header.token).info : undefined,
      newHeader: false,
    };
  }
  const key = doc.header
    ? await FileKey.open(doc.header.token, { resolve: o.resolve, signal: o.signal })
    : await FileKey.create(await o.recipients(), o.context, o.signal);
  try {
    openRecords(doc, key, o.name);
    const written = new Map<string, string>();
    const edits: Edit[] = toSeal.map((s) => {
      const token = key.seal(s.pathText, s.raw);
      written.set(s.pathText, token);
      return { start: s.start, end: s.end, text: writeToken(o.format, token) };
    });
    if (!doc.header) edits.push(doc.insertHeader(key.header));
    const out = applyEdits(text, edits);
    checkSealed(out, o, key.header, written);
    throwIfAborted(o.signal);
    return { text: out, changed: true, sealed: toSeal.map((s) => s.pathText), kept, header: key.info, newHeader: !doc.header };
  } finally {
    key.dispose();
  }
}

interface Opened {
  /** Key paths sealed on either side of a text with conflict markers (its slots have no ids). */
  sealedPaths?: Set<string>;
  text: string;
  records: string[];
  standalone: string[];
  header?: HeaderInfo;
  key?: FileKey;
  /** Each value that was sealed, by slot id in the UNSEALED text: its plaintext as written and its record (none for a standalone value). */
  known: Map<string, { raw: string; token?: string }>;
}

/**
 * Opens a text with git conflict markers (a merge left them, `kms-envelope merge`): each side is parsed
 * on its own, its records opened at their key paths, and every value put back in its place in the
 * conflicted text, so the markers show around plaintext. Standalone values stay as they are.
 */
async function openConflicted(
  text: string,
  sides: NonNullable<ReturnType<typeof splitConflicts>>,
  o: UnsealValuesOptions,
): Promise<Opened> {
  const edits = new Map<number, Edit>();
  const keys = new Map<string, FileKey>();
  const records = new Set<string>();
  let header: HeaderInfo | undefined;
  try {
    for (const side of [sides.ours, sides.theirs]) {
      const doc = parse(side.text, o);
      if (!doc.header) continue;
      const token = doc.header.token;
      let key = keys.get(token);
      if (!key && doc.slots.some(isRecord)) {
        key = await FileKey.open(token, { resolve: o.resolve, context: o.context, signal: o.signal });
        keys.set(token, key);
      }
      header ??= key?.info ?? parseHeader(token).info;
      const rm = doc.header.remove;
      edits.set(side.origin(rm.start), { start: side.origin(rm.start), end: side.origin(rm.end, true), text: rm.text });
      if (!key) continue;
      for (const [slot, raw] of openRecords(doc, key, o.name)) {
        const start = side.origin(slot.start);
        edits.set(start, { start, end: side.origin(slot.end, true), text: raw });
        records.add(slot.pathText);
      }
    }
    const out = applyEdits(text, [...edits.values()]);
    const [first, ...rest] = [...keys.values()];
    for (const k of rest) k.dispose();
    throwIfAborted(o.signal);
    return { text: out, records: [...records], standalone: [], header, key: first, known: new Map(), sealedPaths: records };
  } catch (err) {
    for (const k of keys.values()) k.dispose();
    throw err;
  }
}

async function open(text: string, o: UnsealValuesOptions, forSession = false): Promise<Opened> {
  throwIfAborted(o.signal);
  const sides = splitConflicts(text);
  if (sides) return openConflicted(text, sides, o);
  const doc = parse(text, o);
  const records = doc.slots.filter(isRecord);
  const standalone = doc.slots.filter((s) => !isRecord(s) && isStandalone(s));
  let key: FileKey | undefined;
  if (records.length) key = await FileKey.open(doc.header!.token, { resolve: o.resolve, context: o.context, signal: o.signal });
  try {
    // Each edit that unseals a value remembers its slot, so the value can be found again in the output.
    const edits: Array<Edit & { slot?: ValueSlot; token?: string }> = [];
    if (key) {
      for (const [s, raw] of openRecords(doc, key, o.name))
        edits.push({ start: s.start, end: s.end, text: raw, slot: s, token: recordToken(s) });
    }
    for (const s of standalone) {
      // A standalone value replaces only its armored text (the quotes around it are the file's).
      const at = s.raw.indexOf(ARMOR_PREFIX);
      const armoredText = /^kmsenv:v1:[A-Za-z0-9+/=]*/.exec(s.raw.slice(at))![0];
      const { plaintext, header } = await (
        await engine()
      ).unsealBuffer(dearmor(armoredText), { resolve: o.resolve, context: o.context, signal: o.signal });
      try {
        const bound = header.context[PATH_KEY];
        if (bound !== undefined && bound !== s.pathText) {
          throw formatError(
            `${o.name}: the value at ${s.pathText} was sealed for ${bound}: it was moved or copied there.`,
            'A sealed value only opens at the key path it was sealed for. Move it back, or seal its plaintext again where it now is.',
            { file: o.name },
          );
        }
        edits.push({ start: s.start + at, end: s.start + at + armoredText.length, text: plaintext.toString('utf8'), slot: s });
      } finally {
        plaintext.fill(0);
      }
    }
    if (doc.header) edits.push(doc.header.remove);
    const out = applyEdits(text, edits);
    // Where each unsealed value is in the output (slot starts shift by the length change of earlier edits).
    const known = new Map<string, { raw: string; token?: string }>();
    if (forSession && edits.some((e) => e.slot)) {
      const after = parseValues(out, o.format, o.name);
      const ids = slotIds(after.slots);
      const at = new Map(after.slots.map((s, i) => [s.start, i]));
      let shift = 0;
      for (const e of [...edits].sort((a, b) => a.start - b.start)) {
        if (e.slot) {
          const i = at.get(e.slot.start + shift);
          if (i !== undefined) known.set(ids[i]!, { raw: after.slots[i]!.raw, token: e.token });
        }
        shift += e.text.length - (e.end - e.start);
      }
    }
    throwIfAborted(o.signal);
    return {
      text: out,
      records: records.map((s) => s.pathText),
      standalone: standalone.map((s) => s.pathText),
      header: key?.info ?? (doc.header ? parseHeader(doc.header.token).info : undefined),
      key,
      known,
    };
  } catch (err) {
    key?.dispose();
    throw err;
  }
}

/** Unseals every sealed value of the file (records: one Decrypt in all; standalone values: one each) and drops the header entry. */
export async function unsealValues(text: string, o: UnsealValuesOptions): Promise<UnsealValuesResult> {
  const opened = await open(text, o);
  opened.key?.dispose();
  return { text: opened.text, records: opened.records, standalone: opened.standalone, header: opened.header };
}

/**
 * A file's values opened for editing (the `kms-sealed:` editor): the plaintext text, and `seal` that
 * writes it back with no KMS call for a file that had a header — unchanged values keep their records,
 * an unchanged text gives back the same sealed text. Holds the file's data key until dispose().
 */
export class ValuesSession {
  private constructor(
    private readonly o: UnsealValuesOptions,
    private key: FileKey | undefined,
    private known: Map<string, { raw: string; token?: string }>,
    private lastPlain: string,
    private lastSealed: string,
    private readonly sealedPaths = new Set<string>(),
  ) {}

  /** Unseals the file's text (one Decrypt when it has records) and keeps its data key. */
  static async open(text: string, o: UnsealValuesOptions): Promise<{ session: ValuesSession; text: string; header?: HeaderInfo }> {
    const opened = await open(text, o, true);
    return {
      session: new ValuesSession(o, opened.key, opened.known, opened.text, text, opened.sealedPaths),
      text: opened.text,
      header: opened.header,
    };
  }

  /** The sealed text last read or written. */
  get sealedText(): string {
    return this.lastSealed;
  }

  /** The plaintext text that goes with sealedText. */
  get plainText(): string {
    return this.lastPlain;
  }

  /**
   * Seals `plain` again: values sealed before stay sealed (their records kept when the plaintext is
   * the same), values the policy selects are sealed too. `changed` is false (and no KMS is called)
   * when the plaintext is the one last opened or sealed. A file that had no header gets a new one
   * (one GenerateDataKey) the first time something is sealed.
   */
  async seal(
    plain: string,
    opts: Pick<SealValuesOptions, 'select' | 'recipients' | 'context'> & { signal?: AbortSignal },
  ): Promise<{ text: string; changed: boolean; sealed: string[]; reused: number }> {
    if (plain === this.lastPlain) return { text: this.lastSealed, changed: false, sealed: [], reused: 0 };
    const o = { ...this.o, signal: opts.signal };
    const sides = splitConflicts(plain);
    if (sides) return this.sealConflicted(plain, sides, opts);
    const doc = parse(plain, o);
    const ids = slotIds(doc.slots);
    const toSeal = doc.slots
      .map((s, i) => ({ s, id: ids[i]! }))
      .filter(
        ({ s, id }) => !isRecord(s) && !isStandalone(s) && (this.known.has(id) || this.sealedPaths.has(s.pathText) || opts.select(s)),
      );
    const records = doc.slots.filter(isRecord).length;
    if (!toSeal.length && !records) {
      this.lastPlain = plain;
      this.lastSealed = plain;
      return { text: plain, changed: true, sealed: [], reused: 0 };
    }
    if (doc.header && doc.header.token !== this.key?.header) {
      throw formatError(
        `${o.name}: a kms-envelope header entry was added by hand; remove it, the file's own header is added when it is saved.`,
        undefined,
        { file: o.name },
      );
    }
    this.key ??= await FileKey.create(await opts.recipients(), opts.context, opts.signal);
    openRecords(doc, this.key, o.name);
    const sealed: string[] = [];
    const written = new Map<string, string>();
    const known = new Map<string, { raw: string; token?: string }>();
    const edits: Edit[] = toSeal.map(({ s, id }) => {
      const old = this.known.get(id);
      let token = old?.raw === s.raw ? old.token : undefined;
      if (!token) {
        token = this.key!.seal(s.pathText, s.raw);
        sealed.push(s.pathText);
      }
      known.set(id, { raw: s.raw, token });
      written.set(s.pathText, token);
      return { start: s.start, end: s.end, text: writeToken(o.format, token) };
    });
    if (!doc.header) edits.push(doc.insertHeader(this.key.header));
    const out = applyEdits(plain, edits);
    checkSealed(out, o, this.key.header, written);
    this.known = known;
    this.lastPlain = plain;
    this.lastSealed = out;
    return { text: out, changed: true, sealed, reused: toSeal.length - sealed.length };
  }

  /**
   * Seals a text that still has conflict markers: each side's values sealed at their key paths (one
   * record for a value both sides share), mapped back into the conflicted text, so a conflict being
   * resolved in the editor can be saved without plaintext reaching the disk.
   */
  private async sealConflicted(
    plain: string,
    sides: NonNullable<ReturnType<typeof splitConflicts>>,
    opts: Pick<SealValuesOptions, 'select' | 'recipients' | 'context'> & { signal?: AbortSignal },
  ): Promise<{ text: string; changed: boolean; sealed: string[]; reused: number }> {
    const o = { ...this.o, signal: opts.signal };
    this.key ??= await FileKey.create(await opts.recipients(), opts.context, opts.signal);
    const memo = new Map<string, string>();
    const edits = new Map<string, Edit>();
    const sealed: string[] = [];
    for (const side of [sides.ours, sides.theirs]) {
      const doc = parse(side.text, o);
      if (doc.header && doc.header.token !== this.key.header) {
        throw formatError(
          `${o.name}: a kms-envelope header entry was added by hand; remove it, the file's own header is added when it is saved.`,
          undefined,
          {
            file: o.name,
          },
        );
      }
      openRecords(doc, this.key, o.name);
      for (const s of doc.slots) {
        if (isRecord(s) || isStandalone(s) || !(this.sealedPaths.has(s.pathText) || opts.select(s))) continue;
        const m = `${s.pathText}\u0000${s.raw}`;
        let token = memo.get(m);
        if (!token) {
          memo.set(m, (token = this.key.seal(s.pathText, s.raw)));
          sealed.push(s.pathText);
        }
        const start = side.origin(s.start);
        edits.set(`${start}`, { start, end: side.origin(s.end, true), text: writeToken(o.format, token) });
      }
      if (!doc.header) {
        const ins = doc.insertHeader(this.key.header);
        const at = side.origin(ins.start, true);
        edits.set(`h${at}`, { start: at, end: at, text: ins.text });
      }
    }
    const out = applyEdits(plain, [...edits.values()]);
    this.lastPlain = plain;
    this.lastSealed = out;
    return { text: out, changed: true, sealed, reused: 0 };
  }

  dispose(): void {
    this.key?.dispose();
    this.key = undefined;
  }
}

/** The file has no header entry: nothing in it is sealed by policy. */
function noHeader(name: string): KmsEnvelopeError {
  return formatError(`${name} has no kms-envelope header entry: none of its values is sealed by policy.`, 'Seal its values first.', {
    file: name,
  });
}

/**
 * Opens the file's header and checks every record opens, then writes the header `rewrap` makes of
 * its key in place of the old one: only the header line changes, every record stays byte for byte.
 */
async function rewrapHeader(
  text: string,
  o: ValuesFileOptions & { resolve: ProviderResolver },
  rewrap: (key: FileKey) => Promise<FileKey>,
): Promise<{ text: string; header: HeaderInfo }> {
  const doc = parse(text, o);
  if (!doc.header) throw noHeader(o.name);
  const key = await FileKey.open(doc.header.token, { resolve: o.resolve, signal: o.signal });
  try {
    openRecords(doc, key, o.name);
    const next = await rewrap(key);
    try {
      const out = applyEdits(text, [{ start: doc.header.start, end: doc.header.end, text: next.header }]);
      checkSealed(out, o, next.header, new Map());
      return { text: out, header: next.info };
    } finally {
      next.dispose();
    }
  } finally {
    key.dispose();
  }
}

/**
 * Re-wraps the file's header for other recipients or another context: one Decrypt, one Encrypt per cloud
 * recipient; only the header line changes, every record stays byte for byte.
 */
export function rewrapValues(
  text: string,
  o: ValuesFileOptions & { resolve: ProviderResolver; recipients: Recipient[]; context?: EncryptionContext },
): Promise<{ text: string; header: HeaderInfo }> {
  return rewrapHeader(text, o, (key) => key.rewrap(o.recipients, o.context, o.signal));
}

/** What a file holds, without any KMS call: its header (recipients, context) and where its sealed values are. */
export function inspectValues(
  text: string,
  o: Omit<ValuesFileOptions, 'signal'>,
): { header?: HeaderInfo; records: string[]; standalone: string[] } {
  const doc = parse(text, o);
  return {
    header: doc.header ? parseHeader(doc.header.token).info : undefined,
    records: doc.slots.filter(isRecord).map((s) => s.pathText),
    standalone: doc.slots.filter((s) => !isRecord(s) && isStandalone(s)).map((s) => s.pathText),
  };
}

/**
 * Re-wraps the file's header for the recipients of `plan`, keeping the data key, the file id and the
 * context: the EDKs of the recipients kept stay byte for byte, each new recipient costs one Encrypt; one
 * Decrypt opens the header. Only the header line changes; every record is checked to open first.
 */
export function rewrapValuesKeeping(
  text: string,
  o: ValuesFileOptions & { resolve: ProviderResolver; plan: RewrapPlan },
): Promise<{ text: string; header: HeaderInfo }> {
  return rewrapHeader(text, o, (key) => key.rewrapKeeping(o.plan, o.signal));
}

/**
 * Seals every sealed value of the file again under a fresh data key and file id (one Decrypt, then one
 * GenerateDataKey + one Encrypt per further recipient): every record and the header change. Standalone
 * `kmsenv:v1:` values are left as they are (each is its own message). The context stays.
 */
export async function rotateValues(
  text: string,
  o: ValuesFileOptions & { resolve: ProviderResolver; recipients: Recipient[] },
): Promise<{ text: string; header: HeaderInfo; sealed: string[] }> {
  const opened = await open(text, o, true);
  const context: EncryptionContext = {};
  for (const [k, v] of Object.entries(opened.header?.context ?? {})) if (!k.startsWith(RESERVED_VALUES_PREFIX)) context[k] = v;
  opened.key?.dispose();
  if (!opened.header) throw noHeader(o.name);
  const doc = parseValues(opened.text, o.format, o.name);
  const ids = slotIds(doc.slots);
  const toSeal = doc.slots.filter((_, i) => !!opened.known.get(ids[i]!)?.token);
  const key = await FileKey.create(o.recipients, context, o.signal);
  try {
    const written = new Map<string, string>();
    const edits: Edit[] = toSeal.map((s) => {
      const token = key.seal(s.pathText, s.raw);
      written.set(s.pathText, token);
      return { start: s.start, end: s.end, text: writeToken(o.format, token) };
    });
    edits.push(doc.insertHeader(key.header));
    const out = applyEdits(opened.text, edits);
    checkSealed(out, o, key.header, written);
    return { text: out, header: key.info, sealed: toSeal.map((s) => s.pathText) };
  } finally {
    key.dispose();
  }
}

/** A problem `check` reports in a file of values: a value the policy selects still in plaintext, or a broken sealed entry. */
export interface ValuesFinding {
  line: number;
  /** The key path (or `kms-envelope` for the header entry). */
  path: string;
  kind: 'plaintext' | 'broken';
  /** For broken entries: what is wrong. */
  reason?: string;
}

const RECORD_MIN_BYTES = 12 + 16;
const B64_BODY = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * What `check` finds in a file, without any KMS call: each value the policy selects that is still
 * plaintext, and each sealed entry that cannot be right (a header that does not parse, records with no
 * header, a record or standalone value that is not well-formed). Whether a well-formed record really
 * opens needs the data key (unseal shows that).
 */
export function checkValues(text: string, o: Omit<ValuesFileOptions, 'signal'> & { select: (s: ValueSlot) => boolean }): ValuesFinding[] {
  let doc: ParsedValues;
  try {
    doc = parseValues(text, o.format, o.name);
  } catch (err) {
    return [{ line: 1, path: '(file)', kind: 'broken', reason: err instanceof Error ? err.message : String(err) }];
  }
  const out: ValuesFinding[] = [];
  const lineOf = (offset: number) => lineCol(text, offset).line;
  if (doc.header) {
    try {
      parseHeader(doc.header.token);
    } catch (err) {
      out.push({ line: lineOf(doc.header.start), path: HEADER_KEY, kind: 'broken', reason: (err as Error).message });
    }
  }
  const records = doc.slots.filter(isRecord);
  if (records.length && !doc.header) {
    for (const s of records)
      out.push({
        line: lineOf(s.start),
        path: s.pathText,
        kind: 'broken',
        reason: 'a sealed value, but the file has no kms-envelope header entry',
      });
  }
  for (const s of doc.slots) {
    if (isRecord(s)) {
      const body = recordToken(s).trim().slice(RECORD_PREFIX.length);
      if (!B64_BODY.test(body) || Buffer.from(body, 'base64').length < RECORD_MIN_BYTES)
        out.push({
          line: lineOf(s.start),
          path: s.pathText,
          kind: 'broken',
          reason: 'the sealed value is not a well-formed kmsenv:f1: record',
        });
    } else if (isStandalone(s)) {
      const at = s.raw.indexOf(ARMOR_PREFIX);
      const armoredText = /^kmsenv:v1:[A-Za-z0-9+/=]*/.exec(s.raw.slice(at))![0];
      try {
        parseHeaderFields(dearmor(armoredText), DEFAULT_MAX_RECIPIENTS);
      } catch (err) {
        out.push({ line: lineOf(s.start), path: s.pathText, kind: 'broken', reason: (err as Error).message });
      }
    } else if (o.select(s)) {
      out.push({ line: lineOf(s.start), path: s.pathText, kind: 'plaintext' });
    }
  }
  return out.sort((a, b) => a.line - b.line);
}

/**
 * Three-way merge of a file of sealed values (`kms-envelope merge`): the three versions are opened
 * (one Decrypt each), and each is written back sealed under OURS' data key with one record per
 * (key path, plaintext) — the record ours already has, else one made once and shared — so a value
 * unchanged on a side has the same record there, and a line-wise diff3 of the sealed texts merges
 * exactly what the plaintexts would. Conflicts keep their markers around sealed records; plaintext is
 * never in the result. The header is ours'.
 */
export async function mergeValues(
  base: string,
  ours: string,
  theirs: string,
  o: ValuesFileOptions & { resolve: ProviderResolver; select: (s: ValueSlot) => boolean; labels?: MergeLabels },
): Promise<{ text: string; conflicts: number; header?: HeaderInfo }> {
  const opened: Opened[] = [];
  try {
    for (const t of [base, ours, theirs])
      opened.push(t.trim() ? await open(t, o, true) : { text: t, records: [], standalone: [], known: new Map() });
    const [O, A, B] = opened as [Opened, Opened, Opened];
    const key = A.key ?? B.key ?? O.key;
    if (!key) return merge3(base, ours, theirs, o.labels);
    const memo = new Map<string, Map<string, string>>();
    const seed = A.key ? A : B.key ? B : O;
    for (const [id, v] of seed.known) if (v.token) memo.set(id, new Map([[v.raw, v.token]]));
    const sealedIds = new Set<string>();
    for (const x of opened) for (const [id] of x.known) sealedIds.add(id);
    const canon = (plain: string) => {
      if (!plain.trim()) return plain;
      const doc = parseValues(plain, o.format, o.name);
      const ids = slotIds(doc.slots);
      const edits: Edit[] = [];
      doc.slots.forEach((s, i) => {
        const id = ids[i]!;
        if (isRecord(s) || isStandalone(s) || !(sealedIds.has(id) || o.select(s))) return;
        let byRaw = memo.get(id);
        if (!byRaw) memo.set(id, (byRaw = new Map()));
        let token = byRaw.get(s.raw);
        if (!token) byRaw.set(s.raw, (token = key.seal(s.pathText, s.raw)));
        edits.push({ start: s.start, end: s.end, text: writeToken(o.format, token) });
      });
      edits.push(doc.header ? { start: doc.header.start, end: doc.header.end, text: key.header } : doc.insertHeader(key.header));
      return applyEdits(plain, edits);
    };
    const merged = merge3(canon(O.text), canon(A.text), canon(B.text), o.labels);
    if (!merged.conflicts) openRecords(parse(merged.text, o), key, o.name);
    return { ...merged, header: key.info };
  } finally {
    for (const x of opened) x.key?.dispose();
  }
}

/**
 * Sealed config values as use-cases for the front doors (no vscode): seal / unseal a file's values by
 * its policy, open them for editing (a ValuesSession), and the environment a set of files gives a
 * process (`kms-envelope exec`, the extension's debug sessions).
 *
 * How keys are reached is the front door's business (the CLI builds providers from its options, the
 * extension goes through the KeyService's profiles): it hands in `ValuesKeys`.
 *
 * This module loads the values engine and with it the Encryption SDK: import it lazily from code that
 * runs at activation or CLI start-up.
 */
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from '../atomic';
import { usageError } from '../errors';
import type { ProviderResolver, Recipient } from '../envelope/types';
import type { EncryptionContext } from '../kms/types';
import type { Logger } from '../log';
import { nullLogger } from '../log';
import {
  ValuesSession,
  envFromText,
  findPolicy,
  formatFromName,
  formatOf,
  policyFor,
  rewrapValues,
  ruleFor,
  ruleSelects,
  sealValues,
  unsealValues,
  type PolicyRule,
  type SealValuesResult,
  type UnsealValuesResult,
  type ValueSlot,
  type ValuesFormat,
} from '../values';
import { readText } from '../read-file';

export interface ValuesKeys {
  /** Providers for the policy's keyrefs, in order (the first generates the data key). */
  recipients(keyrefs: string[], signal?: AbortSignal): Promise<Recipient[]>;
  /** Finds a provider for each recipient of a header on unseal. */
  resolve: ProviderResolver;
}

export interface ValuesCallOpts {
  signal?: AbortSignal;
}

/** What sealing a file needs from its policy rule. */
export interface SealPlan {
  rule: PolicyRule;
  format: ValuesFormat;
  select: (slot: ValueSlot) => boolean;
  recipients: () => Promise<Recipient[]>;
  context: EncryptionContext;
}

/** The file's own permissions, to keep them when it is rewritten in place (0600 for a new file). */
async function modeOf(file: string): Promise<number> {
  try {
    return (await fsp.stat(file)).mode & 0o777;
  } catch {
    return 0o600;
  }
}

export class ValuesService {
  private readonly log: Logger;

  constructor(
    private readonly keys: ValuesKeys,
    opts: { logger?: Logger } = {},
  ) {
    this.log = opts.logger ?? nullLogger;
  }

  /** The rule of the nearest .kms-envelope.yaml that matches the file, and what sealing with it needs. */
  async plan(file: string, o: ValuesCallOpts = {}): Promise<SealPlan> {
    const { rule } = await policyFor(file);
    return {
      rule,
      format: formatOf(file, rule.format),
      select: (s) => ruleSelects(rule, s),
      recipients: () => this.keys.recipients(rule.keys, o.signal),
      context: rule.context,
    };
  }

  /** The format of a file to unseal: by its name, else by the policy rule that matches it. */
  async formatFor(file: string): Promise<ValuesFormat> {
    const byName = formatFromName(file);
    if (byName) return byName;
    const policy = await findPolicy(file);
    const rule = policy && ruleFor(policy, file);
    return formatOf(file, rule?.format);
  }

  /** Seals the values the policy selects in `text` (the file's content, maybe unsaved). */
  async sealText(file: string, text: string, o: ValuesCallOpts = {}): Promise<SealValuesResult> {
    const p = await this.plan(file, o);
    return sealValues(text, {
      format: p.format,
      name: file,
      select: p.select,
      recipients: p.recipients,
      resolve: this.keys.resolve,
      context: p.context,
      signal: o.signal,
    });
  }

  /**
   * Seals a file's values by its policy and writes the result atomically to `output` (default: the
   * file itself, its permissions kept). Nothing to seal: nothing is written and no KMS is called.
   */
  async sealFile(file: string, o: ValuesCallOpts & { output?: string } = {}): Promise<SealValuesResult> {
    const r = await this.sealText(file, await readText(file), o);
    const target = o.output ?? file;
    if (r.changed || target !== file) await writeFileAtomic(target, r.text, await modeOf(target === file ? file : target));
    if (r.changed)
      this.log.info(`Sealed ${r.sealed.length} value(s) of ${file} (${r.kept} already sealed)${target !== file ? ` → ${target}` : ''}.`);
    return r;
  }

  /** Re-wraps the header of a sealed text for the policy's current keys and context: only the header line changes. */
  async rewrapText(file: string, text: string, o: ValuesCallOpts = {}): Promise<{ text: string; keys: string[] }> {
    const p = await this.plan(file, o);
    const r = await rewrapValues(text, {
      format: p.format,
      name: file,
      resolve: this.keys.resolve,
      recipients: await p.recipients(),
      context: p.context,
      signal: o.signal,
    });
    return { text: r.text, keys: p.rule.keys };
  }

  /** rewrapText on a file, written back atomically (its permissions kept) or to `output`. */
  async rewrapFile(file: string, o: ValuesCallOpts & { output?: string } = {}): Promise<{ text: string }> {
    const r = await this.rewrapText(file, await readText(file), o);
    const target = o.output ?? file;
    await writeFileAtomic(target, r.text, await modeOf(target));
    this.log.info(`Re-wrapped the header of ${file} for ${r.keys.join(', ')}.`);
    return r;
  }

  async unsealText(file: string, text: string, o: ValuesCallOpts & { context?: EncryptionContext } = {}): Promise<UnsealValuesResult> {
    return unsealValues(text, {
      format: await this.formatFor(file),
      name: file,
      resolve: this.keys.resolve,
      context: o.context,
      signal: o.signal,
    });
  }

  /** Unseals a file's values (one Decrypt) for editing in memory; the session seals them again by the policy. */
  async open(file: string, text: string, o: ValuesCallOpts = {}): Promise<{ session: ValuesSession; text: string }> {
    const { session, text: plain } = await ValuesSession.open(text, {
      format: await this.formatFor(file),
      name: file,
      resolve: this.keys.resolve,
      signal: o.signal,
    });
    return { session, text: plain };
  }

  /** Seals an edited text of a session by the file's policy: no KMS call for a file that has a header, nothing when unchanged. */
  async sealEdited(
    file: string,
    session: ValuesSession,
    plain: string,
    o: ValuesCallOpts = {},
  ): Promise<{ text: string; changed: boolean; sealed: string[] }> {
    const p = await this.plan(file, o);
    return session.seal(plain, { select: p.select, recipients: p.recipients, context: p.context, signal: o.signal });
  }

  /**
   * The environment variables the files give a process, their sealed values unsealed in memory (one
   * Decrypt per file with sealed values); later files win.
   */
  async env(files: string[], o: ValuesCallOpts & { context?: EncryptionContext } = {}): Promise<Record<string, string>> {
    if (!files.length) throw usageError('No file given to take environment variables from.');
    const out: Record<string, string> = {};
    for (const file of files) {
      const format = await this.formatFor(file);
      const opened = await unsealValues(await readText(file), {
        format,
        name: file,
        resolve: this.keys.resolve,
        context: o.context,
        signal: o.signal,
      });
      for (const [k, v] of envFromText(opened.text, format, file)) out[k] = v;
    }
    return out;
  }
}

/**
 * Seal / unseal use-cases the extension needs, over the envelope engine and the KeyService's
 * provider instances (no vscode):
 *
 * - text: a selection becomes one armored line and back;
 * - files: `<name>.sealed` and back, atomic (the engine writes through src/core/atomic.ts);
 * - openForEditing + reseal: a blob opened for the editor keeps its data key in memory, so saving
 *   seals again to the SAME recipients and context locally (no KMS call); reseal() is the KMS path
 *   for when no key is held;
 * - rewrap: a blob sealed again to other keys, or with a recipient added (same context).
 *
 * A key is named by a KeyTarget: a keyref plus, for clouds, the profile whose credentials reach it
 * (a keyref names provider, region and key but not the account). Without a profile the provider's
 * default profile is used (KeyService.defaultProfile).
 */
import { credentialsError, formatError, usageError } from '../errors';
import { armor, dearmor } from '../envelope/armor';
import type { ResealKey } from '../envelope/reseal';
import type { HeaderInfo, ProviderResolver, Recipient } from '../envelope/types';

/**
 * The engine (and with it @aws-crypto/client-node, ~150 ms to load) is imported on first use, so
 * the extension's activation does not pay for it.
 */
const engine = () => import('../envelope/engine.js');
import { formatKeyRef, parseKeyRef } from '../keyref';
import { findProvider, providerLabel } from '../kms/registry';
import type { EncryptionContext, ProviderName } from '../kms/types';
import type { Logger } from '../log';
import { nullLogger } from '../log';
import type { KeyService } from './key-service';

export interface KeyTarget {
  provider: ProviderName;
  region: string;
  /** Key id or alias. */
  key: string;
  /** Cloud profile; the provider's default profile when absent. */
  profile?: string;
  /** How to show the key (its alias), for pickers; not used to find it. */
  label?: string;
}

export function targetFromKeyref(keyref: string, profile?: string): KeyTarget {
  const r = parseKeyRef(keyref);
  return { provider: r.provider, region: r.region, key: r.key, ...(profile ? { profile } : {}) };
}

export function keyrefOf(t: KeyTarget): string {
  return formatKeyRef({ provider: t.provider, region: t.region, key: t.key });
}

/**
 * How progress and messages name a key: its alias (the target's label) where known, else what the
 * keyref holds, and where it is: "team-key (local)", "app-config (Tencent Cloud ap-guangzhou)".
 */
export function targetName(t: KeyTarget): string {
  const d = findProvider(t.provider);
  const where = d && !d.credentials && d.regions.fixed?.length === 1 ? t.region : `${d?.vendor ?? t.provider} ${t.region}`;
  return `${t.label ?? t.key} (${where})`;
}

export function targetLabel(t: KeyTarget): string {
  return `${keyrefOf(t)}${t.profile && findProvider(t.provider)?.credentials ? ` (profile ${t.profile})` : ''}`;
}

export interface EnvelopeServiceOptions {
  /** Plaintext bytes per frame (settings), or undefined for the engine's default. */
  frameLength?: () => number | undefined;
  logger?: Logger;
}

export interface CallOpts {
  signal?: AbortSignal;
  onProgress?: (bytes: number) => void;
}

export class EnvelopeService {
  private readonly log: Logger;

  constructor(
    private readonly keys: KeyService,
    private readonly opts: EnvelopeServiceOptions = {},
  ) {
    this.log = opts.logger ?? nullLogger;
  }

  /** A key's alias where a loaded listing knows it (no KMS call). */
  aliasOf: AliasLookup = (provider, region, keyId) => this.keys.aliasOf(provider, region, keyId);

  /** Provider instances for the targets (first one generates the data key). */
  async recipients(targets: KeyTarget[]): Promise<Recipient[]> {
    if (!targets.length) throw usageError('No key chosen to seal with.', 'Pick a key, or set kmsEnvelope.defaultKey.');
    const out: Recipient[] = [];
    for (const t of targets) {
      const profile = t.profile ?? (await this.keys.defaultProfile(t.provider));
      if (!profile) {
        throw credentialsError(
          `No ${providerLabel(t.provider)} profile is set up, so ${keyrefOf(t)} cannot be reached.`,
          'Add a profile (KMS Envelope: Add Profile) or pick a key of a provider you have a profile for.',
          { provider: t.provider, region: t.region, keyId: t.key },
        );
      }
      out.push({ provider: await this.keys.getProvider({ provider: t.provider, profile }), region: t.region, key: t.key });
    }
    return out;
  }

  /** Resolver for unseal: each recipient's provider through its default profile; undefined when there is none. */
  resolver(): ProviderResolver {
    return async (name, _region) => {
      const profile = await this.keys.defaultProfile(name);
      if (!profile) return undefined;
      return this.keys.getProvider({ provider: name, profile });
    };
  }

  async sealBytes(plaintext: Uint8Array, targets: KeyTarget[], context: EncryptionContext | undefined, o: CallOpts = {}): Promise<Buffer> {
    const recipients = await this.recipients(targets);
    return (await engine()).sealBuffer(plaintext, { recipients, context, frameLength: this.opts.frameLength?.(), signal: o.signal });
  }

  /** One armored line for a piece of text. */
  async sealText(text: string, targets: KeyTarget[], context: EncryptionContext | undefined, o: CallOpts = {}): Promise<string> {
    const plain = Buffer.from(text, 'utf8');
    try {
      return armor(await this.sealBytes(plain, targets, context, o));
    } finally {
      plain.fill(0);
    }
  }

  async unsealBytes(blob: Uint8Array, o: CallOpts = {}): Promise<{ plaintext: Buffer; header: HeaderInfo }> {
    return (await engine()).unsealBuffer(blob, { resolve: this.resolver(), signal: o.signal });
  }

  /** Text of an armored blob (UTF-8). */
  async unsealText(armored: string, o: CallOpts = {}): Promise<{ text: string; header: HeaderInfo }> {
    const { plaintext, header } = await this.unsealBytes(dearmor(armored), o);
    try {
      return { text: plaintext.toString('utf8'), header };
    } finally {
      plaintext.fill(0);
    }
  }

  async sealFile(
    input: string,
    output: string,
    targets: KeyTarget[],
    context: EncryptionContext | undefined,
    o: CallOpts = {},
  ): Promise<HeaderInfo> {
    const recipients = await this.recipients(targets);
    this.log.info(`Sealing ${input} → ${output} for ${targets.map(keyrefOf).join(', ')}`);
    return (await engine()).sealFile(input, output, {
      recipients,
      context,
      frameLength: this.opts.frameLength?.(),
      signal: o.signal,
      onProgress: o.onProgress,
    });
  }

  async unsealFile(input: string, output: string, o: CallOpts = {}): Promise<HeaderInfo> {
    this.log.info(`Unsealing ${input} → ${output}`);
    return (await engine()).unsealFile(input, output, { resolve: this.resolver(), signal: o.signal, onProgress: o.onProgress });
  }

  /** The header's recipients as targets, in header order (the first generates the data key on reseal). */
  static targetsOf(header: HeaderInfo): KeyTarget[] {
    return header.recipients.map((r) => {
      if (!r.provider) {
        throw formatError(
          `The blob has a recipient of an unknown provider "${r.providerId}", so it cannot be sealed again to the same keys.`,
          'Re-wrap it to keys you can reach (KMS Envelope: Re-wrap Sealed File).',
        );
      }
      return { provider: r.provider, region: r.region, key: r.keyId };
    });
  }

  /**
   * Unseals a blob for editing (one Decrypt) and keeps its data key, so that every later save of the
   * same content seals locally, with no KMS call (src/core/envelope/reseal.ts). `key` is undefined for
   * a message of another algorithm suite (then saving goes through reseal()). The caller disposes the key.
   */
  async openForEditing(blob: Uint8Array, o: CallOpts = {}): Promise<{ plaintext: Buffer; header: HeaderInfo; key?: ResealKey }> {
    return (await import('../envelope/reseal.js')).ResealKey.open(blob, { resolve: this.resolver(), signal: o.signal });
  }

  /** Seals plaintext to the same recipients and context as `header` (saving a sealed file). */
  async reseal(plaintext: Uint8Array, header: HeaderInfo, o: CallOpts = {}): Promise<Buffer> {
    return this.sealBytes(plaintext, EnvelopeService.targetsOf(header), header.context, o);
  }

  /**
   * Seals a blob again: `replace` → only `targets`; `add` → the blob's recipients plus `targets`.
   * Same encryption context. The plaintext exists only in memory and is zeroed afterwards.
   */
  async rewrap(
    blob: Uint8Array,
    targets: KeyTarget[],
    mode: 'replace' | 'add',
    o: CallOpts = {},
  ): Promise<{ blob: Buffer; header: HeaderInfo }> {
    const { plaintext, header } = await this.unsealBytes(blob, o);
    try {
      const base = mode === 'add' ? EnvelopeService.targetsOf(header) : [];
      const seen = new Set<string>();
      const all = [...base, ...targets].filter((t) => {
        const k = `${t.provider}:${t.region}:${t.key}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
      const out = await this.sealBytes(plaintext, all, header.context, o);
      return { blob: out, header: await (await engine()).inspect(out) };
    } finally {
      plaintext.fill(0);
    }
  }
}

/** A key's alias where one is known (no KMS call), for naming a header's recipients. */
export type AliasLookup = (provider: ProviderName, region: string, keyId: string) => string | undefined;

/** The header as Markdown (Inspect, hover): suite, frame length, context, recipients (by alias where known, with the id). */
export function headerMarkdown(info: HeaderInfo, title?: string, aliasOf?: AliasLookup): string {
  const esc = (s: string) => s.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
  const lines: string[] = [];
  if (title) lines.push(`### ${esc(title)}`, '');
  lines.push('| Recipient | Provider | Region | Key |', '|---|---|---|---|');
  info.recipients.forEach((r, i) => {
    const alias = r.provider ? aliasOf?.(r.provider, r.region, r.keyId) : undefined;
    const key = alias ? `**${esc(alias)}** (\`${r.keyId}\`)` : `\`${r.keyId}\``;
    lines.push(
      `| ${i + 1} | ${r.provider ? esc(providerLabel(r.provider)) : '`' + r.providerId + '`'} | ${esc(r.region || '—')} | ${key} |`,
    );
  });
  lines.push('');
  const ctx = Object.entries(info.context);
  lines.push(ctx.length ? `**Encryption context:** ${ctx.map(([k, v]) => `\`${k}=${v}\``).join(', ')}` : '**Encryption context:** none');
  lines.push(
    '',
    `Suite \`${info.suiteName}\` (0x${info.suiteId.toString(16).padStart(4, '0')}), format v${info.version}, frame length ${info.frameLength} bytes, message id \`${info.messageId}\``,
  );
  return lines.join('\n');
}

/** Header of a blob (no KMS call); loads the engine on first use. */
export async function inspectBlob(blob: Uint8Array | import('node:stream').Readable): Promise<HeaderInfo> {
  return (await engine()).inspect(blob);
}

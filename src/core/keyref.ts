import { usageError } from './errors';
import { findProvider, providers } from './kms/registry';
import type { ProviderName } from './kms/types';

/**
 * A keyref names one key: `<provider>:<region>:<keyId-or-alias>`.
 * Examples: `local:local:team-key`, `tencent:ap-guangzhou:my-alias`,
 * `alibaba:cn-hangzhou:alias/app`, `alibaba:cn-hangzhou:key-hzz6...`.
 * The key part may itself contain ':' (ARNs); only the first two colons split.
 * A provider may also accept identifiers of its cloud as keyrefs (descriptor `keyrefs`: an AWS key
 * ARN `arn:aws:kms:us-east-1:111122223333:key/<id>` is `aws:us-east-1:<that ARN>`).
 */
export interface KeyRef {
  provider: ProviderName;
  region: string;
  key: string;
}

export function parseKeyRef(text: string): KeyRef {
  const s = text.trim();
  // A provider's own identifiers (an AWS key ARN) name provider, region and key by themselves.
  if (!findProvider(s.slice(0, s.indexOf(':')))) {
    for (const d of providers()) {
      const own = d.keyrefs?.parse(s);
      if (own) return { provider: d.name, region: own.region, key: own.key };
    }
  }
  const a = s.indexOf(':');
  const b = a < 0 ? -1 : s.indexOf(':', a + 1);
  if (a <= 0 || b <= a + 1 || b === s.length - 1) {
    throw usageError(
      `"${s}" is not a keyref.`,
      'Write <provider>:<region>:<keyId-or-alias>, e.g. local:local:team-key or tencent:ap-guangzhou:my-alias.',
    );
  }
  const provider = s.slice(0, a);
  if (!findProvider(provider)) {
    throw usageError(
      `Unknown provider "${provider}" in keyref "${s}".`,
      `Use one of: ${providers()
        .map((d) => d.name)
        .join(', ')}.`,
    );
  }
  return { provider, region: s.slice(a + 1, b), key: s.slice(b + 1) };
}

export function formatKeyRef(ref: KeyRef): string {
  return `${ref.provider}:${ref.region}:${ref.key}`;
}

/**
 * AWS KMS identifiers without the SDK: key and alias ARNs (the rules of the ESDK's arn_parsing.ts:
 * `arn:<partition>:kms:<region>:<account>:<key|alias>/<id>`, the id may itself contain `/`), key ids
 * (UUID, or `mrk-` + 32 hex for multi-Region keys) and alias names.
 */

export interface KmsArn {
  arn: string;
  partition: string;
  region: string;
  account: string;
  type: 'key' | 'alias';
  /** Key id, or `alias/<name>` for an alias ARN. */
  id: string;
}

export const AWS_KEY_ID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/i;

/** A KMS key or alias ARN, or undefined when the text is not one. */
export function parseKeyArn(text: string): KmsArn | undefined {
  const s = text.trim();
  const parts = s.split(':');
  if (parts.length < 6 || parts[0] !== 'arn' || parts[2] !== 'kms') return undefined;
  const [, partition, , region, account] = parts;
  const resource = parts.slice(5).join(':');
  const slash = resource.indexOf('/');
  const type = slash > 0 ? resource.slice(0, slash) : '';
  const id = resource.slice(slash + 1);
  if (!partition || !region || !/^\d{12}$/.test(account) || (type !== 'key' && type !== 'alias') || !id) return undefined;
  return { arn: s, partition, region, account, type, id: type === 'alias' ? resource : id };
}

/** `name` → `alias/name`; key ids, ARNs and `alias/...` stay as they are. */
export function awsKeyParam(keyIdOrAlias: string): string {
  const k = keyIdOrAlias.trim();
  if (k.startsWith('alias/') || k.startsWith('arn:') || AWS_KEY_ID.test(k)) return k;
  return `alias/${k}`;
}

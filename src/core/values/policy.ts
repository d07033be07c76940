/**
 * The policy file `.kms-envelope.yaml`: which files have values sealed, to which keys, which values.
 * Looked up upward from the file (the nearest one wins), so it works from any working directory; paths
 * in it are relative to its own folder. The first rule whose `path` (glob) or `pathRegex` matches wins.
 *
 * ```yaml
 * rules:
 *   - path: "config/*.yaml"                       # glob (picomatch), relative to this file's folder
 *     keys: [local:local:team, tencent:ap-guangzhou:alias-app]   # keyrefs; several = several recipients
 *     values: "(?i)(password|secret|token)"       # regex on key names (a matching map key seals all below it)
 *     keyPaths: [database.url, "services[*].apiKey"]   # and/or key paths (`*` one segment, `**` any)
 *     # all: true                                  # or every value
 *     context: { app: billing }                    # extra encryption context, sent to the KMS
 *     format: yaml                                 # when the file name does not tell (yaml | json | dotenv)
 * ```
 *
 * Validation names the line, column and field of each problem (the JSON schema in
 * schemas/kms-envelope-policy.schema.json says the same for editors).
 */
import { promises as fsp } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import picomatch from 'picomatch';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type Pair } from 'yaml';
import { KmsEnvelopeError, usageError } from '../errors';
import { parseKeyRef } from '../keyref';
import type { EncryptionContext } from '../kms/types';
import { RESERVED_CONTEXT_PREFIX } from '../envelope/keyrings';
import { RESERVED_VALUES_PREFIX } from './constants';
import { VALUES_FORMATS, type ValuesFormat, type ValueSlot } from './formats';
import { matchesPathOrParent, parsePathPattern, type PathPattern } from './paths';
import { findPolicyFile, POLICY_FILE } from './policy-file';

export { POLICY_FILE };

export interface PolicyRule {
  /** 0-based position in `rules`. */
  index: number;
  /** 1-based line of the rule in the policy file. */
  line: number;
  /** The glob or regex as written, for messages. */
  pattern: string;
  matches: (relativePath: string) => boolean;
  /** Keyrefs as written; the first generates the data key. */
  keys: string[];
  values?: RegExp;
  keyPaths: PathPattern[];
  all: boolean;
  context: EncryptionContext;
  format?: ValuesFormat;
}

export interface Policy {
  /** Absolute path of the policy file. */
  file: string;
  /** Its folder: rule paths are relative to it. */
  dir: string;
  rules: PolicyRule[];
}

const RULE_FIELDS = ['path', 'pathRegex', 'keys', 'values', 'keyPaths', 'all', 'context', 'format', 'description'] as const;
const TOP_FIELDS = ['version', 'rules'] as const;

/** A regex as people write it for sops/Go/Python: a leading `(?i)`, `(?s)`, `(?m)` (or a mix) becomes JS flags. */
export function compileRegex(text: string): RegExp {
  const m = /^\(\?([ims]+)\)/.exec(text);
  const flags = m ? [...new Set(m[1])].join('') : '';
  return new RegExp(m ? text.slice(m[0].length) : text, flags);
}

/** Parses and validates a policy; errors name `file:line:col`, the field and what to write instead. */
export function parsePolicy(text: string, file: string): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  const where = (node: unknown) => {
    const r = (node as Node | undefined)?.range;
    if (!r) return file;
    const p = lines.linePos(r[0]);
    return `${file}:${p.line}:${p.col}`;
  };
  const fail = (node: unknown, field: string, problem: string, hint?: string): never => {
    throw usageError(`${where(node)}: ${field}: ${problem}`, hint ?? 'See "Config files" in the README for the policy format.', { file });
  };
  const err = doc.errors[0];
  if (err) {
    const p = err.linePos?.[0];
    throw usageError(
      `${file}${p ? `:${p.line}:${p.col}` : ''}: not valid YAML: ${err.message.split('\n')[0]}`,
      'Fix the YAML, then try again.',
      {
        file,
      },
    );
  }
  const root = doc.contents;
  if (!isMap(root)) return fail(root, '(top level)', 'expected a mapping with a rules: list');
  const fields = (map: Node & { items: Pair[] }, allowed: readonly string[], at: string) => {
    const out = new Map<string, { key: unknown; value: unknown }>();
    for (const pair of map.items) {
      const k = isScalar(pair.key) ? String(pair.key.value) : '';
      if (!allowed.includes(k)) fail(pair.key, `${at}${k || '?'}`, `unknown field (expected one of: ${allowed.join(', ')})`);
      out.set(k, { key: pair.key, value: pair.value });
    }
    return out;
  };
  const top = fields(root, TOP_FIELDS, '');
  const version = top.get('version');
  if (version && !(isScalar(version.value) && version.value.value === 1)) fail(version.value ?? version.key, 'version', 'must be 1');
  const rulesNode = top.get('rules');
  if (!rulesNode) return fail(root, 'rules', 'missing: the policy needs a rules: list');
  if (!isSeq(rulesNode.value) || rulesNode.value.items.length === 0) {
    return fail(rulesNode.value ?? rulesNode.key, 'rules', 'expected a non-empty list of rules');
  }

  const str = (v: unknown, field: string): string => {
    if (!isScalar(v) || typeof v.value !== 'string' || v.value === '') return fail(v, field, 'expected a non-empty string');
    return v.value;
  };
  const regex = (v: unknown, field: string): RegExp => {
    const s = str(v, field);
    try {
      return compileRegex(s);
    } catch (e) {
      return fail(v, field, `not a valid regular expression: ${(e as Error).message}`);
    }
  };

  const rules = rulesNode.value.items.map((item, index): PolicyRule => {
    const at = `rules[${index}]`;
    if (!isMap(item)) return fail(item, at, 'expected a mapping (path, keys, values…)');
    const f = fields(item, RULE_FIELDS, `${at}.`);
    const line = lines.linePos(item.range?.[0] ?? 0).line;
    const path = f.get('path');
    const pathRegex = f.get('pathRegex');
    if (!path === !pathRegex) fail(item, at, 'give exactly one of path (a glob) or pathRegex (a regular expression)');
    let pattern: string;
    let matches: (rel: string) => boolean;
    if (path) {
      pattern = str(path.value, `${at}.path`);
      if (isAbsolute(pattern) || pattern.startsWith('../'))
        fail(path.value, `${at}.path`, 'must be relative to the folder of this policy file');
      matches = picomatch(pattern, { dot: true });
    } else {
      const re = regex(pathRegex!.value, `${at}.pathRegex`);
      pattern = re.source;
      matches = (rel) => re.test(rel);
    }

    const keysNode = f.get('keys');
    if (!keysNode) return fail(item, `${at}.keys`, 'missing: list the keyrefs to seal for, e.g. [local:local:team-key]');
    if (!isSeq(keysNode.value) || keysNode.value.items.length === 0) {
      return fail(keysNode.value ?? keysNode.key, `${at}.keys`, 'expected a non-empty list of keyrefs');
    }
    const keys = keysNode.value.items.map((k, i) => {
      const field = `${at}.keys[${i}]`;
      const s = str(k, field);
      try {
        parseKeyRef(s);
      } catch (e) {
        fail(k, field, (e as Error).message, (e as KmsEnvelopeError).hint);
      }
      return s;
    });
    const dup = keys.find((k, i) => keys.indexOf(k) !== i);
    if (dup) fail(keysNode.value, `${at}.keys`, `lists ${dup} twice`);

    const valuesNode = f.get('values');
    const values = valuesNode ? regex(valuesNode.value, `${at}.values`) : undefined;
    const keyPathsNode = f.get('keyPaths');
    let keyPaths: PathPattern[] = [];
    if (keyPathsNode) {
      if (!isSeq(keyPathsNode.value) || keyPathsNode.value.items.length === 0) {
        fail(keyPathsNode.value ?? keyPathsNode.key, `${at}.keyPaths`, 'expected a non-empty list of key paths');
      }
      keyPaths = (keyPathsNode.value as { items: unknown[] }).items.map((k, i) => {
        const field = `${at}.keyPaths[${i}]`;
        const s = str(k, field);
        try {
          return parsePathPattern(s);
        } catch (e) {
          return fail(k, field, (e as Error).message, (e as KmsEnvelopeError).hint);
        }
      });
    }
    const allNode = f.get('all');
    if (allNode && !(isScalar(allNode.value) && typeof allNode.value.value === 'boolean'))
      fail(allNode.value, `${at}.all`, 'expected true or false');
    const all = allNode ? (allNode.value as { value: boolean }).value : false;
    if (all && (values || keyPaths.length))
      fail(allNode!.key, `${at}.all`, 'all: true seals every value; drop values and keyPaths, or drop all');
    if (!all && !values && !keyPaths.length) {
      fail(item, at, 'say which values to seal: values (a regex on key names), keyPaths (a list), or all: true');
    }

    const context: EncryptionContext = {};
    const ctxNode = f.get('context');
    if (ctxNode) {
      if (!isMap(ctxNode.value))
        fail(ctxNode.value ?? ctxNode.key, `${at}.context`, 'expected a mapping of strings, e.g. { app: billing }');
      for (const pair of (ctxNode.value as { items: Pair[] }).items) {
        const k = isScalar(pair.key) ? String(pair.key.value) : '';
        const field = `${at}.context.${k}`;
        if (!k) fail(pair.key, `${at}.context`, 'keys must be strings');
        if (k.startsWith(RESERVED_CONTEXT_PREFIX) || k.startsWith(RESERVED_VALUES_PREFIX)) {
          fail(pair.key, field, `keys starting with "${RESERVED_CONTEXT_PREFIX}" or "${RESERVED_VALUES_PREFIX}" are reserved`);
        }
        if (!isScalar(pair.value) || pair.value.value === null || typeof pair.value.value === 'object')
          fail(pair.value ?? pair.key, field, 'expected a string');
        context[k] = String((pair.value as { value: unknown }).value);
      }
    }

    const formatNode = f.get('format');
    let format: ValuesFormat | undefined;
    if (formatNode) {
      const s = str(formatNode.value, `${at}.format`);
      if (!VALUES_FORMATS.includes(s as ValuesFormat))
        fail(formatNode.value, `${at}.format`, `expected one of ${VALUES_FORMATS.join(', ')}`);
      format = s as ValuesFormat;
    }
    const description = f.get('description');
    if (description) str(description.value, `${at}.description`);

    return { index, line, pattern, matches, keys, values, keyPaths, all, context, format };
  });
  return { file, dir: dirname(file), rules };
}

/** Reads and validates a policy file. */
export async function loadPolicy(file: string): Promise<Policy> {
  const abs = resolve(file);
  let text: string;
  try {
    text = await fsp.readFile(abs, 'utf8');
  } catch (err) {
    throw new KmsEnvelopeError('io', `Cannot read the policy ${abs}: ${(err as Error).message}`, { details: { file: abs }, cause: err });
  }
  return parsePolicy(text, abs);
}

/** The nearest `.kms-envelope.yaml` in the file's folder or above it; undefined when there is none. */
export async function findPolicy(file: string): Promise<Policy | undefined> {
  const found = await findPolicyFile(file);
  return found ? loadPolicy(found) : undefined;
}

/** The file's path relative to the policy's folder, with `/` separators; undefined when it is not below it. */
export function policyRelativePath(policy: Policy, file: string): string | undefined {
  const rel = relative(policy.dir, resolve(file));
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

export function ruleFor(policy: Policy, file: string): PolicyRule | undefined {
  const rel = policyRelativePath(policy, file);
  return rel === undefined ? undefined : policy.rules.find((r) => r.matches(rel));
}

/** The policy and rule for a file, or a usage error saying what is missing. */
export async function policyFor(file: string): Promise<{ policy: Policy; rule: PolicyRule }> {
  const policy = await findPolicy(file);
  if (!policy) {
    throw usageError(
      `No ${POLICY_FILE} in ${dirname(resolve(file))} or any folder above it, so it is not known which values of ${file} to seal.`,
      `Create ${POLICY_FILE} at the root of the repository with a rule for this file (README, "Config files").`,
      { file },
    );
  }
  const rule = ruleFor(policy, file);
  if (!rule) {
    const rel = policyRelativePath(policy, file) ?? resolve(file);
    throw usageError(
      `No rule in ${policy.file} matches ${rel} (rules: ${policy.rules.map((r) => r.pattern).join(', ')}).`,
      `Add a rule whose path matches ${rel}.`,
      { file },
    );
  }
  return { policy, rule };
}

/** Whether the rule seals a value: by any key name on its path (a matching map key covers all below it), a key path, or all. */
export function ruleSelects(rule: PolicyRule, slot: Pick<ValueSlot, 'path' | 'aliasPaths'>): boolean {
  if (rule.all) return true;
  for (const p of [slot.path, ...slot.aliasPaths]) {
    if (rule.values && p.some((seg) => typeof seg === 'string' && rule.values!.test(seg))) return true;
    if (rule.keyPaths.some((kp) => matchesPathOrParent(kp, p))) return true;
  }
  return false;
}

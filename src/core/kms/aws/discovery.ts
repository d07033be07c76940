/**
 * Profiles of the AWS CLI and SDK configuration, read-only: `~/.aws/config` (`[default]`,
 * `[profile <name>]`, `[sso-session <name>]`, `[services <name>]`) and `~/.aws/credentials`
 * (`[<name>]`), or the files AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE name. The files are
 * parsed by the AWS SDK's own loader, and each profile's credentials come from the SDK's own
 * resolver (`fromIni`): static keys, session tokens, IAM Identity Center (SSO), credential_process,
 * assume-role and web identity work as they do for the AWS CLI. Nothing is written, and nothing of
 * a file's contents reaches a message.
 *
 * - Source `aws-config`; the profile AWS_PROFILE names (else `default`) is the CLI default.
 * - A profile's `region` becomes its region; its `endpoint_url` (or the `kms` entry of its
 *   `[services …]` section) its endpoint, unless `ignore_configured_endpoint_urls` is set or, as in
 *   the AWS SDK, AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL (which win) or
 *   AWS_IGNORE_CONFIGURED_ENDPOINT_URLS are in the environment.
 * - Profiles without a credential source (only a region, say) are skipped.
 * - Temporary credentials are kept until 5 minutes before they expire, so an SSO profile asks the
 *   SSO portal once an hour, not once per request.
 * - An SSO profile whose login expired (or never happened) gives one credentials error whose hint is
 *   `aws sso login --profile <name>`; the same advice goes to the provider with the credentials
 *   (RENEW_PART), for an ExpiredTokenException from KMS (a session token in the credentials file too).
 */
import * as path from 'node:path';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import { loadSharedConfigFiles } from '@smithy/core/config';
import { credentialsError } from '../../errors';
import { maskKeyId, type DiscoveredProfile, type DiscoveryOptions } from '../descriptor';
import type { CloudCredentials, Env } from '../types';
import { RENEW_PART } from './descriptor';

export const AWS_CONFIG_SOURCE = 'aws-config';
const REFRESH_BEFORE_MS = 5 * 60_000;

type Section = Record<string, string | undefined>;

export interface AwsConfigFiles {
  config: string;
  credentials: string;
}

export function awsConfigFiles(env: Env, homeDir: string): AwsConfigFiles {
  return {
    config: env.AWS_CONFIG_FILE?.trim() || path.join(homeDir, '.aws', 'config'),
    credentials: env.AWS_SHARED_CREDENTIALS_FILE?.trim() || path.join(homeDir, '.aws', 'credentials'),
  };
}

const SECTION_PREFIXES = ['sso-session.', 'services.'];

/** How a profile gets its credentials, or undefined when it has none. */
function credentialSource(p: Section): 'sso' | 'static' | 'session' | 'process' | 'role' | 'web-identity' | 'login' | undefined {
  if (p.sso_session || p.sso_start_url) return 'sso';
  if (p.role_arn) return p.web_identity_token_file ? 'web-identity' : 'role';
  if (p.credential_process) return 'process';
  if (p.login_session) return 'login';
  if (p.aws_access_key_id && p.aws_secret_access_key) return p.aws_session_token ? 'session' : 'static';
  return undefined;
}

/** How to renew the session of a profile (the hint of an ExpiredTokenException), when there is a way. */
function renewHint(name: string, p: Section, files: AwsConfigFiles): string | undefined {
  switch (credentialSource(p)) {
    case 'sso':
      return `Renew it: \`aws sso login --profile ${name}\`, then retry.`;
    case 'login':
      return `Renew it: \`aws login --profile ${name}\`, then retry.`;
    case 'session':
      return `Put new session credentials (aws_access_key_id, aws_secret_access_key, aws_session_token) into [${name}] of ${files.credentials}, then retry.`;
    case 'process':
      return `The credential_process of profile ${name} in ${files.config} handed out expired credentials: check the command, then retry.`;
    default:
      return undefined;
  }
}

/**
 * The endpoint a profile's files give it, where the AWS SDK would use it: AWS_ENDPOINT_URL_KMS and
 * AWS_ENDPOINT_URL win over the files (then they apply through the descriptor's environment
 * variables), and AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the profile's
 * ignore_configured_endpoint_urls turns the files' endpoints off.
 */
function endpointOf(p: Section, config: Record<string, Section>, env: Env): string | undefined {
  if (env.AWS_ENDPOINT_URL_KMS?.trim() || env.AWS_ENDPOINT_URL?.trim()) return undefined;
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() === 'true') return undefined;
  if (p.ignore_configured_endpoint_urls?.toLowerCase() === 'true') return undefined;
  const services = p.services ? config[`services.${p.services}`] : undefined;
  return services?.['kms.endpoint_url']?.trim() || p.endpoint_url?.trim() || undefined;
}

export async function discoverAwsConfig(o: DiscoveryOptions): Promise<DiscoveredProfile[]> {
  const files = awsConfigFiles(o.env, o.homeDir);
  const read = () => loadSharedConfigFiles({ filepath: files.credentials, configFilepath: files.config, ignoreCache: true });
  let loaded;
  try {
    loaded = await read();
  } catch {
    // The SDK's parser refuses a few names (`[profile __proto__]`); the file is reported by path only.
    o.logger.warn(`${files.config} or ${files.credentials} cannot be parsed; skipping AWS profiles there.`);
    return [];
  }
  const config = loaded.configFile as Record<string, Section>;
  const creds = loaded.credentialsFile as Record<string, Section>;
  const names = [...new Set([...Object.keys(creds), ...Object.keys(config).filter((n) => !SECTION_PREFIXES.some((x) => n.startsWith(x)))])];
  const cliDefault = o.env.AWS_PROFILE?.trim() || o.env.AWS_DEFAULT_PROFILE?.trim() || 'default';
  const out: DiscoveredProfile[] = [];
  for (const name of names) {
    // The credentials file wins over the config file for the keys both have (the SDK's precedence).
    const p: Section = { ...(config[name] ?? {}), ...(creds[name] ?? {}) };
    const source = credentialSource(p);
    if (!source) {
      o.logger.debug(`AWS profile ${name} has no credentials (no keys, SSO, role or credential_process); skipping it.`);
      continue;
    }
    const region = p.region?.trim();
    const endpoint = endpointOf(p, config, o.env);
    out.push({
      info: {
        provider: 'aws',
        name,
        kind: source === 'static' ? 'long-term' : 'sts',
        source: AWS_CONFIG_SOURCE,
        ...(p.aws_access_key_id ? { keyIdHint: maskKeyId(p.aws_access_key_id.trim()) } : {}),
        ...(region ? { regions: [region] } : {}),
        ...(endpoint ? { endpoint } : {}),
      },
      isCliDefault: name === cliDefault,
      file: creds[name] ? files.credentials : files.config,
      load: profileLoader(name, p, files),
    });
  }
  return out;
}

/** Credentials of one profile through the SDK's resolver, kept until shortly before they expire. */
function profileLoader(name: string, p: Section, files: AwsConfigFiles): () => Promise<CloudCredentials> {
  let cached: CloudCredentials | undefined;
  const renew = renewHint(name, p, files);
  return async () => {
    if (cached?.expiration && Date.parse(cached.expiration) - REFRESH_BEFORE_MS > Date.now()) return cached;
    let c;
    try {
      c = await fromIni({ profile: name, filepath: files.credentials, configFilepath: files.config, ignoreCache: true })();
    } catch (err) {
      throw resolveError(name, p, files, err);
    }
    const out: CloudCredentials = {
      accessKeyId: c.accessKeyId,
      accessKeySecret: c.secretAccessKey,
      ...(c.sessionToken ? { securityToken: c.sessionToken } : {}),
      ...(c.expiration ? { expiration: c.expiration.toISOString() } : {}),
      ...(renew ? { [RENEW_PART]: renew } : {}),
    };
    cached = out.expiration ? out : undefined;
    return out;
  };
}

/** What the SDK's resolver threw, as one error with a next step (the SDK's first line only: never file contents). */
function resolveError(name: string, p: Section, files: AwsConfigFiles, err: unknown) {
  const first = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 300);
  const details = { provider: 'aws', profile: name, file: files.config };
  switch (credentialSource(p)) {
    case 'sso':
      return credentialsError(
        `The AWS SSO session of profile ${name} has expired or was never started (${first}).`,
        `Log in again: \`aws sso login --profile ${name}\`, then retry.`,
        details,
        err,
      );
    case 'login':
      return credentialsError(
        `The AWS console login session of profile ${name} has expired (${first}).`,
        `Log in again: \`aws login --profile ${name}\`, then retry.`,
        details,
        err,
      );
    case 'process':
      return credentialsError(
        `The credential_process of AWS profile ${name} failed (${first}).`,
        `Run the command of credential_process in ${files.config} yourself to see what it needs, then retry.`,
        details,
        err,
      );
    default:
      return credentialsError(
        `The credentials of AWS profile ${name} cannot be resolved (${first}).`,
        `Check the profile in ${files.config} and ${files.credentials} (\`aws configure list --profile ${name}\`).`,
        details,
        err,
      );
  }
}

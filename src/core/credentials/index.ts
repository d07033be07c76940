/**
 * Credentials: profile types, discovery and the CredentialService, plus the way the command line
 * builds the service (OS keychain through keytar, profiles.json in the config directory).
 */
import type { Logger } from '../log';
import { configDir } from '../paths';
import { KeytarSecretStore, type SecretStore } from '../secrets';
import { CredentialService } from './service';

export * from './types';
export * from './service';
export { CREDENTIAL_ENV, ENDPOINT_ENV_VAR, ENV_PROFILE } from './discovery';

/** The service as the CLI uses it: keytar (10 s timeout unless given), config dir from the environment. */
export function createCliCredentialService(
  opts: { env?: NodeJS.ProcessEnv; logger?: Logger; secretStore?: SecretStore; homeDir?: string } = {},
): CredentialService {
  const env = opts.env ?? process.env;
  return new CredentialService({
    secretStore: opts.secretStore ?? new KeytarSecretStore(),
    configDir: configDir(env),
    env,
    homeDir: opts.homeDir,
    logger: opts.logger,
  });
}
export * from './test-profile';

/**
 * Credentials: profile types, discovery and the CredentialService, plus the way the command line
 * builds the service (OS keychain through keytar, profiles.json in the config directory).
 */
import type { Env } from '../kms/types';
import type { Logger } from '../log';
import { configDir } from '../paths';
import { KeytarSecretStore, type SecretStore } from '../secrets';
import { CredentialService } from './service';

export * from './types';
export * from './service';
export { ENV_PROFILE } from './discovery';

/** The service as the CLI composes it: keytar (10 s timeout unless given), config dir from the environment. */
export function createCliCredentialService(opts: {
  env: Env;
  logger?: Logger;
  secretStore?: SecretStore;
  homeDir?: string;
}): CredentialService {
  return new CredentialService({
    secretStore: opts.secretStore ?? new KeytarSecretStore(),
    configDir: configDir(opts.env),
    env: opts.env,
    homeDir: opts.homeDir,
    logger: opts.logger,
  });
}
export * from './test-profile';

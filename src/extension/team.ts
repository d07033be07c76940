/**
 * The extension's door to the team use-cases (src/core/services/team-service.ts): the TeamService
 * built once, on first use, over the EnvelopeService's keys (each recipient through its provider's
 * default profile, as Unseal does). The service module loads the values engine and the Encryption
 * SDK, so it is imported lazily.
 */
import * as vscode from 'vscode';
import { usageError } from '../core/errors';
import type { RecipientInfo } from '../core/envelope/recipients';
import { targetFromKeyref, type EnvelopeService } from '../core/services/envelope-service';
import type { PolicyCache, TeamKeys, TeamService } from '../core/services/team-service';
import type { ExtensionLogger } from './log';

export function teamKeysOf(envelope: EnvelopeService): TeamKeys {
  return {
    resolve: envelope.resolver(),
    recipients: (keyrefs: string[]) => envelope.recipients(keyrefs.map((k) => targetFromKeyref(k))),
    recipientsFor: (infos: RecipientInfo[]) =>
      envelope.recipients(
        infos.map((i) => {
          if (!i.provider)
            throw usageError(
              `A recipient of unknown provider "${i.providerId}" (key ${i.keyId}) cannot be sealed to again here.`,
              'Re-wrap the file to keys this machine knows (KMS Envelope: Re-wrap Sealed File).',
              { keyId: i.keyId },
            );
          return { provider: i.provider, region: i.region, key: i.keyId };
        }),
      ),
  };
}

export class TeamAccess {
  private svc?: Promise<TeamService>;

  constructor(
    private readonly envelope: EnvelopeService,
    private readonly log: ExtensionLogger,
  ) {}

  service(): Promise<TeamService> {
    this.svc ??= import('../core/services/team-service.js').then((m) => new m.TeamService(teamKeysOf(this.envelope), { logger: this.log }));
    return this.svc;
  }

  /** A policy cache for one run: no workspace policy decides anything in Restricted Mode. */
  async policies(): Promise<PolicyCache> {
    const m = await import('../core/services/team-service.js');
    return new m.PolicyCache(vscode.workspace.isTrusted);
  }
}

/**
 * What the cloud providers (Tencent, Alibaba, AWS) share around cloudCall: the name, profile,
 * deletion window, options and logger they are built with, the call spec every request goes out
 * with, and the check of a key description against the cloud's limit. A provider adds its endpoint rule, its SDK client and the calls themselves.
 */
import { usageError } from '../errors';
import { nullLogger, type Logger } from '../log';
import { cloudCall, type CloudAttempt, type CloudProviderOptions } from './cloud-call';
import { checkDeletionWindow, type ProviderDescriptor } from './descriptor';
import type { ResolvedEndpoint } from './endpoint';
import type { CallOptions, ProviderName } from './types';

/** What one call is about (retries only when `idempotent`; key and alias name it in messages). */
export interface CallFlags {
  idempotent: boolean;
  keyId?: string;
  alias?: string;
  signal?: AbortSignal;
}

export abstract class CloudProvider<O extends CloudProviderOptions = CloudProviderOptions> {
  readonly name: ProviderName;
  /** Profile this instance was built for (`default` when none). */
  readonly profile: string;
  readonly deletionWindow: ProviderDescriptor['deletionWindow'];
  protected readonly opts: O;
  protected readonly log: Logger;

  /** `normalize` turns what the SDK threw into what cloud-errors.ts reads (a CloudCallError). */
  constructor(
    protected readonly descriptor: ProviderDescriptor,
    opts: O,
    private readonly normalize: (err: unknown) => unknown,
  ) {
    this.name = descriptor.name;
    this.deletionWindow = descriptor.deletionWindow;
    this.opts = opts;
    this.profile = opts.profile || 'default';
    this.log = opts.logger ?? nullLogger;
  }

  abstract endpointFor(region: string): ResolvedEndpoint;

  /** Schedules the key's deletion in `days` (checked against the provider's window first). */
  async scheduleDeletion(region: string, keyId: string, days: number, opts?: CallOptions): Promise<{ deletionDate?: string }> {
    checkDeletionWindow(this.descriptor, days);
    return this.scheduleKeyDeletion(region, keyId, days, opts?.signal);
  }

  /** ScheduleKeyDeletion of a window already checked; the date the key goes, when the cloud says. */
  protected abstract scheduleKeyDeletion(
    region: string,
    keyId: string,
    days: number,
    signal?: AbortSignal,
  ): Promise<{ deletionDate?: string }>;

  /** How long a key description may be: `max` UTF-8 bytes or characters. */
  protected abstract readonly descriptionLimit: { max: number; unit: 'bytes' | 'characters' };

  /** A usage error unless `description` fits the cloud's limit. */
  protected checkDescription(description: string, region: string, keyId?: string): void {
    const { max, unit } = this.descriptionLimit;
    if ((unit === 'bytes' ? Buffer.byteLength(description) : description.length) <= max) return;
    throw usageError(`${this.descriptor.label} takes key descriptions of at most ${max} ${unit}.`, 'Shorten the description.', {
      provider: this.name,
      region,
      keyId,
    });
  }

  /**
   * One API call through cloudCall (retries, timeouts, cancellation, logs, error mapping); `attempt`
   * sends it once to `endpoint` with the credentials of that attempt.
   */
  protected cloudCall<T>(
    region: string,
    action: string,
    call: CallFlags,
    attempt: (a: CloudAttempt, endpoint: ResolvedEndpoint) => Promise<{ result: T; requestId?: string }>,
  ): Promise<T> {
    const endpoint = this.endpointFor(region);
    const spec = {
      provider: this.descriptor,
      profile: this.profile,
      region,
      action,
      endpoint,
      call,
      options: this.opts,
      log: this.log,
      normalize: this.normalize,
    };
    return cloudCall<T>(spec, (a) => attempt(a, endpoint));
  }
}

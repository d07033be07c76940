/**
 * `kms-envelope emulator`: runs the KMS emulator in the foreground until SIGINT/SIGTERM.
 * Prints its URL and paste-able `export` lines for the credentials of account "default".
 */
import { ADMIN_HEADER } from './admin-client';
import { parseArgs } from 'node:util';
import { stderrLogger } from '../core/log';
import { parseFaultFlag, type FaultConfig } from './faults';
import { startEmulator, type RunningInstance } from './emulator';
import { isLoopback } from './server';

export const EMULATOR_USAGE = `Usage: kms-envelope emulator [options]

Runs a local Tencent Cloud KMS (API 3.0, 2019-01-18), Alibaba Cloud KMS (2016-01-20) and AWS KMS
(JSON 1.1, SigV4) emulator on one port, for tests and trying KMS Envelope without a cloud account.
Stop it with Ctrl+C.

Options:
  --host <addr>          address to bind (default 127.0.0.1; anything else exposes test keys)
  --port <n>             port (default 0 = a free port, printed on start)
  --state <file>         keep keys, key material and credentials in <file> (mode 0600, testing only);
                         without it everything is in memory and credentials are new each run
  --seed                 create keys (enabled, disabled, pending deletion) in ap-guangzhou and
                         ap-shanghai (Tencent), cn-hangzhou and cn-shanghai (Alibaba), us-east-1 and
                         eu-west-1 (AWS, plus an AWS managed key), once per cloud and state
  --latency [Action=]ms  delay requests (all, or one action; "aws:Encrypt" for one cloud)
  --throttle [Action=]N|P%   throttle the next N calls, or P% of calls (Tencent RequestLimitExceeded,
                         Alibaba Throttling HTTP 400, AWS ThrottlingException HTTP 400)
  --fail [Action=]N|P%   server errors (Tencent InternalError, Alibaba InternalFailure HTTP 500,
                         AWS KMSInternalException HTTP 500)
  --unavailable [Action=]N|P%  HTTP 503 (Alibaba ServiceUnavailableTemporary, AWS DependencyTimeoutException)
  --drop [Action=]N|P%   drop the connection without an answer
  --instance-port <n>    port of the Alibaba Cloud KMS 3.0 instance gateway (HTTPS, its own CA;
                         default 0 = a free port). Its CA certificate and client key files are
                         written beside the --state file (<state>-instance/), else to a temporary
                         directory; fault selectors "instance:<Api>" / "instance:*" reach it
  --no-instance          do not run the instance gateway
  --verbose              log every request to stderr
  -h, --help             this help

Admin API on the same port: GET /__admin/health, GET|PUT|DELETE /__admin/faults, GET|DELETE
/__admin/counters, POST /__admin/reset. Every request needs the header X-KMS-Envelope-Admin: 1, a
loopback client and Host, no Origin (web pages are refused) and Content-Type: application/json on
PUT/POST, e.g. curl -H 'X-KMS-Envelope-Admin: 1' http://127.0.0.1:18765/__admin/counters
`;

function usage(message: string): number {
  process.stderr.write(`kms-envelope emulator: ${message}\n  → Run \`kms-envelope emulator --help\` for the options.\n`);
  return 1;
}

export async function emulatorMain(argv: string[]): Promise<number> {
  const args = argv[0] === 'emulator' ? argv.slice(1) : argv;
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        state: { type: 'string' },
        seed: { type: 'boolean' },
        latency: { type: 'string', multiple: true },
        throttle: { type: 'string', multiple: true },
        fail: { type: 'string', multiple: true },
        unavailable: { type: 'string', multiple: true },
        drop: { type: 'string', multiple: true },
        'instance-port': { type: 'string' },
        'no-instance': { type: 'boolean' },
        verbose: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usage((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) {
    process.stdout.write(EMULATOR_USAGE);
    return 0;
  }
  let port = 0;
  if (v.port !== undefined) {
    if (!/^\d+$/.test(v.port) || Number(v.port) > 65535) return usage(`--port ${v.port} is not a port number (0–65535).`);
    port = Number(v.port);
  }
  let instancePort = 0;
  if (v['instance-port'] !== undefined) {
    if (!/^\d+$/.test(v['instance-port']) || Number(v['instance-port']) > 65535)
      return usage(`--instance-port ${v['instance-port']} is not a port number (0–65535).`);
    instancePort = Number(v['instance-port']);
  }
  const faults: FaultConfig = {};
  try {
    for (const x of v.latency ?? []) parseFaultFlag(faults, 'latency', x);
    for (const x of v.throttle ?? []) parseFaultFlag(faults, 'throttle', x);
    for (const x of v.fail ?? []) parseFaultFlag(faults, 'error', x);
    for (const x of v.unavailable ?? []) parseFaultFlag(faults, 'unavailable', x);
    for (const x of v.drop ?? []) parseFaultFlag(faults, 'drop', x);
  } catch (err) {
    return usage((err as Error).message);
  }
  const host = v.host ?? '127.0.0.1';
  const logger = stderrLogger(v.verbose ? 'debug' : 'warn');
  if (!isLoopback(host) && host !== 'localhost') {
    logger.warn(
      `emulator: binding ${host}, not loopback: other machines can reach the emulator's test keys. The admin API still answers loopback clients only.`,
    );
  }
  let em;
  try {
    em = await startEmulator({
      host,
      port,
      statePath: v.state,
      seed: v.seed,
      faults,
      logger,
      instance: v['no-instance'] ? false : { port: instancePort },
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') return usage(`port ${port} on ${host} is in use: pick another --port, or 0 for a free one.`);
    process.stderr.write(`kms-envelope emulator: ${e.message}\n`);
    return 1;
  }
  const [def, ...others] = em.accounts;
  const lines = [
    `KMS Envelope emulator (Tencent Cloud KMS 2019-01-18 + Alibaba Cloud KMS 2016-01-20 + AWS KMS) listening on ${em.url}`,
    v.state
      ? `State: ${v.state} (keys and credentials persist across runs; fake test keys, testing only)`
      : 'State: in memory (new credentials each run; use --state <file> to keep them)',
    `Alibaba region: the RegionId parameter, else a kms.<region>.aliyuncs.com Host header, else cn-hangzhou.`,
    `AWS region: the region of the SigV4 credential scope (the client's region).`,
    '',
    `# Account "${def.name}": paste into a shell`,
    `export TENCENTCLOUD_SECRET_ID=${def.tencent.secretId}`,
    `export TENCENTCLOUD_SECRET_KEY=${def.tencent.secretKey}`,
    `export ALIBABA_CLOUD_ACCESS_KEY_ID=${def.alibaba.accessKeyId}`,
    `export ALIBABA_CLOUD_ACCESS_KEY_SECRET=${def.alibaba.accessKeySecret}`,
    `export AWS_ACCESS_KEY_ID=${def.aws.accessKeyId}`,
    `export AWS_SECRET_ACCESS_KEY=${def.aws.secretAccessKey}`,
    `export AWS_REGION=us-east-1`,
    `export AWS_ENDPOINT_URL_KMS=${em.url}`,
    `export KMS_ENVELOPE_ENDPOINT=${em.url}`,
    '',
  ];
  for (const a of others) {
    lines.push(
      `# Account "${a.name}"${a.tencent.token ? ' (temporary credentials: the token must be sent)' : ' (its own keys)'}:`,
      `#   TENCENTCLOUD_SECRET_ID=${a.tencent.secretId} TENCENTCLOUD_SECRET_KEY=${a.tencent.secretKey}${a.tencent.token ? ` TENCENTCLOUD_SESSION_TOKEN=${a.tencent.token}` : ''}`,
      `#   ALIBABA_CLOUD_ACCESS_KEY_ID=${a.alibaba.accessKeyId} ALIBABA_CLOUD_ACCESS_KEY_SECRET=${a.alibaba.accessKeySecret}${a.alibaba.securityToken ? ` ALIBABA_CLOUD_SECURITY_TOKEN=${a.alibaba.securityToken}` : ''}`,
      `#   AWS_ACCESS_KEY_ID=${a.aws.accessKeyId} AWS_SECRET_ACCESS_KEY=${a.aws.secretAccessKey}${a.aws.sessionToken ? ` AWS_SESSION_TOKEN=${a.aws.sessionToken}` : ''}`,
    );
    if (a.aws.expired)
      lines.push(
        `#   expired AWS session (ExpiredTokenException): AWS_ACCESS_KEY_ID=${a.aws.expired.accessKeyId} AWS_SECRET_ACCESS_KEY=${a.aws.expired.secretAccessKey} AWS_SESSION_TOKEN=${a.aws.expired.sessionToken}`,
      );
  }
  if (em.instance) lines.push('', ...instanceLines(em.instance));
  lines.push(
    '',
    `Admin (loopback, no web pages): curl -H '${ADMIN_HEADER}: 1' ${em.url}/__admin/counters (also /__admin/health, /__admin/faults, /__admin/reset; JSON bodies)`,
    'Stop with Ctrl+C.',
    '',
  );

  const running = em;
  // Signal handlers go in before anything is printed: a script that reacts to the output at once
  // (or a fast Ctrl+C) must already get a clean stop with the state written.
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stderr.write(`kms-envelope emulator: ${signal}, stopping${v.state ? ` and writing ${v.state}` : ''}.\n`);
      running.stop().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`kms-envelope emulator: stopping failed: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.stdout.write(lines.join('\n'));
  });
}

/** The instance gateway's endpoint and files, and the `profiles add` line that uses them. */
function instanceLines(i: RunningInstance): string[] {
  return [
    `# Alibaba Cloud KMS 3.0 instance ${i.id} (${i.region}, account "${i.account}") on ${i.url}`,
    `#   CA certificate: ${i.files.ca}`,
    `#   client key:     ${i.files.clientKey}`,
    `#   its password:   ${i.files.password}`,
    '# Add it as a profile (the password goes in on stdin):',
    `kms-envelope profiles add --provider alibaba --name instance --region ${i.region} --instance-endpoint ${i.url} --client-key-file ${shellQuote(i.files.clientKey)} --ca-file ${shellQuote(i.files.ca)} < ${shellQuote(i.files.password)}`,
  ];
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * Public entry of the KMS emulator (Tencent Cloud KMS API 3.0 + Alibaba Cloud KMS 2016-01-20 + AWS KMS
 * JSON 1.1 on loopback). `startEmulator` runs it in-process; `emulatorMain` is the `kms-envelope emulator` command.
 */
export {
  startEmulator,
  type EmulatorAccount,
  type EmulatorClientKey,
  type EmulatorOptions,
  type RunningEmulator,
  type RunningInstance,
} from './emulator';
export { emulatorMain, EMULATOR_USAGE } from './cli';
export type { FaultAmount, FaultConfig, FaultKind, FaultRule } from './faults';
export { ALIBABA_REGIONS, TENCENT_REGIONS } from './regions';
export { AWS_REGIONS } from './aws';

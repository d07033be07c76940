// The provider conformance suite (./suite.ts) for every built-in provider: local in-process, tencent
// and alibaba through the official SDKs against the loopback emulator.
import { harnesses } from './provider-harness';
import { conformanceSuite } from './suite';

for (const make of harnesses) conformanceSuite(make);

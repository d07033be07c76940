/**
 * The CLI's words for the next steps core errors name (`NextStep`): each one a `kms-envelope …`
 * command line a person can paste. VS Code words the same steps as command titles and buttons
 * (extension/hints.ts).
 */
import type { NextStep, StepKey } from '../core/errors';
import { findProvider } from '../core/kms/registry';

const CLI = 'kms-envelope';

/** `--provider p [--region r] --key k [--profile n]` (local keys have one region; `default` is implied). */
function keyFlags(k: StepKey): string {
  const region = k.provider === 'local' ? '' : ` --region ${k.region}`;
  const profile = k.profile && k.profile !== 'default' && k.provider !== 'local' ? ` --profile ${k.profile}` : '';
  return `--provider ${k.provider}${region} --key ${k.keyId}${profile}`;
}

/** ` --instance-endpoint … --ca-file …`: the options that give a provider's settings (none for most). */
function settingFlags(provider: string): string {
  const parts = findProvider(provider)?.credentials?.parts ?? [];
  return parts.map((p) => (p.flag ? ` --${p.flag} …` : '')).join('');
}

const keyPlace = (s: { provider: string; region?: string; profile?: string }) =>
  `--provider ${s.provider}${s.region && s.provider !== 'local' ? ` --region ${s.region}` : ''}${s.profile && s.profile !== 'default' ? ` --profile ${s.profile}` : ''}`;

function line(s: NextStep): string {
  switch (s.action) {
    case 'enableKey':
      return `${CLI} keys enable ${keyFlags(s.key)}`;
    case 'disableKey':
      return `${CLI} keys disable ${keyFlags(s.key)}`;
    case 'cancelDeletion':
      return `${CLI} keys cancel-deletion ${keyFlags(s.key)}`;
    case 'describeKey':
      return `${CLI} keys describe ${keyFlags(s.key)}`;
    case 'setAlias':
      return `${CLI} keys alias ${keyFlags(s.key)} --alias ${s.alias ?? '<alias>'}`;
    case 'moveAlias':
      return `${CLI} keys alias ${keyPlace(s)} --key <new key id> --alias ${s.alias}`;
    case 'listKeys':
      return `${CLI} keys list ${keyPlace(s)}`;
    case 'createKey':
      return `${CLI} keys create --provider ${s.provider}${s.region && s.provider !== 'local' ? ` --region ${s.region}` : ''} --alias <name>`;
    case 'addProfile':
      return `${CLI} profiles add --provider ${s.provider} --name ${s.name ?? '<name>'}${settingFlags(s.provider)}${s.replace ? ' --replace' : ''}`;
    case 'testProfile':
      return `${CLI} profiles test --provider ${s.provider} --name ${s.name}`;
    case 'rotateSecret':
      return `${CLI} profiles rotate --provider ${s.provider} --name ${s.name}${settingFlags(s.provider)}${s.sts ? ' --sts' : ''}`;
    case 'listProfiles':
      return `${CLI} profiles list${s.provider ? ` --provider ${s.provider}` : ''}`;
    case 'importKey':
      return `${CLI} keys import --provider ${s.provider} --in <file>${s.keyId ? ` --key-id ${s.keyId}` : ''}`;
    case 'exportKey':
      return `${CLI} keys export --provider ${s.provider} --key ${s.keyId ?? '<key>'} --out <file>`;
    case 'seal':
      return `${CLI} seal ${s.values ? '--values ' : ''}${s.file ?? '<file>'}${s.values ? '' : ' --key <keyref>'}`;
    case 'inspect':
      return `${CLI} inspect ${s.file ?? '<file>'}`;
  }
}

/** A next step as a command line in backticks. */
export const cliStep = (s: NextStep): string => `\`${line(s)}\``;

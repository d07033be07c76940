/**
 * VS Code's words for the next steps core errors name (`NextStep`): the palette command that takes
 * the step ("KMS Envelope: Enable Key"), or where in the window it is. Plain data, no `vscode`
 * import, so the words are tested in Node beside the CLI's (test/unit/hints.test.ts); the buttons
 * that take the steps are hints.ts's.
 */
import type { NextStep } from '../core/errors';

const title = (t: string) => `"KMS Envelope: ${t}"`;
const VIEW = 'the KMS Envelope Keys view';
/** What VS Code cannot do itself (local key import / export): the terminal command that does it, named as such. */
const terminal = (command: string) => `\`kms-envelope ${command}\` in a terminal (the extension has no command for it)`;

/** A next step in VS Code's words: the palette command that does it. */
export function vscodeStep(s: NextStep): string {
  switch (s.action) {
    case 'enableKey':
      return title('Enable Key');
    case 'disableKey':
      return title('Disable Key');
    case 'cancelDeletion':
      return title('Cancel Key Deletion');
    case 'describeKey':
      return `the key's tooltip in ${VIEW}`;
    case 'setAlias':
      return `${title('Set Alias…')}${s.alias ? ` (${s.alias})` : ''}`;
    case 'moveAlias':
      return `${title('Set Alias…')} (${s.alias}) on the new key in ${VIEW}`;
    case 'listKeys':
    case 'listProfiles':
      return VIEW;
    case 'createKey':
      return title('Create Key…');
    case 'addProfile':
      return s.replace ? `${title('Remove Profile…')}, then ${title('Add Profile…')}` : title('Add Profile…');
    case 'testProfile':
      return title('Test Profile');
    case 'rotateSecret':
      return title('Rotate Secret…');
    case 'importKey':
      return terminal(`keys import --provider ${s.provider}`);
    case 'exportKey':
      return terminal(`keys export --provider ${s.provider}`);
    case 'seal':
      return title(s.values ? 'Seal Values in File' : 'Seal File');
    case 'inspect':
      return title('Inspect Sealed Header');
  }
}

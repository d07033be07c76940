/**
 * VS Code's words for the next steps core errors name (`NextStep`): a command title from the
 * palette in the text ("KMS Envelope: Enable Key", step-words.ts), and a button on the error
 * notification that does exactly what its title says. The CLI words the same steps as `kms-envelope …` lines (cli/hints.ts).
 */
import * as vscode from 'vscode';
import type { NextStep, StepKey } from '../core/errors';
import { vscodeStep } from './step-words';

export { vscodeStep };

/** A button on an error notification. */
export interface StepButton {
  title: string;
  /** The command the button runs first. */
  command: string;
  run(): Thenable<unknown>;
}

const keyArg = (k: StepKey) => ({ provider: k.provider, profile: k.profile, region: k.region, keyId: k.keyId });
const run = (command: string, ...args: unknown[]) => vscode.commands.executeCommand(command, ...args);
const button = (title: string, command: string, ...args: unknown[]): StepButton => ({ title, command, run: () => run(command, ...args) });
const sameKey = (a: StepKey, b: StepKey) => a.provider === b.provider && a.region === b.region && a.keyId === b.keyId;

/** Key steps the buttons can take, with their titles and commands (describe has no command: the tooltip shows it). */
const KEY_STEPS = {
  cancelDeletion: { title: 'Cancel Deletion', command: 'kmsEnvelope.cancelDeletion' },
  enableKey: { title: 'Enable Key', command: 'kmsEnvelope.enableKey' },
  disableKey: { title: 'Disable Key', command: 'kmsEnvelope.disableKey' },
} as const;
type KeyStep = NextStep & { action: keyof typeof KEY_STEPS; key: StepKey };
const isKeyStep = (s: NextStep): s is KeyStep => Object.hasOwn(KEY_STEPS, s.action);

/**
 * The buttons for an error's next steps. Consecutive steps on one key are one button that takes
 * them in order ("Cancel Deletion and Enable Key"); a key's state change is followed by `rerun`
 * (the command that failed, run again), the way the hint says "…, then …". Each title names what
 * its button does, no more.
 */
export function stepButtons(steps: NextStep[], rerun: () => Thenable<unknown>): StepButton[] {
  const out: StepButton[] = [];
  for (let i = 0; i < steps.length; i++) {
    const s = steps[i]!;
    if (isKeyStep(s)) {
      const chain = [s];
      while (i + 1 < steps.length) {
        const next = steps[i + 1]!;
        if (!isKeyStep(next) || !sameKey(next.key, s.key) || chain.some((c) => c.action === next.action)) break;
        chain.push(next);
        i++;
      }
      out.push({
        title: chain.map((c) => KEY_STEPS[c.action]!.title).join(' and '),
        command: KEY_STEPS[chain[0]!.action].command,
        run: async () => {
          for (const c of chain) if (!(await run(KEY_STEPS[c.action]!.command, keyArg(c.key)))) return;
          await rerun();
        },
      });
      continue;
    }
    const b = otherButton(s);
    if (b) out.push(b);
  }
  const titles = new Set<string>();
  return out.filter((b) => !titles.has(b.title) && !!titles.add(b.title));
}

function otherButton(s: NextStep): StepButton | undefined {
  switch (s.action) {
    case 'setAlias':
      return button('Set Alias', 'kmsEnvelope.setAlias', keyArg(s.key));
    case 'listKeys':
    case 'listProfiles':
    case 'describeKey':
      return button('Show Keys', 'kmsEnvelope.keys.focus');
    case 'createKey':
      return button('Create Key', 'kmsEnvelope.createKey', { provider: s.provider });
    case 'addProfile':
      return button('Add Profile', 'kmsEnvelope.addProfile', { provider: s.provider });
    case 'testProfile':
      return button('Test Profile', 'kmsEnvelope.testProfile', { provider: s.provider, profile: s.name });
    case 'rotateSecret':
      return button('Rotate Secret', 'kmsEnvelope.rotateSecret', { provider: s.provider, profile: s.name });
    case 'inspect':
      return s.file ? button('Inspect Sealed Header', 'kmsEnvelope.inspect', vscode.Uri.file(s.file)) : undefined;
    case 'seal':
      if (!s.file) return undefined;
      return s.values
        ? button('Seal Values in File', 'kmsEnvelope.sealValues', vscode.Uri.file(s.file))
        : button('Seal File', 'kmsEnvelope.sealFile', vscode.Uri.file(s.file));
    default:
      return undefined;
  }
}

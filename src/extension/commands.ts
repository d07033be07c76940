/**
 * Every command of the extension in one flat table, `name → handler` (rust-analyzer's
 * `createCommands()` is the model). Each handler is a top-level function of the file that owns
 * its subject, called with the services and the command's arguments; activate() registers the
 * whole table through the one wrapper in ui.ts (logging, one error notification with actions,
 * cancellation is not a failure).
 */
import type * as vscode from 'vscode';
import type { KeyTarget } from '../core/services/envelope-service';
import type { Services } from './ctx';
import * as key from './key-commands';
import * as profiles from './profiles';
import type { Handler } from './ui';
import * as view from './view-commands';

export function createCommands(s: Services): Record<string, Handler> {
  /** A handler of the table: `fn(services, ...args)`. */
  const on =
    <A extends unknown[]>(fn: (s: Services, ...args: A) => unknown) =>
    (...args: A) =>
      fn(s, ...args);
  return {
    'kmsEnvelope.showLog': () => s.log.show(),
    // Selections and files
    'kmsEnvelope.sealSelection': (t?: KeyTarget) =>
      s.selections.sealSelection(t && typeof t === 'object' && 'provider' in t ? t : undefined),
    'kmsEnvelope.unsealSelection': (at?: unknown) => s.selections.unsealSelection(at),
    'kmsEnvelope.sealSample': () => s.selections.sealSample(),
    'kmsEnvelope.copyUnsealed': (at?: unknown) => s.selections.copyUnsealed(at),
    'kmsEnvelope.sealFile': (a?: unknown, b?: unknown) => s.files.sealFile(a, b),
    'kmsEnvelope.unsealFile': (a?: unknown, b?: unknown) => s.files.unsealFile(a, b),
    'kmsEnvelope.openSealedFile': (a?: unknown) => s.files.openSealedFile(a),
    'kmsEnvelope.rewrapFile': (a?: unknown, b?: unknown) => s.files.rewrapFile(a, b),
    'kmsEnvelope.inspect': (a?: unknown) => s.files.inspect(a),
    'kmsEnvelope.sealValues': (a?: unknown, b?: unknown) => s.values.sealValues(a, b),
    'kmsEnvelope.unsealValues': (a?: unknown, b?: unknown) => s.values.unsealValues(a, b),
    'kmsEnvelope.openDecryptedDiff': (a?: unknown) => s.diffs.openDecryptedDiff(a),
    'kmsEnvelope.sealValueAt': (uri: vscode.Uri, key: string) => s.leakGuard.sealValueAt(uri, key),
    // The Keys view
    'kmsEnvelope.refresh': () => {
      s.keys.reset();
      // The "used by …" counts too: a file changed outside the editor's watcher is counted again.
      void s.usage.refresh().catch(() => undefined);
    },
    'kmsEnvelope.refreshNode': on(view.refreshNode),
    'kmsEnvelope.loadMore': on(view.loadMore),
    'kmsEnvelope.retry': on(view.retry),
    'kmsEnvelope.filterKeys': on(view.filterKeys),
    'kmsEnvelope.clearFilter': on(view.clearFilter),
    'kmsEnvelope.chooseRegions': on(view.chooseRegions),
    'kmsEnvelope.useLocalKeys': on(view.useLocalKeys),
    // Keys
    'kmsEnvelope.createKey': on(key.createKey),
    'kmsEnvelope.copyKeyId': on(key.copyKeyId),
    'kmsEnvelope.copyKeyArn': on(key.copyKeyArn),
    'kmsEnvelope.copyKeyRef': on(key.copyKeyRef),
    'kmsEnvelope.enableKey': on(key.enableKey),
    'kmsEnvelope.disableKey': on(key.disableKey),
    'kmsEnvelope.setAlias': on(key.setAlias),
    'kmsEnvelope.editDescription': on(key.editDescription),
    'kmsEnvelope.scheduleDeletion': on(key.scheduleDeletion),
    'kmsEnvelope.disableAndScheduleDeletion': on(key.scheduleDeletion),
    'kmsEnvelope.cancelDeletion': on(key.cancelDeletion),
    'kmsEnvelope.setDefaultKey': on(key.setDefaultKey),
    'kmsEnvelope.chooseDefaultKey': on(key.chooseDefaultKey),
    'kmsEnvelope.sealWithKey': on(key.sealWithKey),
    // Profiles
    'kmsEnvelope.addProfile': on(profiles.addProfile),
    'kmsEnvelope.testProfile': on(profiles.testProfileCommand),
    'kmsEnvelope.rotateSecret': on(profiles.rotateSecret),
    'kmsEnvelope.removeProfile': on(profiles.removeProfile),
  };
}

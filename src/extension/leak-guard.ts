/**
 * The leak guard in the editor: `kms-envelope check`'s findings (TeamService.check: values the policy
 * says must be sealed but are not, broken sealed entries; no KMS call) as Problems on the files a
 * .kms-envelope.yaml policy covers, checked on open, as you type (debounced) and on save, with a Quick
 * Fix "Seal Value" that seals that one value by the policy (the values engine, in the editor's text:
 * the same records and header line as `kms-envelope seal --values`).
 */
import * as vscode from 'vscode';
import { usageError } from '../core/errors';
import { findPolicyFile } from '../core/values/policy-file';
import type { Finding } from '../core/services/team-service';
import type { ExtensionLogger } from './log';
import type { TeamAccess } from './team';
import { teamKeysOf } from './team';
import type { EnvelopeService } from '../core/services/envelope-service';
import { withCancellableProgress } from './ui';

export const DIAGNOSTIC_SOURCE = 'KMS Envelope';
export const CODE_UNSEALED = 'unsealed-value';
export const CODE_BROKEN = 'broken-sealed-entry';
export const SEAL_VALUE_COMMAND = 'kmsEnvelope.sealValueAt';

export class LeakGuard implements vscode.Disposable, vscode.CodeActionProvider {
  readonly diagnostics = vscode.languages.createDiagnosticCollection('kms-envelope');
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly subs: vscode.Disposable[] = [];
  /** The key path of each finding by document and line (a Diagnostic carries no data of its own back). */
  private readonly keyAt = new Map<string, Map<number, string>>();
  /** Checks run so far (the integration test waits on it). */
  runs = 0;

  static readonly metadata: vscode.CodeActionProviderMetadata = { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] };

  constructor(
    private readonly team: TeamAccess,
    private readonly envelope: EnvelopeService,
    private readonly log: ExtensionLogger,
  ) {
    this.subs.push(
      this.diagnostics,
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d, 0)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document, 300)),
      vscode.workspace.onDidSaveTextDocument((d) => {
        // A policy saved: every open file may be covered differently now.
        if (/(^|[\\/])\.kms-envelope\.yaml$/.test(d.uri.fsPath)) for (const doc of vscode.workspace.textDocuments) this.schedule(doc, 0);
        else this.schedule(d, 0);
      }),
      vscode.workspace.onDidCloseTextDocument((d) => {
        this.diagnostics.delete(d.uri);
        this.keyAt.delete(d.uri.toString());
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.checkOpen()),
    );
    this.checkOpen();
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    for (const s of this.subs) s.dispose();
  }

  private checkOpen(): void {
    for (const d of vscode.workspace.textDocuments) this.schedule(d, 0);
  }

  private schedule(doc: vscode.TextDocument, delayMs: number): void {
    if (doc.uri.scheme !== 'file') return;
    const key = doc.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.check(doc).catch((err: unknown) =>
          this.log.warn(`Leak guard: checking ${doc.uri.fsPath} failed: ${err instanceof Error ? err.message : String(err)}`),
        );
      }, delayMs),
    );
  }

  /** Checks one document's current text (saved or not) against its policy. */
  async check(doc: vscode.TextDocument): Promise<readonly vscode.Diagnostic[]> {
    if (doc.isClosed || doc.uri.scheme !== 'file') return [];
    const file = doc.uri.fsPath;
    const text = doc.getText();
    // Cheap first: no policy file above it and no sealed entry in it → nothing to load or check.
    if (!text.includes('kmsenv:') && !(await findPolicyFile(file))) {
      this.diagnostics.delete(doc.uri);
      return [];
    }
    const policies = await this.team.policies();
    const rule = await policies.ruleOf(file);
    // Only files the policy covers, or that hold sealed entries (whose breakage is worth showing).
    if (!rule && !text.includes('kmsenv:')) {
      this.diagnostics.delete(doc.uri);
      return [];
    }
    const svc = await this.team.service();
    const findings = await svc.check([{ file, bytes: Buffer.from(text, 'utf8') }], policies);
    this.runs++;
    if (doc.isClosed || doc.getText() !== text) return this.diagnostics.get(doc.uri) ?? []; // a newer check follows
    const diags = findings.map((f) => toDiagnostic(doc, f, rule ? `rule at line ${rule.line} of .kms-envelope.yaml` : undefined));
    this.diagnostics.set(doc.uri, diags);
    this.keyAt.set(doc.uri.toString(), new Map(findings.filter((f) => f.kind === 'plaintext').map((f) => [f.line - 1, f.key])));
    return diags;
  }

  provideCodeActions(doc: vscode.TextDocument, _range: vscode.Range, ctx: vscode.CodeActionContext): vscode.CodeAction[] {
    return ctx.diagnostics
      .filter((d) => d.source === DIAGNOSTIC_SOURCE && d.code === CODE_UNSEALED)
      .flatMap((d) => {
        const key = this.keyAt.get(doc.uri.toString())?.get(d.range.start.line);
        const a = new vscode.CodeAction(key ? `Seal Value ${key}` : 'Seal Value', vscode.CodeActionKind.QuickFix);
        a.diagnostics = [d];
        a.isPreferred = true;
        if (!key) return [];
        a.command = { command: SEAL_VALUE_COMMAND, title: 'Seal Value', arguments: [doc.uri, key] };
        return [a];
      });
  }

  /**
   * The Quick Fix: seals the value at key path `key` of the document by its policy rule (the file's
   * header when it has one, else a new one for the rule's keys), as an edit of the editor's text; the
   * other values stay as they are.
   */
  async sealValueAt(uri: vscode.Uri, key: string): Promise<boolean> {
    const doc = await vscode.workspace.openTextDocument(uri);
    const file = uri.fsPath;
    const [{ ValuesService }, { sealValues, ruleSelects }] = await Promise.all([
      import('../core/services/values-service.js'),
      import('../core/values/index.js'),
    ]);
    const values = new ValuesService(teamKeysOf(this.envelope), { logger: this.log });
    const plan = await values.plan(file);
    const text = doc.getText();
    const r = await withCancellableProgress(`Sealing ${key}…`, (signal) =>
      sealValues(text, {
        format: plan.format,
        name: file,
        select: (s) => s.pathText === key && ruleSelects(plan.rule, s),
        recipients: plan.recipients,
        resolve: this.envelope.resolver(),
        context: plan.context,
        signal,
      }),
    );
    if (!r.changed)
      throw usageError(
        `${key} in ${file} is not a value the policy seals (or it is sealed already).`,
        'Check the .kms-envelope.yaml rule.',
        {
          file,
        },
      );
    if (doc.getText() !== text) throw usageError(`${file} changed while ${key} was being sealed.`, 'Run Seal Value again.', { file });
    const edit = new vscode.WorkspaceEdit();
    edit.replace(uri, new vscode.Range(doc.positionAt(0), doc.positionAt(text.length)), r.text);
    const ok = await vscode.workspace.applyEdit(edit);
    this.log.info(`Sealed ${key} in ${file} by its policy (${r.sealed.length} value(s)${r.newHeader ? ', new header' : ''}).`);
    this.schedule(doc, 0);
    return ok;
  }
}

function toDiagnostic(doc: vscode.TextDocument, f: Finding, ruleText?: string): vscode.Diagnostic {
  const line = Math.min(Math.max(f.line - 1, 0), Math.max(doc.lineCount - 1, 0));
  const l = doc.lineAt(line);
  const range = new vscode.Range(line, l.firstNonWhitespaceCharacterIndex, line, l.range.end.character);
  const d = new vscode.Diagnostic(
    range,
    f.kind === 'plaintext'
      ? `${f.key} must be sealed (${ruleText ?? 'policy'}) but is plaintext. Quick Fix: Seal Value.`
      : `${f.key}: broken sealed entry: ${f.reason ?? 'does not parse'}`,
    f.kind === 'plaintext' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Error,
  );
  d.source = DIAGNOSTIC_SOURCE;
  d.code = f.kind === 'plaintext' ? CODE_UNSEALED : CODE_BROKEN;
  return d;
}

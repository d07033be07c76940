/**
 * The Keys view: the core TreeModel's nodes converted to TreeItems one-to-one. Everything a row
 * shows (label, description, icon, tooltip, contextValue, click command) is decided by the model
 * (src/core/services/tree-model.ts); this file only maps it onto the vscode types.
 */
import * as vscode from 'vscode';
import type { TreeModel, TreeNode } from '../core/services/tree-model';
import type { ExtensionLogger } from './log';

export const VIEW_ID = 'kmsEnvelope.keys';

const COLLAPSE: Record<TreeNode['collapsible'], vscode.TreeItemCollapsibleState> = {
  none: vscode.TreeItemCollapsibleState.None,
  collapsed: vscode.TreeItemCollapsibleState.Collapsed,
  expanded: vscode.TreeItemCollapsibleState.Expanded,
};

export function toTreeItem(node: TreeNode): vscode.TreeItem {
  const item = new vscode.TreeItem(node.label, COLLAPSE[node.collapsible]);
  item.id = node.id;
  item.description = node.description;
  item.contextValue = node.contextValue;
  if (node.icon) item.iconPath = new vscode.ThemeIcon(node.icon.id, node.icon.color ? new vscode.ThemeColor(node.icon.color) : undefined);
  if (node.tooltip) {
    const md = new vscode.MarkdownString(node.tooltip);
    md.supportThemeIcons = true;
    item.tooltip = md;
  }
  if (node.command) item.command = { command: node.command.command, title: node.command.title, arguments: [node] };
  if (node.kind === 'key') item.accessibilityInformation = { label: `${node.label}, ${node.key.state}, ${node.region}` };
  return item;
}

export class KeyTreeProvider implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly sub: { dispose(): void };

  constructor(
    readonly model: TreeModel,
    private readonly log: ExtensionLogger,
  ) {
    this.sub = model.onDidChange((node) => this.emitter.fire(node));
  }

  dispose(): void {
    this.sub.dispose();
    this.emitter.dispose();
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    return toTreeItem(this.model.update(node));
  }

  async getChildren(node?: TreeNode): Promise<TreeNode[]> {
    try {
      return await this.model.getChildren(node);
    } catch (err) {
      this.log.error(`Keys view: loading ${node ? node.id : 'the top level'} failed: ${err instanceof Error ? err.message : String(err)}`);
      return [];
    }
  }

  getParent(node: TreeNode): TreeNode | undefined {
    return this.model.getParent(node);
  }
}

/**
 * Filter indicator: the view's description and a line above the rows name the filter (the description
 * alone is easy to miss, or cut off when the view shares its title with the container), and a context
 * key puts "Clear Filter" in the title bar in place of "Filter Keys".
 */
export async function applyFilter(view: vscode.TreeView<TreeNode>, model: TreeModel, text: string): Promise<void> {
  model.setFilter(text);
  view.description = model.filter ? `filter: ${model.filter}` : undefined;
  view.message = model.filter ? `Only keys whose alias or id contains "${model.filter}". Clear Filter (title bar) shows all.` : undefined;
  await vscode.commands.executeCommand('setContext', 'kmsEnvelope.filtered', !!model.filter);
}

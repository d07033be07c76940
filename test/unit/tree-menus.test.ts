// The Keys view's context menus as VS Code builds them: package.json's `view/item/context` entries
// whose `when` clause holds for a row's contextValue (the model's, from src/core/services/tree-model.ts),
// in VS Code's order (groups by name, then `@order`, then title). Checks what a newcomer meets:
// destructive items last, Add Profile and Refresh on a provider row, no Create Key on a failed region.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

interface MenuEntry {
  command: string;
  when: string;
  group?: string;
}

const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
  contributes: { menus: Record<string, MenuEntry[]>; commands: Array<{ command: string; title: string }> };
};
const titles = new Map(pkg.contributes.commands.map((c) => [c.command, c.title]));

/** Evaluates the when clauses this view uses: `view == X`, `viewItem =~ /re/`, joined by `&&`. */
function holds(when: string, viewItem: string): boolean {
  return when.split('&&').every((raw) => {
    const t = raw.trim();
    if (t === 'view == kmsEnvelope.keys') return true;
    const m = /^viewItem =~ \/(.*)\/$/.exec(t);
    if (!m) throw new Error(`when term this test cannot read: ${t}`);
    return new RegExp(m[1]).test(viewItem);
  });
}

/** The context menu of a row: its groups in display order, each a list of titles (inline actions left out). */
function menuGroups(viewItem: string): string[][] {
  const entries = pkg.contributes.menus['view/item/context']
    .filter((e) => e.group !== 'inline' && holds(e.when, viewItem))
    .map((e) => {
      const [group, order] = (e.group ?? '').split('@');
      return { group, order: order === undefined ? Number.MAX_SAFE_INTEGER : Number(order), title: titles.get(e.command) ?? e.command };
    })
    .sort((a, b) => a.group.localeCompare(b.group) || a.order - b.order || a.title.localeCompare(b.title));
  const out: string[][] = [];
  entries.forEach((e, i) => {
    if (i === 0 || entries[i - 1].group !== e.group) out.push([]);
    out[out.length - 1].push(e.title);
  });
  return out;
}

/** The menu as one line: titles by ", ", groups by " | ". */
const contextMenu = (viewItem: string) =>
  menuGroups(viewItem)
    .map((g) => g.join(', '))
    .join(' | ');

const DESTRUCTIVE = /^(Remove Profile…|Disable Key|Schedule Key Deletion…|Disable and Schedule Deletion…)$/;

/** Destructive items come after every other item, in a group of their own. */
function destructiveLast(viewItem: string): void {
  const groups = menuGroups(viewItem);
  const firstBad = groups.findIndex((g) => g.some((t) => DESTRUCTIVE.test(t)));
  if (firstBad < 0) return;
  const menu = contextMenu(viewItem);
  assert.equal(firstBad, groups.length - 1, `destructive items before others: ${menu}`);
  assert.ok(
    groups[firstBad].every((t) => DESTRUCTIVE.test(t)),
    `a destructive item shares its group with a harmless one: ${menu}`,
  );
}

describe('Keys view context menus', () => {
  it('a provider row offers Add Profile and Refresh; the flat local provider row creates keys', () => {
    assert.equal(contextMenu('kms:provider+tencent+profiles'), 'Add Profile… | Refresh');
    assert.equal(contextMenu('kms:provider+local+keys'), 'Create Key… | Refresh');
  });

  it('a failed region row offers no Create Key; a loaded one does', () => {
    assert.equal(contextMenu('kms:region+tencent+error'), 'Refresh');
    assert.equal(contextMenu('kms:region+tencent'), 'Create Key… | Refresh');
    assert.equal(contextMenu('kms:provider+local+keys+error'), 'Refresh');
  });

  it('destructive items come last, in their own group, in every row menu', () => {
    const rows = [
      'kms:profile+tencent+keychain+credentials',
      'kms:profile+alibaba+env+credentials',
      'kms:key+enabled+tencent+alias+arn+disableFirst',
      'kms:key+enabled+alibaba+default+alias+arn',
      'kms:key+disabled+local+alias',
      'kms:key+pendingDeletion+aws+alias+arn',
      'kms:region+aws',
      'kms:error+region',
    ];
    for (const r of rows) destructiveLast(r);
    assert.match(contextMenu('kms:profile+tencent+keychain+credentials'), /Refresh \| Remove Profile…$/);
    assert.match(contextMenu('kms:key+enabled+tencent+alias+arn+disableFirst'), /\| Disable Key, Disable and Schedule Deletion…$/);
    assert.match(contextMenu('kms:key+enabled+alibaba+alias+arn'), /\| Disable Key, Schedule Key Deletion…$/);
  });
});

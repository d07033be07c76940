// node:test reporter for the e2e suites: one line per test (✔ / ✘ with the error / - skipped) and a
// last line `N passed, N failed[, N skipped]`, the same shape as scripts/vscode/run.ts prints.
const indent = (s) =>
  String(s)
    .split('\n')
    .filter((l) => !/\(?node:internal\//.test(l))
    .slice(0, 25)
    .map((l) => `      ${l}`)
    .join('\n');

const errorText = (error) => {
  const e = error?.cause ?? error;
  return e?.stack ?? e?.message ?? String(e);
};

export default async function* reporter(source) {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const names = [];
  for await (const ev of source) {
    const d = ev.data ?? {};
    if (ev.type === 'test:start') {
      names[d.nesting] = d.name;
      names.length = d.nesting + 1;
      continue;
    }
    if (ev.type === 'test:stderr' || ev.type === 'test:stdout') {
      yield d.message;
      continue;
    }
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    const title = [...names.slice(0, d.nesting), d.name].filter(Boolean).join(' › ');
    const suite = d.details?.type === 'suite';
    if (d.skip !== undefined && d.skip !== false) {
      skipped++;
      yield `  - ${title} (skipped${typeof d.skip === 'string' ? `: ${d.skip}` : ''})\n`;
      continue;
    }
    if (ev.type === 'test:pass') {
      if (suite) continue;
      passed++;
      yield `  ✔ ${title} (${Math.round(d.details?.duration_ms ?? 0)} ms)\n`;
    } else {
      // A suite that failed only because a test in it failed was already counted.
      if (suite && d.details?.error?.failureType === 'subtestsFailed') continue;
      failed++;
      yield `  ✘ ${title}${suite ? ' (suite, a hook or the file)' : ''}\n${indent(errorText(d.details?.error))}\n`;
    }
  }
  yield `${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`;
}

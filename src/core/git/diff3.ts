/**
 * Three-way merge of texts in memory, with git's conflict markers, and the reverse: the two sides of a
 * text that holds conflict markers.
 *
 * Why not `git merge-file`: it reads its three inputs as files (git 2.39 here stats each path and reads
 * st_size bytes, so a pipe or `<(…)` reads as empty; tested), and the merge driver must never put
 * plaintext in a file. node-diff3 would be the library to use; it is not a dependency yet, so this is the
 * classic diff3 (stable regions where the base matches both sides, each unstable chunk taken from the
 * side that changed it, a conflict where both did differently) over a longest-common-subsequence line
 * diff, with git's default ("zealous") trimming of lines both sides share at the ends of a conflict.
 * The tests compare it with `git merge-file -p` on non-secret inputs.
 *
 * Texts are handled as latin1 strings by the callers that hold bytes, so every byte round-trips.
 */

export interface MergeResult {
  text: string;
  /** Number of conflict hunks (0: a clean merge). */
  conflicts: number;
}

export interface MergeLabels {
  ours?: string;
  theirs?: string;
}

/** Lines with their line ends ("a\n", "b\r\n", and a last line without one). */
export function splitLines(text: string): string[] {
  const out: string[] = [];
  let at = 0;
  for (;;) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) {
      if (at < text.length) out.push(text.slice(at));
      return out;
    }
    out.push(text.slice(at, nl + 1));
    at = nl + 1;
  }
}

/** Above this many cells the middle of two texts is taken as one changed block (no LCS): coarser, never wrong. */
const MAX_LCS_CELLS = 16_000_000;

/**
 * For each line of `a`, the index of the line of `b` it is matched with in a longest common
 * subsequence, or -1. Common prefix and suffix are matched first; the rest by dynamic programming.
 */
export function lcsMatches(a: string[], b: string[]): Int32Array {
  const m = new Int32Array(a.length).fill(-1);
  let pre = 0;
  while (pre < a.length && pre < b.length && a[pre] === b[pre]) {
    m[pre] = pre;
    pre++;
  }
  let suf = 0;
  while (suf < a.length - pre && suf < b.length - pre && a[a.length - 1 - suf] === b[b.length - 1 - suf]) {
    m[a.length - 1 - suf] = b.length - 1 - suf;
    suf++;
  }
  const n = a.length - pre - suf;
  const k = b.length - pre - suf;
  if (n === 0 || k === 0 || n * k > MAX_LCS_CELLS) return m;
  // Intern lines so the table compares numbers.
  const ids = new Map<string, number>();
  const id = (s: string) => {
    let v = ids.get(s);
    if (v === undefined) ids.set(s, (v = ids.size));
    return v;
  };
  const A = Int32Array.from({ length: n }, (_, i) => id(a[pre + i]!));
  const B = Int32Array.from({ length: k }, (_, j) => id(b[pre + j]!));
  // L[i][j] = LCS length of A[i..] and B[j..], rows of k+1.
  const w = k + 1;
  const L = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = k - 1; j >= 0; j--) {
      L[i * w + j] = A[i] === B[j] ? L[(i + 1) * w + j + 1]! + 1 : Math.max(L[(i + 1) * w + j]!, L[i * w + j + 1]!);
    }
  }
  for (let i = 0, j = 0; i < n && j < k;) {
    if (A[i] === B[j]) {
      m[pre + i] = pre + j;
      i++;
      j++;
    } else if (L[(i + 1) * w + j]! >= L[i * w + j + 1]!) i++;
    else j++;
  }
  return m;
}

const same = (x: string[], y: string[]) => x.length === y.length && x.every((l, i) => l === y[i]);
const withEol = (lines: string[]) => {
  const out = [...lines];
  const last = out[out.length - 1];
  if (last !== undefined && !last.endsWith('\n')) out[out.length - 1] = last + '\n';
  return out;
};

/** diff3 of `ours` and `theirs` against `base`, git-style markers around each conflict. */
export function merge3(base: string, ours: string, theirs: string, labels: MergeLabels = {}): MergeResult {
  const O = splitLines(base);
  const A = splitLines(ours);
  const B = splitLines(theirs);
  const ma = lcsMatches(O, A);
  const mb = lcsMatches(O, B);
  const out: string[] = [];
  let conflicts = 0;
  let i = 0;
  let a = 0;
  let b = 0;
  for (;;) {
    while (i < O.length && ma[i] === a && mb[i] === b) {
      out.push(O[i]!);
      i++;
      a++;
      b++;
    }
    if (i >= O.length && a >= A.length && b >= B.length) break;
    let j = i;
    while (j < O.length && (ma[j]! < 0 || mb[j]! < 0)) j++;
    const aEnd = j < O.length ? ma[j]! : A.length;
    const bEnd = j < O.length ? mb[j]! : B.length;
    const o = O.slice(i, j);
    const x = A.slice(a, aEnd);
    const y = B.slice(b, bEnd);
    if (same(o, x)) out.push(...y);
    else if (same(o, y) || same(x, y)) out.push(...x);
    else {
      // Zealous: lines both sides share at the start and end of the conflict are outside it.
      let p = 0;
      while (p < x.length && p < y.length && x[p] === y[p]) p++;
      let s = 0;
      while (s < x.length - p && s < y.length - p && x[x.length - 1 - s] === y[y.length - 1 - s]) s++;
      out.push(...x.slice(0, p));
      const xs = x.slice(p, x.length - s);
      const ys = y.slice(p, y.length - s);
      if (out.length && !out[out.length - 1]!.endsWith('\n')) out[out.length - 1] += '\n';
      out.push(`<<<<<<< ${labels.ours ?? 'ours'}\n`, ...withEol(xs), '=======\n', ...withEol(ys), `>>>>>>> ${labels.theirs ?? 'theirs'}\n`);
      out.push(...x.slice(x.length - s));
      conflicts++;
    }
    i = j;
    a = aEnd;
    b = bEnd;
  }
  return { text: out.join(''), conflicts };
}

const OURS = /^<{7}(?: |\r?\n|$)/;
const BASE = /^\|{7}(?: |\r?\n|$)/;
const SEP = /^={7}(?:\r?\n|$)/;
const THEIRS = /^>{7}(?: |\r?\n|$)/;

/** Whether a text holds git conflict markers (a `<<<<<<<`, `=======`, `>>>>>>>` set of lines). */
export function hasConflictMarkers(text: string): boolean {
  return splitConflicts(text) !== undefined;
}

/** One side of a conflicted text: its text, and where each of its offsets is in the conflicted text. */
export interface ConflictSide {
  text: string;
  /**
   * The offset in the conflicted text of offset `n` of this side. `end`: n is the end of a range, so it
   * maps to the end of the piece before it rather than to the start of the next one.
   */
  origin(n: number, end?: boolean): number;
}

/**
 * The two sides ("ours": the lines before `=======`, "theirs": after it) of a text with conflict
 * markers, each with a map back to the conflicted text; undefined when the text has no complete
 * conflict (so it is an ordinary text).
 */
export function splitConflicts(text: string): { ours: ConflictSide; theirs: ConflictSide } | undefined {
  const lines = splitLines(text);
  type Piece = { side: number; origin: number; length: number };
  const pieces: [Piece[], Piece[]] = [[], []];
  let state: 'common' | 'ours' | 'base' | 'theirs' = 'common';
  let found = false;
  let at = 0;
  for (const l of lines) {
    const start = at;
    at += l.length;
    if (state === 'common' && OURS.test(l)) state = 'ours';
    else if (state === 'ours' && BASE.test(l)) state = 'base';
    else if ((state === 'ours' || state === 'base') && SEP.test(l)) state = 'theirs';
    else if (state === 'theirs' && THEIRS.test(l)) {
      state = 'common';
      found = true;
    } else {
      const to = state === 'common' ? [0, 1] : state === 'ours' ? [0] : state === 'theirs' ? [1] : [];
      for (const s of to) pieces[s as 0 | 1].push({ side: 0, origin: start, length: l.length });
    }
  }
  if (!found || state !== 'common') return undefined;
  const side = (list: Piece[]): ConflictSide => {
    let n = 0;
    for (const p of list) {
      p.side = n;
      n += p.length;
    }
    const text2 = list.map((p) => text.slice(p.origin, p.origin + p.length)).join('');
    return {
      text: text2,
      origin(k: number, end = false) {
        // The last piece that starts at or before k (before k for the end of a range).
        let lo = 0;
        let hi = list.length - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          if (end ? list[mid]!.side < k : list[mid]!.side <= k) lo = mid;
          else hi = mid - 1;
        }
        const p = list[lo];
        return p ? p.origin + (k - p.side) : k;
      },
    };
  };
  return { ours: side(pieces[0]), theirs: side(pieces[1]) };
}

/**
 * Stream helpers for the CLI: sniffing the first bytes of an input without losing them, and the
 * armored text form (`kmsenv:v1:` + base64, see src/core/envelope/armor.ts) as streaming
 * transforms, so `seal --armor` and `unseal` of an armored file keep memory bounded for any size.
 * (The engine's armor()/dearmor() work on whole buffers; these are their streaming equivalents and
 * produce / accept exactly the same text.)
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { formatError } from '../core/errors';
import { ARMOR_PREFIX } from '../core/envelope/armor';

/** Reads at least `n` bytes (or to EOF) and returns them with a stream that replays them first. */
export async function peek(input: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const chunks: Buffer[] = [];
  let got = 0;
  let done = false;
  while (got < n) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    chunks.push(b);
    got += b.length;
  }
  const head = Buffer.concat(chunks);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
    }
  }
  const stream = Readable.from(replay(), { objectMode: false, highWaterMark: 1 << 20 });
  stream.on('close', () => {
    if (!input.destroyed) input.destroy();
  });
  return { head, stream };
}

/** Binary in → `kmsenv:v1:` + base64 + "\n" out. */
export function armorEncoder(): Transform {
  let carry = Buffer.alloc(0);
  let started = false;
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      const all = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const usable = all.length - (all.length % 3);
      carry = Buffer.from(all.subarray(usable));
      const out = all.subarray(0, usable).toString('base64');
      cb(null, started ? out : ((started = true), ARMOR_PREFIX + out));
    },
    flush(cb: TransformCallback) {
      cb(null, (started ? '' : ARMOR_PREFIX) + carry.toString('base64') + '\n');
    },
  });
}

const B64 = /^[A-Za-z0-9+/]*$/;

/**
 * Armored text in → binary out. Accepts a UTF-8 BOM and whitespace before the prefix, whitespace
 * after the base64; anything else is a format error that names the position.
 */
export function armorDecoder(source: string): Transform {
  let state: 'prefix' | 'body' | 'padding' | 'tail' = 'prefix';
  let pre = '';
  let carry = '';
  let pos = 0; // characters consumed, for messages
  let sawBody = false;
  const bad = (what: string) =>
    formatError(
      `${source} is not a valid armored blob: ${what}.`,
      'An armored blob is one line: kmsenv:v1: followed by base64. Check that it was copied whole.',
      { file: source },
    );

  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        let text = chunk.toString('latin1');
        const out: Buffer[] = [];
        while (text.length) {
          if (state === 'prefix') {
            pre += text;
            text = '';
            const trimmed = pre.replace(/^(\xef\xbb\xbf)?\s*/, '');
            if (trimmed.length < ARMOR_PREFIX.length) {
              if (!ARMOR_PREFIX.startsWith(trimmed)) throw bad(`expected "${ARMOR_PREFIX}" at the start`);
              continue;
            }
            if (!trimmed.startsWith(ARMOR_PREFIX)) throw bad(`expected "${ARMOR_PREFIX}" at the start`);
            pos = pre.length - trimmed.length + ARMOR_PREFIX.length;
            text = trimmed.slice(ARMOR_PREFIX.length);
            state = 'body';
            continue;
          }
          if (state === 'body') {
            const m = /[^A-Za-z0-9+/]/.exec(text);
            const body = m ? text.slice(0, m.index) : text;
            carry += body;
            pos += body.length;
            if (body.length) sawBody = true;
            const usable = carry.length - (carry.length % 4);
            if (usable) {
              out.push(Buffer.from(carry.slice(0, usable), 'base64'));
              carry = carry.slice(usable);
            }
            if (!m) break;
            text = text.slice(m.index);
            state = text[0] === '=' ? 'padding' : 'tail';
            continue;
          }
          if (state === 'padding') {
            if (text[0] === '=') {
              carry += '=';
              pos++;
              text = text.slice(1);
              if (carry.length > 4 || carry.length % 4 === 1) throw bad(`misplaced "=" padding at position ${pos}`);
              continue;
            }
            state = 'tail';
            continue;
          }
          // tail: only whitespace allowed
          const m = /\S/.exec(text);
          if (m) throw bad(`unexpected character ${JSON.stringify(text[m.index])} at position ${pos + m.index}`);
          pos += text.length;
          text = '';
        }
        cb(null, out.length ? Buffer.concat(out) : undefined);
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      if (state === 'prefix') return cb(bad(`expected "${ARMOR_PREFIX}" at the start`));
      if (!sawBody) return cb(bad('it is empty after the prefix'));
      if (carry.length % 4 !== 0) return cb(bad('its length is not a multiple of 4 (cut short?)'));
      if (carry.length && !B64.test(carry.replace(/=+$/, ''))) return cb(bad('misplaced "=" padding'));
      cb(null, carry.length ? Buffer.from(carry, 'base64') : undefined);
    },
  });
}

/** Is this first chunk armored text (after an optional BOM and whitespace)? */
export function looksArmored(head: Buffer): boolean {
  let b = head;
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
  const t = b.subarray(0, 4096).toString('latin1').trimStart();
  return t.startsWith(ARMOR_PREFIX) || (t.length < ARMOR_PREFIX.length && t.length > 0 && ARMOR_PREFIX.startsWith(t));
}

/**
 * Reads bytes from an async source on demand: small contiguous pieces (headers, tags) or a run of
 * pieces without copying (frame content). Shared by the header reader and the frame loop.
 */
import { buf } from './header';

export class ChunkReader {
  private chunks: Buffer[] = [];
  private avail = 0;
  private ended = false;
  private read = 0;
  /** Bytes handed out so far. */
  consumed = 0;
  constructor(
    private readonly it: AsyncIterator<Buffer | Uint8Array | string>,
    private readonly onRead?: (total: number) => void,
  ) {}

  /** Pulls until at least n bytes are buffered; false if the source ends first. */
  async fill(n: number): Promise<boolean> {
    while (this.avail < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const c = typeof r.value === 'string' ? Buffer.from(r.value) : Buffer.isBuffer(r.value) ? r.value : buf(r.value);
      if (c.length) {
        this.chunks.push(c);
        this.avail += c.length;
        this.read += c.length;
        this.onRead?.(this.read);
      }
    }
    return this.avail >= n;
  }
  get available(): number {
    return this.avail;
  }
  /** The first min(n, available) buffered bytes contiguous (maybe more), without consuming; copies only that prefix. */
  peek(n = Infinity): Buffer {
    const first = this.chunks[0];
    if (!first) return Buffer.alloc(0);
    if (first.length >= n || this.chunks.length === 1) return first;
    const want = Math.min(n, this.avail);
    const head = Buffer.concat(this.take(want), want);
    this.chunks.unshift(head);
    this.avail += want;
    this.consumed -= want;
    return head;
  }
  /** Consumes up to n buffered bytes as pieces. */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    while (n > 0 && this.chunks.length) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        out.push(c);
        this.chunks.shift();
        n -= c.length;
        this.avail -= c.length;
        this.consumed += c.length;
      } else {
        out.push(c.subarray(0, n));
        this.chunks[0] = c.subarray(n);
        this.avail -= n;
        this.consumed += n;
        n = 0;
      }
    }
    return out;
  }
}

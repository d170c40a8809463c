/**
 * Keeps the first and the last half of a command's output when it is longer
 * than the cap: the start shows what ran, the end holds the error or the test
 * summary, and the middle is what a model can best do without.
 */
export class CappedOutput {
  private readonly headCap: number;
  private readonly tailCap: number;
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(private readonly cap: number) {
    this.headCap = Math.ceil(cap / 2);
    this.tailCap = cap - this.headCap;
  }

  push(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headCap) {
      const take = Math.min(this.headCap - this.headBytes, rest.length);
      this.head.push(rest.subarray(0, take));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0) return;
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Drop whole old chunks while what remains still covers the tail we keep.
    let first = this.tail[0];
    while (first && this.tailBytes - first.length >= this.tailCap) {
      this.tail.shift();
      this.tailBytes -= first.length;
      first = this.tail[0];
    }
  }

  get truncated(): boolean {
    return this.total > this.cap;
  }

  text(): string {
    const head = Buffer.concat(this.head);
    const tail = Buffer.concat(this.tail);
    if (!this.truncated) return Buffer.concat([head, tail]).toString('utf8');
    const kept = tail.subarray(Math.max(0, tail.length - this.tailCap));
    const omitted = this.total - head.length - kept.length;
    const note = `\n[... ${omitted} bytes omitted: output capped at ${this.cap} bytes, showing the start and the end ...]\n`;
    return head.toString('utf8') + note + kept.toString('utf8');
  }
}

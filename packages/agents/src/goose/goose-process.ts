import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Launch } from '../workspace/sandbox.ts';
import { spawnLaunched } from '../workspace/sandbox-spawn.ts';

export type GooseOutput =
  | { kind: 'line'; line: string }
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null };

const STDERR_TAIL_LINES = 20;
/**
 * After goose exits we wait this long for its stdout to close. A background
 * process goose started can keep the pipe open forever; its output is not
 * goose's, so we stop reading instead of hanging.
 */
const DRAIN_AFTER_EXIT_MS = 300;

/** A running `goose` child in its own process group, its stdout as a queue of lines. */
export class GooseProcess {
  private readonly items: GooseOutput[] = [];
  private waiter: ((item: GooseOutput) => void) | undefined;
  private readonly stderr: string[] = [];
  private exitedFlag = false;
  private readonly stdin: NodeJS.WritableStream | null;
  /** Resolves when the goose process itself has exited. */
  readonly exited: Promise<void>;

  private constructor(
    readonly pid: number,
    child: ChildProcess,
    /** Resolves once every process of goose's sandbox is gone (at once when unconfined). */
    readonly settled: () => Promise<void>,
  ) {
    let markExited: () => void = () => {};
    this.exited = new Promise((resolve) => {
      markExited = resolve;
    });
    if (!child.stdout || !child.stderr) throw new Error('goose was spawned without pipes');
    this.stdin = child.stdin;
    // A goose that exits while we write gives EPIPE; its exit is what the runner acts on.
    child.stdin?.on('error', () => {});
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) =>
      this.push({ kind: 'line', line }),
    );
    createInterface({ input: child.stderr, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      this.stderr.push(line);
      if (this.stderr.length > STDERR_TAIL_LINES) this.stderr.shift();
    });
    let finished = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (finished) return;
      finished = true;
      this.push({ kind: 'exit', code, signal });
    };
    child.once('exit', (code, signal) => {
      this.exitedFlag = true;
      markExited();
      const timer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code, signal);
      }, DRAIN_AFTER_EXIT_MS);
      timer.unref();
    });
    // 'close' comes after every stdout line was read, so no line is lost.
    child.once('close', (code, signal) => finish(code, signal));
  }

  /**
   * Spawns a launched goose (sandbox.ts: bwrap around goose, or goose itself with SANDBOX=off)
   * detached: its own process group, so stopping it also stops the shells and tools it started.
   * Rejects with the spawn error (ENOENT, EACCES …).
   */
  static start(launch: Launch, opts: { stdin?: boolean } = {}): Promise<GooseProcess> {
    return new Promise((resolve, reject) => {
      const { child, settled } = spawnLaunched(launch, {
        stdin: opts.stdin ? 'pipe' : 'ignore',
        detached: true,
      });
      const onError = (err: Error) => reject(err);
      child.once('error', onError);
      child.once('spawn', () => {
        child.off('error', onError);
        // Later errors (a failed kill) carry nothing the exit event does not.
        child.on('error', () => {});
        if (child.pid === undefined) {
          reject(new Error('goose started without a pid'));
          return;
        }
        resolve(new GooseProcess(child.pid, child, settled));
      });
    });
  }

  get hasExited(): boolean {
    return this.exitedFlag;
  }

  /** The last lines goose wrote to stderr (its log), for error messages. */
  stderrTail(count = 5): string[] {
    return this.stderr.slice(-count);
  }

  /** Writes one line to goose's stdin (started with `stdin: true`). */
  writeLine(line: string): void {
    if (!this.stdin) throw new Error('goose was started without stdin');
    this.stdin.write(`${line}\n`);
  }

  /** Closes goose's stdin: an ACP agent takes that as the end of the connection. */
  endInput(): void {
    this.stdin?.end();
  }

  next(): Promise<GooseOutput> {
    const item = this.items.shift();
    if (item) return Promise.resolve(item);
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  private push(item: GooseOutput) {
    const waiter = this.waiter;
    if (waiter) {
      this.waiter = undefined;
      waiter(item);
    } else {
      this.items.push(item);
    }
  }
}

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { AgentRunner, RunInput, RunResult, RunStream } from '../runner.ts';
import { GooseProcess } from './goose-process.ts';
import { processGroupAlive, terminateProcessGroup } from './process-group.ts';
import { GooseEventMapper } from './stream-json.ts';

export interface GooseRunnerOptions {
  /** Path of the goose executable (GOOSE_BIN, or what findGooseBinary found). */
  bin: string;
  /** Provider settings for goose (GOOSE_PROVIDER, GOOSE_MODEL, the provider's API key …). */
  env?: Record<string, string>;
  /** Appended to `goose run …` (e.g. ['--with-builtin', 'developer']). */
  extraArgs?: string[];
  /** How long goose gets to exit after SIGTERM before the group is SIGKILLed. */
  killGraceMs?: number;
}

const DEFAULT_KILL_GRACE_MS = 2_000;

/**
 * `goose run` arguments. Flags as documented for the goose CLI (goose-cli-commands.md,
 * crates/goose-cli/src/cli.rs): -t/--text, --output-format text|json|stream-json,
 * --no-session, -q/--quiet.
 */
export function gooseArgs(prompt: string, extraArgs: string[] = []): string[] {
  // clap reads a separate value that starts with "-" as a flag; the attached form takes any text.
  const text = prompt.startsWith('-') ? [`--text=${prompt}`] : ['-t', prompt];
  return ['run', ...text, '--output-format', 'stream-json', '--no-session', '-q', ...extraArgs];
}

/**
 * The child's whole environment: PATH and HOME (goose reads its config from
 * ~/.config/goose), headless auto mode, then the provider settings. Nothing else
 * of the server's environment (database URL, tokens, other providers' keys)
 * reaches the agent or the commands it runs.
 */
export function gooseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME'] as const) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  // Approve/SmartApprove modes refuse to run without a terminal to ask on.
  env.GOOSE_MODE = 'auto';
  return { ...env, ...extra };
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where goose is: `bin` as a path (absolute, or relative to the cwd) when it has a
 * slash, else `bin` (default "goose") looked up on PATH. Null when there is no
 * executable file there.
 */
export async function findGooseBinary(bin?: string): Promise<string | null> {
  const name = bin?.trim() || 'goose';
  if (isAbsolute(name) || name.includes('/')) {
    const path = resolve(name);
    return (await isExecutableFile(path)) ? path : null;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Runs Block's Goose CLI as a subprocess in the execution's workspace. */
export class GooseRunner implements AgentRunner {
  readonly agentType = 'goose';

  constructor(private readonly opts: GooseRunnerOptions) {}

  async *run(input: RunInput): RunStream {
    const { signal, workspace } = input;
    const { bin } = this.opts;
    signal.throwIfAborted();
    const model = this.opts.env?.GOOSE_MODEL;
    const fail = (error: string, extra: Record<string, unknown> = {}): RunResult => ({
      success: false,
      result: null,
      error,
      metadata: { agent: this.agentType, ...(model ? { model } : {}), ...extra },
    });

    // spawn reports a missing cwd as ENOENT of the binary; tell the two apart first.
    if (!(await isDirectory(workspace.dir))) {
      return fail(`workspace directory ${workspace.dir} does not exist`);
    }

    let proc: GooseProcess;
    try {
      proc = await GooseProcess.start(bin, gooseArgs(input.prompt, this.opts.extraArgs), {
        cwd: workspace.dir,
        env: gooseEnv(this.opts.env),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return fail(`goose binary not found at ${bin}; install Goose or set GOOSE_BIN`);
      if (code === 'EACCES') {
        return fail(`goose binary at ${bin} is not executable; fix its permissions or set GOOSE_BIN`);
      }
      throw err;
    }

    const graceMs = this.opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= terminateProcessGroup(proc.pid, graceMs);
      return stopping;
    };
    let wakeOnAbort: () => void = () => {};
    const aborted = new Promise<void>((resolve) => {
      wakeOnAbort = resolve;
    });
    const onAbort = () => {
      void stop();
      wakeOnAbort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();

    const mapper = new GooseEventMapper(model);
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      yield { type: 'status', phase: 'running', message: `goose started (pid ${proc.pid})` };
      for (;;) {
        const out = await Promise.race([proc.next(), aborted.then(() => undefined)]);
        if (signal.aborted || !out) {
          // The caller learns of the abort only once goose and its children are gone.
          await stop();
          await proc.exited;
          throw signal.reason;
        }
        if (out.kind === 'exit') {
          exit = out;
          break;
        }
        for (const ev of mapper.map(out.line)) yield ev;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // Covers an early return() by the consumer, and tools goose left running in its group.
      if (!proc.hasExited || stopping || (await processGroupAlive(proc.pid))) await stop();
    }

    const diff = await workspace.diff();
    if (diff.unified) yield { type: 'artifact', kind: 'diff', name: 'changes.diff', content: diff.unified };
    const metadata = {
      agent: this.agentType,
      ...(model ? { model } : {}),
      turns: mapper.toolCalls,
      input_tokens: mapper.usage?.inputTokens ?? 0,
      output_tokens: mapper.usage?.outputTokens ?? 0,
      ...(mapper.usage?.totalTokens !== undefined ? { total_tokens: mapper.usage.totalTokens } : {}),
      cost_usd: mapper.usage?.costUsd ?? 0,
      exit_code: exit.code,
      changed_files: diff.files,
      diff: diff.unified,
    };

    if (mapper.completed && !mapper.error && exit.code === 0) {
      return { success: true, result: mapper.summary || 'goose finished without a final message', metadata };
    }
    return fail(this.failureMessage(mapper, exit, proc.stderrTail()), metadata);
  }

  private failureMessage(
    mapper: GooseEventMapper,
    exit: { code: number | null; signal: NodeJS.Signals | null },
    stderr: string[],
  ): string {
    if (mapper.error) return `goose: ${mapper.error}`;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const what = mapper.completed ? `goose ${how} after completing` : `goose ${how} without completing`;
    return stderr.length ? `${what}: ${stderr.join('\n')}` : what;
  }
}

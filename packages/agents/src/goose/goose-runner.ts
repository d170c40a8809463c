import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentEvent, AgentRunner, ApprovalDecision, RunInput, RunResult, RunStream } from '../runner.ts';
import { SANDBOX_HOME } from '../workspace/bwrap-args.ts';
import { networkPolicyOf } from '../workspace/network-policy.ts';
import { processGroupAlive, terminateProcessGroup } from '../workspace/process-group.ts';
import { type Launch, type Sandbox, SandboxUnavailable } from '../workspace/sandbox.ts';
import { AcpEventMapper, gooseCheckpoint, runAcpTurn } from './acp.ts';
import { type GooseOutput, GooseProcess } from './goose-process.ts';
import { GooseEventMapper, type GooseUsage } from './stream-json.ts';

export interface GooseRunnerOptions {
  /** Path of the goose executable (GOOSE_BIN, or what findGooseBinary found). */
  bin: string;
  /** Provider settings for goose (GOOSE_PROVIDER, GOOSE_MODEL, the provider's API key …). */
  env?: Record<string, string>;
  /** Appended to `goose run …` (e.g. ['--with-builtin', 'developer']). */
  extraArgs?: string[];
  /** How long goose gets to exit after SIGTERM before the group is SIGKILLed. */
  killGraceMs?: number;
  /**
   * Where goose runs, and with it every command goose runs: the bubblewrap sandbox (goose sees
   * only the workspace, its own binary and configuration), or, with SANDBOX=off, unconfined.
   */
  sandbox: Sandbox;
  /** goose's configuration directory (~/.config/goose), shown read-only inside the sandbox. */
  configDir?: string;
  /** `host:port` of goose's model provider, reachable through the egress proxy whatever the project's network. */
  providerDestinations?: string[];
}

/**
 * What goose says instead of calling the model again once --max-turns is used up; the run then
 * completes normally (crates/goose/src/agents/agent.rs), so this text is how we know.
 */
export const GOOSE_MAX_TURNS_TEXT = "I've reached the maximum number of actions I can do without user input";

const DEFAULT_KILL_GRACE_MS = 2_000;

/**
 * goose's data directory in approval mode ($XDG_DATA_HOME; goose keeps its sessions under
 * `goose/` there): inside the workspace's `.git`, so it is in no diff or pull request, and it goes
 * wherever the workspace goes (kept on disk, or packed with a parked run and unpacked on another
 * machine). A run parked at a question resumes goose's session from it.
 */
export const gooseDataHome = (workspaceDir: string) => join(workspaceDir, '.git', 'clawlink-goose');

/** How a goose run ended, whichever protocol it spoke. */
interface GooseOutcome {
  error?: string;
  summary: string;
  turns: number;
  usage?: GooseUsage | undefined;
  exitCode: number | null;
}

type NextOutput = () => Promise<GooseOutput | undefined>;
type OutcomeStream = AsyncGenerator<AgentEvent, GooseOutcome | undefined, ApprovalDecision | undefined>;

/**
 * `goose run` arguments. Flags as documented for the goose CLI (goose-cli-commands.md,
 * crates/goose-cli/src/cli.rs): -t/--text, --output-format text|json|stream-json,
 * --no-session, -q/--quiet, --max-turns <NUMBER>.
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
export function gooseEnv(
  extra: Record<string, string> = {},
  mode: 'auto' | 'approve' = 'auto',
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME'] as const) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  // `goose run` has no one to ask in approve mode; `goose acp` asks us (see acp.ts).
  env.GOOSE_MODE = mode;
  return { ...env, ...extra };
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
    // The run's turn limit (MAX_TURNS, or less from the project or task) is goose's --max-turns.
    const maxTurns = input.options.max_turns;
    const args = [...(this.opts.extraArgs ?? []), '--max-turns', String(maxTurns)];
    // Approval mode speaks ACP, where goose asks before each tool call; GOOSE_MAX_TURNS is the
    // config key behind --max-turns.
    const approval = input.options.approval === 'commands';
    const acpEnv: Record<string, string> = {
      GOOSE_MAX_TURNS: String(maxTurns),
      XDG_DATA_HOME: gooseDataHome(workspace.dir),
    };
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

    let launch: Launch;
    try {
      // Inside the sandbox a missing binary is only bwrap's exit code 1: ask the host first.
      await access(bin, constants.X_OK);
      launch = await this.opts.sandbox.launch({
        argv: approval ? [bin, 'acp'] : [bin, ...gooseArgs(input.prompt, args)],
        workspace: workspace.dir,
        env: approval ? gooseEnv({ ...this.opts.env, ...acpEnv }, 'approve') : gooseEnv(this.opts.env),
        network: networkPolicyOf(input.options),
        readOnly: [
          { host: bin, inside: bin },
          ...(this.opts.configDir && (await isDirectory(this.opts.configDir))
            ? [{ host: this.opts.configDir, inside: `${SANDBOX_HOME}/.config/goose` }]
            : []),
        ],
        runnerDestinations: this.opts.providerDestinations ?? [],
      });
    } catch (err) {
      if (err instanceof SandboxUnavailable) return fail(`goose cannot start: ${err.message}`);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return fail(`goose binary not found at ${bin}; install Goose or set GOOSE_BIN`);
      if (code === 'EACCES') {
        return fail(`goose binary at ${bin} is not executable; fix its permissions or set GOOSE_BIN`);
      }
      throw err;
    }

    let proc: GooseProcess;
    try {
      proc = await GooseProcess.start(launch, { stdin: approval });
    } catch (err) {
      await launch.release();
      throw err;
    }
    try {
      return yield* this.supervise(proc, input, { model, maxTurns, approval, fail });
    } finally {
      await proc.settled();
      await launch.release();
    }
  }

  private async *supervise(
    proc: GooseProcess,
    input: RunInput,
    run: {
      model: string | undefined;
      maxTurns: number;
      approval: boolean;
      fail: (error: string, extra?: Record<string, unknown>) => RunResult;
    },
  ): RunStream {
    const { signal, workspace } = input;
    const { model, maxTurns, approval, fail } = run;
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

    const next: NextOutput = async () => {
      const out = await Promise.race([proc.next(), aborted.then(() => undefined)]);
      return signal.aborted ? undefined : out;
    };
    let outcome: GooseOutcome | undefined;
    try {
      yield { type: 'status', phase: 'running', message: `goose started (pid ${proc.pid})` };
      outcome = approval
        ? yield* this.acpTurn(proc, next, input, maxTurns)
        : yield* this.streamJson(proc, next, model, maxTurns);
      if (!outcome) {
        // The caller learns of the abort only once goose and its children are gone.
        await stop();
        await proc.exited;
        throw signal.reason;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // Covers an early return() by the consumer, the ACP agent we are done with, and tools
      // goose left running in its group.
      if (!proc.hasExited || stopping || (await processGroupAlive(proc.pid))) await stop();
    }

    const diff = await workspace.diff();
    if (diff.unified) yield { type: 'artifact', kind: 'diff', name: 'changes.diff', content: diff.unified };
    const usage = outcome.usage;
    const metadata = {
      agent: this.agentType,
      ...(model ? { model } : {}),
      ...(approval ? { protocol: 'acp' } : {}),
      turns: outcome.turns,
      input_tokens: usage?.inputTokens ?? 0,
      output_tokens: usage?.outputTokens ?? 0,
      ...(usage?.totalTokens !== undefined ? { total_tokens: usage.totalTokens } : {}),
      cost_usd: usage?.costUsd ?? 0,
      exit_code: outcome.exitCode,
      changed_files: diff.files,
      diff: diff.unified,
    };
    if (outcome.error) return fail(outcome.error, metadata);
    return { success: true, result: outcome.summary || 'goose finished without a final message', metadata };
  }

  /** `goose run --output-format stream-json`: read lines until goose exits. */
  private async *streamJson(
    proc: GooseProcess,
    next: NextOutput,
    model: string | undefined,
    maxTurns: number,
  ): OutcomeStream {
    const mapper = new GooseEventMapper(model);
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    for (;;) {
      const out = await next();
      if (!out) return undefined;
      if (out.kind === 'exit') {
        exit = out;
        break;
      }
      for (const ev of mapper.map(out.line)) yield ev;
    }
    const base = {
      summary: mapper.summary,
      turns: mapper.toolCalls,
      usage: mapper.usage,
      exitCode: exit.code,
    };
    if (mapper.summary.includes(GOOSE_MAX_TURNS_TEXT)) {
      return { ...base, error: `turn limit reached: ${maxTurns} turns (goose --max-turns)` };
    }
    if (mapper.completed && !mapper.error && exit.code === 0) return base;
    return { ...base, error: this.failureMessage(mapper, exit, proc.stderrTail()) };
  }

  /**
   * `goose acp` in approve mode: one prompt turn, shell commands approved by a person (acp.ts);
   * resumed from a parked question, the turn goes on in goose's kept session with the answer.
   */
  private async *acpTurn(
    proc: GooseProcess,
    next: NextOutput,
    input: RunInput,
    maxTurns: number,
  ): OutcomeStream {
    const mapper = new AcpEventMapper();
    const io = { send: (m: Record<string, unknown>) => proc.writeLine(JSON.stringify(m)), next };
    const checkpoint = gooseCheckpoint(input.resume?.checkpoint);
    const decision = input.resume?.decision;
    const end = yield* runAcpTurn(io, mapper, {
      cwd: input.workspace.dir,
      prompt: input.prompt,
      resume: checkpoint && decision ? { checkpoint, decision } : undefined,
    });
    proc.endInput();
    if (end.kind === 'aborted') return undefined;
    // ACP reports no token usage; the worker's token and cost backstop cannot see goose's here.
    const base = {
      summary: mapper.summary,
      turns: mapper.toolCalls,
      exitCode: end.kind === 'exit' ? end.code : null,
    };
    if (end.kind === 'exit') {
      const how = end.signal ? `was killed by ${end.signal}` : `exited with code ${end.code}`;
      const stderr = proc.stderrTail();
      return {
        ...base,
        error: `goose acp ${how} before the turn ended${stderr.length ? `: ${stderr.join('\n')}` : ''}`,
      };
    }
    if (end.kind === 'error') return { ...base, error: `goose: ${end.message}` };
    if (end.stopReason === 'max_turn_requests' || mapper.summary.includes(GOOSE_MAX_TURNS_TEXT)) {
      return { ...base, error: `turn limit reached: ${maxTurns} turns (GOOSE_MAX_TURNS)` };
    }
    if (end.stopReason !== 'end_turn') return { ...base, error: `goose ended the turn: ${end.stopReason}` };
    return base;
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

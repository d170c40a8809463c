import type { ToolCall, ToolSpec } from '../loop/types.ts';
import { minimalEnv } from './env.ts';
import { editFileTool, listFiles, readFileTool, writeFileTool } from './file-tools.ts';
import type { NetworkPolicy } from './network-policy.ts';
import { PathGuard } from './path-guard.ts';
import { runCommand } from './run-command.ts';
import { createSandbox, type Sandbox } from './sandbox.ts';
import { searchText } from './search-text.ts';
import { optionalPositive, requiredString, ToolError } from './tool-input.ts';
import { TOOL, toolSpecs } from './tool-specs.ts';
import type { Workspace } from './types.ts';

export interface ToolLimits {
  /** Longest a run_command may take; a model's timeout_s can only shorten it. Default 120 000. */
  commandTimeoutMs?: number;
  /** run_command output kept (start and end). Default 64 KiB. */
  outputCapBytes?: number;
  /** read_file output. Default 100 000 bytes. */
  readCapBytes?: number;
}

export interface ToolboxOptions {
  workspace: Workspace;
  limits?: ToolLimits;
  /** Variables given to run_command on top of PATH/HOME/LANG; nothing else of the server's environment is. */
  env?: Record<string, string>;
  /** 'commands': every run_command needs a person's approval first. */
  approval?: 'none' | 'commands';
  /** Where run_command runs; unset, a bubblewrap sandbox of its own (never unconfined by omission). */
  sandbox?: Sandbox;
  /** What run_command's network may reach; unset, nothing. */
  network?: NetworkPolicy;
}

export interface ToolResult {
  output: string;
  isError: boolean;
  /** Set by `finish`: the run is over. */
  finished?: { summary: string };
}

export interface Toolbox {
  specs: ToolSpec[];
  /**
   * True when this call must be approved by a person first: in approval mode
   * 'commands' every run_command. File tools never ask: a path leaving the
   * workspace is refused outright.
   */
  needsApproval(call: ToolCall): boolean;
  /**
   * Runs one call. Failures (bad input, missing file, refused path, non-zero exit,
   * no sandbox) come back as `isError: true` with a message for the model; only an
   * abort rejects. `run` trusts that `needsApproval` was asked first.
   */
  run(call: ToolCall, signal: AbortSignal): Promise<ToolResult>;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 120_000;
export const DEFAULT_OUTPUT_CAP_BYTES = 64 * 1024;
export const DEFAULT_READ_CAP_BYTES = 100_000;

/** The tools the Claude, OpenAI and Ollama runtimes give their model, bound to one workspace. */
export function createToolbox(opts: ToolboxOptions): Toolbox {
  const limits = {
    commandTimeoutMs: positive(opts.limits?.commandTimeoutMs) ?? DEFAULT_COMMAND_TIMEOUT_MS,
    outputCapBytes: positive(opts.limits?.outputCapBytes) ?? DEFAULT_OUTPUT_CAP_BYTES,
    readCapBytes: positive(opts.limits?.readCapBytes) ?? DEFAULT_READ_CAP_BYTES,
  };
  const approval = opts.approval ?? 'none';
  const guard = new PathGuard(opts.workspace.dir);
  const env = minimalEnv(opts.env);
  const sandbox = opts.sandbox ?? createSandbox({ enabled: true });
  const network = opts.network ?? { mode: 'none' };

  const dispatch = async (call: ToolCall, signal: AbortSignal): Promise<ToolResult> => {
    const input = call.input ?? {};
    switch (call.name) {
      case TOOL.listFiles:
        return ok(await listFiles(guard, input, signal));
      case TOOL.readFile:
        return ok(await readFileTool(guard, input, limits.readCapBytes));
      case TOOL.writeFile:
        return ok(await writeFileTool(guard, input));
      case TOOL.editFile:
        return ok(await editFileTool(guard, input));
      case TOOL.searchText:
        return ok(await searchText(guard, input, limits.outputCapBytes, signal));
      case TOOL.runCommand: {
        const command = requiredString(input, 'command');
        const asked = optionalPositive(input, 'timeout_s');
        const timeoutMs = Math.min(
          asked === undefined ? Number.POSITIVE_INFINITY : asked * 1000,
          limits.commandTimeoutMs,
        );
        return runCommand({
          command,
          cwd: guard.realRoot,
          env,
          timeoutMs,
          outputCapBytes: limits.outputCapBytes,
          signal,
          sandbox,
          network,
        });
      }
      case TOOL.finish: {
        const summary = requiredString(input, 'summary', { allowEmpty: true });
        return { output: 'finished', isError: false, finished: { summary } };
      }
      default:
        throw new ToolError(
          `unknown tool ${JSON.stringify(call.name)}; available: ${Object.values(TOOL).join(', ')}`,
        );
    }
  };

  return {
    specs: toolSpecs(limits),

    needsApproval(call) {
      return call.name === TOOL.runCommand && approval === 'commands';
    },

    async run(call, signal) {
      signal.throwIfAborted();
      try {
        return await dispatch(call, signal);
      } catch (err) {
        if (signal.aborted) throw signal.reason ?? err;
        return { output: describeError(call.name, err, guard.realRoot), isError: true };
      }
    },
  };
}

function ok(output: string): ToolResult {
  return { output, isError: false };
}

function positive(n: number | undefined): number | undefined {
  return n !== undefined && Number.isFinite(n) && n > 0 ? n : undefined;
}

const FS_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on the device',
  ENAMETOOLONG: 'the file name is too long',
};

/** Turns whatever a tool threw into one line the model can act on. */
function describeError(tool: string, err: unknown, root: string): string {
  if (err instanceof ToolError) return err.message;
  const e = err as NodeJS.ErrnoException;
  const known = e?.code ? FS_ERRORS[e.code] : undefined;
  if (known) {
    // Name the file as the model did, relative to the workspace, not by the server's directory layout.
    const path = e.path?.startsWith(`${root}/`) ? e.path.slice(root.length + 1) : (e.path ?? 'path');
    return `${tool} failed: ${path}: ${known}`;
  }
  return `${tool} failed: ${e?.message ?? String(err)}`;
}

import { echoOptionsSchema } from '@ccl/contracts';
import { type AgentRunner, type RunInput, type RunStream, sleep, TransientRunnerError } from './runner.ts';
import { writeFileTool } from './workspace/file-tools.ts';
import { PathGuard } from './workspace/path-guard.ts';

/** What a run without `context.echo` does. */
const ECHO_DEFAULTS = echoOptionsSchema.parse({});

const approxTokens = (text: string) => Math.ceil(text.length / 4);

/** A runner that does no AI work but really streams events, honours its signal at once, and can wait for approval. */
export class EchoRunner implements AgentRunner {
  readonly agentType = 'echo';

  async *run(input: RunInput): RunStream {
    const opts = input.options.echo ?? ECHO_DEFAULTS;
    const { signal } = input;
    // A resumed run goes on at the step it asked about, with the decision it was given.
    const resumed = input.resume ? echoCheckpoint(input.resume.checkpoint) : undefined;
    let decided = input.resume?.decision;

    if (!resumed) {
      yield { type: 'status', phase: 'planning', message: 'planning' };
      const plan = `Plan: echo the prompt in ${opts.steps} step(s).`;
      yield { type: 'message', text: plan };
      await sleep(Math.min(opts.delay_ms, 50), signal);

      if (input.attempt <= opts.fail_attempts) {
        throw new TransientRunnerError(`echo: simulated transient failure on attempt ${input.attempt}`);
      }

      yield { type: 'status', phase: 'running', message: 'running' };
    }
    const approvalAt = opts.ask_approval ? Math.floor(opts.steps / 2) : -1;
    for (let step = resumed?.step ?? 1; step <= Math.max(opts.steps, resumed?.step ?? 1); step++) {
      if (step - 1 === approvalAt || (opts.steps === 0 && opts.ask_approval)) {
        const decision =
          decided ??
          (yield {
            type: 'approval_request',
            id: `echo-approval-${step}`,
            kind: 'command',
            description: `echo wants to continue after step ${step - 1}`,
            details: { command: `echo step ${step}` },
            checkpoint: { step },
          });
        decided = undefined;
        if (!decision?.approved) {
          return {
            success: false,
            result: null,
            error: `approval denied${decision?.comment ? `: ${decision.comment}` : ''}`,
          };
        }
      }
      if (step > opts.steps) break;
      await sleep(opts.delay_ms, signal);
      yield { type: 'progress', step, total: opts.steps, message: `step ${step}/${opts.steps}` };
      // A run that comes back after its worker died goes on after this step.
      if (step < opts.steps) yield { type: 'checkpoint', state: { step: step + 1 } };
    }

    if (opts.fail !== false) {
      return { success: false, result: null, error: opts.fail === true ? 'echo: asked to fail' : opts.fail };
    }
    if (opts.files) await writeEchoFiles(input.workspace.dir, opts.files);
    const result = `echo: ${input.prompt}`;
    yield {
      type: 'usage',
      inputTokens: approxTokens(input.prompt),
      outputTokens: approxTokens(result),
      costUsd: 0,
      model: 'echo',
    };
    return { success: true, result, metadata: { steps: opts.steps } };
  }
}

function echoCheckpoint(checkpoint: unknown): { step: number } {
  const step = (checkpoint as { step?: unknown } | null)?.step;
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 1)
    throw new Error("echo: the checkpoint to resume from is not one of echo's");
  return { step };
}

/** `context.echo.files`, written by the agents' own write tool: inside the workspace, never into .git. */
async function writeEchoFiles(dir: string, files: Record<string, string>) {
  const guard = new PathGuard(dir);
  for (const [path, content] of Object.entries(files)) await writeFileTool(guard, { path, content });
}

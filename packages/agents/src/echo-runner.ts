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

    yield { type: 'status', phase: 'planning', message: 'planning' };
    const plan = `Plan: echo the prompt in ${opts.steps} step(s).`;
    yield { type: 'message', text: plan };
    await sleep(Math.min(opts.delay_ms, 50), signal);

    if (input.attempt <= opts.fail_attempts) {
      throw new TransientRunnerError(`echo: simulated transient failure on attempt ${input.attempt}`);
    }

    yield { type: 'status', phase: 'running', message: 'running' };
    const approvalAt = opts.ask_approval ? Math.floor(opts.steps / 2) : -1;
    for (let step = 1; step <= opts.steps; step++) {
      if (step - 1 === approvalAt || (opts.steps === 0 && opts.ask_approval)) {
        const decision = yield {
          type: 'approval_request',
          id: `echo-approval-${step}`,
          kind: 'command',
          description: `echo wants to continue after step ${step - 1}`,
          details: { command: `echo step ${step}` },
        };
        if (!decision?.approved) {
          return {
            success: false,
            result: null,
            error: `approval denied${decision?.comment ? `: ${decision.comment}` : ''}`,
          };
        }
      }
      await sleep(opts.delay_ms, signal);
      yield { type: 'progress', step, total: opts.steps, message: `step ${step}/${opts.steps}` };
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

/** `context.echo.files`, written by the agents' own write tool: inside the workspace, never into .git. */
async function writeEchoFiles(dir: string, files: Record<string, string>) {
  const guard = new PathGuard(dir);
  for (const [path, content] of Object.entries(files)) await writeFileTool(guard, { path, content });
}

import { z } from 'zod';
import { type AgentRunner, type RunInput, type RunStream, sleep, TransientRunnerError } from './runner.ts';

/** `context.echo` options: the knobs tests and demos use to exercise every path. */
export const echoOptionsSchema = z
  .object({
    steps: z.coerce.number().int().min(0).max(10_000).default(3),
    delay_ms: z.coerce.number().int().min(0).max(600_000).default(100),
    /** true or a message: end FAILED with that message. */
    fail: z.union([z.boolean(), z.string().max(2000)]).default(false),
    /** Throw a transient error on the first N attempts, to exercise retries. */
    fail_attempts: z.coerce.number().int().min(0).max(20).default(0),
    /** Ask for an approval halfway through (the execution goes WAITING). */
    ask_approval: z.boolean().default(false),
  })
  .default({ steps: 3, delay_ms: 100, fail: false, fail_attempts: 0, ask_approval: false });

const approxTokens = (text: string) => Math.ceil(text.length / 4);

/** A runner that does no AI work but really streams events, honours its signal at once, and can wait for approval. */
export class EchoRunner implements AgentRunner {
  readonly agentType = 'echo';

  async *run(input: RunInput): RunStream {
    const parsed = echoOptionsSchema.safeParse(input.context.echo);
    if (!parsed.success) {
      return {
        success: false,
        result: null,
        error: `context.echo is invalid: ${parsed.error.issues[0]?.message}`,
      };
    }
    const opts = parsed.data;
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

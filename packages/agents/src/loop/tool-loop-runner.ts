import type { AgentEvent, AgentRunner, ApprovalDecision, RunInput, RunResult, RunStream } from '../runner.ts';
import { type NetworkPolicy, networkPolicyOf } from '../workspace/network-policy.ts';
import type { Workspace } from '../workspace/types.ts';
import { costOf, type Price } from './pricing.ts';
import { invalidToolArguments } from './tool-arguments.ts';
import { streamTurn } from './turn-stream.ts';
import type { ChatModel, LoopMessage, ToolCall, ToolOutcome, ToolSpec } from './types.ts';

/** What the loop needs from the workspace tools (see workspace/toolbox). */
export interface LoopToolbox {
  specs: ToolSpec[];
  needsApproval(call: ToolCall): boolean;
  run(
    call: ToolCall,
    signal: AbortSignal,
  ): Promise<{ output: string; isError: boolean; finished?: { summary: string } }>;
}

export interface ToolLoopOptions {
  agentType: 'claude' | 'openai' | 'ollama';
  defaultModel: string;
  /** `secrets` are the project's: a provider key there wins over the server's. */
  createModel(model: string, secrets: Readonly<Record<string, string>>): ChatModel;
  priceOf(model: string): Price | undefined;
  /** Output tokens per model call (MAX_OUTPUT_TOKENS). */
  maxOutputTokens: number;
  /** `network`: what the run's commands may reach (its run options, under the project's setting). */
  createToolbox(workspace: Workspace, approval: 'none' | 'commands', network: NetworkPolicy): LoopToolbox;
}

const PLAN_SYSTEM =
  'You are a coding agent working in a git repository. First, write a short numbered plan (at most 8 steps) ' +
  'for the task. Do not do the work yet and do not call tools; answer with the plan only.';
const RUN_SYSTEM =
  'You are a coding agent working in a git repository (your working directory). Carry out the plan with the ' +
  'tools: inspect files before changing them, keep changes small, run the project checks when there are any. ' +
  'When the work is done, call the finish tool with a short summary of what you changed and why.';

/** One model turn's tool calls, run in order; `next` is the first not yet answered. */
interface PendingCalls {
  calls: ToolCall[];
  next: number;
  results: ToolOutcome[];
  summary: string | null;
}

/** What a parked run keeps of the loop: plain JSON, stored on the execution while it waits. */
interface LoopCheckpoint {
  v: 1;
  plan: string;
  messages: LoopMessage[];
  budget: { inputTokens: number; outputTokens: number; costUsd: number; turns: number };
  pending: PendingCalls;
}

function budgetState(budget: Budget): LoopCheckpoint['budget'] {
  const { inputTokens, outputTokens, costUsd, turns } = budget;
  return { inputTokens, outputTokens, costUsd, turns };
}

function loopCheckpoint(value: unknown): LoopCheckpoint {
  const c = value as Partial<LoopCheckpoint> | null;
  if (
    c?.v !== 1 ||
    typeof c.plan !== 'string' ||
    !Array.isArray(c.messages) ||
    !c.budget ||
    !c.pending ||
    !Array.isArray(c.pending.calls) ||
    !Array.isArray(c.pending.results) ||
    typeof c.pending.next !== 'number'
  ) {
    throw new Error("the checkpoint to resume from is not one of the tool loop's");
  }
  return c as LoopCheckpoint;
}

/** Tracks turns, tokens and dollars for the run's metadata. */
class Budget {
  inputTokens = 0;
  outputTokens = 0;
  costUsd = 0;
  turns = 0;
  constructor(private readonly price: Price | undefined) {}

  add(inputTokens: number, outputTokens: number) {
    this.inputTokens += inputTokens;
    this.outputTokens += outputTokens;
    this.costUsd += costOf(this.price, inputTokens, outputTokens);
  }
}

/**
 * The agent loop of the three API runtimes: a planning call, then model turns
 * with workspace tools until the model calls `finish` (or stops calling tools),
 * within the run's turn limit. Shell commands wait for approval in
 * `approval: "commands"` mode. The token and cost limits are the worker's: it
 * checks every `usage` event of every runtime and stops the run, so this loop
 * yields one after each model call and checks nothing itself.
 */
export class ToolLoopRunner implements AgentRunner {
  readonly agentType: string;

  constructor(private readonly opts: ToolLoopOptions) {
    this.agentType = opts.agentType;
  }

  async *run(input: RunInput): RunStream {
    const options = input.options;
    const modelName = options.model || this.opts.defaultModel;
    const model = this.opts.createModel(modelName, input.secrets ?? {});
    const maxTurns = options.max_turns;
    const thinking = options.thinking;
    const toolbox = this.opts.createToolbox(input.workspace, options.approval, networkPolicyOf(options));
    const budget = new Budget(this.opts.priceOf(modelName));
    const base = {
      maxTokens: this.opts.maxOutputTokens,
      signal: input.signal,
      ...(thinking ? { thinking } : {}),
    };

    let plan: string;
    let messages: LoopMessage[];
    let summary: string | null = null;
    if (input.resume) {
      // Parked at a command's approval: the conversation, the turn's calls and the results so far
      // come back from the checkpoint, and the call that asked gets the decision.
      const saved = loopCheckpoint(input.resume.checkpoint);
      plan = saved.plan;
      messages = saved.messages;
      Object.assign(budget, saved.budget);
      const pending = saved.pending;
      // Parked after a model call that answered without tools (at a budget): that answer was the last.
      summary = pending.summary;
      if (pending.calls.length > 0) {
        summary = yield* this.runCalls(toolbox, input.signal, pending, input.resume.decision, {
          plan,
          messages,
          budget,
        });
        messages.push({ role: 'tool', results: pending.results });
        yield this.progress(plan, messages, budget);
      }
    } else {
      yield { type: 'status', phase: 'planning' };
      const planTurn = yield* streamTurn(model, {
        ...base,
        system: PLAN_SYSTEM,
        messages: [{ role: 'user', text: input.prompt }],
        tools: [],
      });
      budget.add(planTurn.usage.inputTokens, planTurn.usage.outputTokens);
      plan = planTurn.text.trim();
      yield { type: 'artifact', kind: 'file', name: 'plan.md', content: plan };

      yield { type: 'status', phase: 'running' };
      messages = [{ role: 'user', text: `${input.prompt}\n\nYour plan:\n${plan || '(none)'}` }];
      const planned = this.state(plan, messages, budget, { calls: [], next: 0, results: [], summary: null });
      yield this.usageEvent(planTurn.usage, modelName, planned);
      yield { type: 'checkpoint', state: planned };
    }
    while (summary === null) {
      if (budget.turns >= maxTurns)
        return this.fail(`turn limit reached: ${maxTurns} turns`, budget, modelName);
      budget.turns += 1;
      const turn = yield* streamTurn(model, { ...base, system: RUN_SYSTEM, messages, tools: toolbox.specs });
      budget.add(turn.usage.inputTokens, turn.usage.outputTokens);
      messages.push({ role: 'assistant', text: turn.text, toolCalls: turn.toolCalls });
      // A model that answers without tools is done; its text is the summary.
      const done = turn.toolCalls.length === 0 ? turn.text.trim() || 'done' : null;
      const pending: PendingCalls = { calls: turn.toolCalls, next: 0, results: [], summary: done };
      // Where a run parked at this report (a budget) goes on: this turn's calls, none run yet.
      yield this.usageEvent(turn.usage, modelName, this.state(plan, messages, budget, pending));
      if (done !== null) {
        summary = done;
        break;
      }
      summary = yield* this.runCalls(toolbox, input.signal, pending, undefined, { plan, messages, budget });
      messages.push({ role: 'tool', results: pending.results });
      if (summary === null) yield this.progress(plan, messages, budget);
    }

    const diff = await input.workspace.diff();
    if (diff.unified) yield { type: 'artifact', kind: 'diff', name: 'changes.diff', content: diff.unified };
    return {
      success: true,
      result: summary,
      metadata: { ...this.metadata(budget, modelName), plan, changed_files: diff.files, diff: diff.unified },
    };
  }

  /**
   * Runs one turn's tool calls from `pending.next` on, adding their outcomes to `pending.results`;
   * returns the finish summary if a call finished the work. `decided` answers the first call (a
   * resumed approval). Each approval question carries a checkpoint of everything above.
   */
  private async *runCalls(
    toolbox: LoopToolbox,
    signal: AbortSignal,
    pending: PendingCalls,
    decided: ApprovalDecision | undefined,
    state: { plan: string; messages: LoopMessage[]; budget: Budget },
  ): AsyncGenerator<AgentEvent, string | null, ApprovalDecision | undefined> {
    let answer = decided;
    for (; pending.next < pending.calls.length; pending.next++) {
      const call = pending.calls[pending.next] as ToolCall;
      if (answer === undefined) yield { type: 'tool_call', id: call.id, name: call.name, input: call.input };
      let outcome: { output: string; isError: boolean; finished?: { summary: string } };
      const malformed = invalidToolArguments(call.input);
      if (malformed) {
        // Answer the call (providers reject a turn with an unanswered call) and let the model retry.
        outcome = { output: malformed, isError: true };
      } else if (toolbox.needsApproval(call)) {
        const checkpoint = this.state(state.plan, state.messages, state.budget, pending);
        const decision =
          answer ??
          (yield {
            type: 'approval_request',
            id: call.id,
            // Only shell commands wait for a person: file tools never leave the workspace.
            kind: 'command',
            description: `run: ${String(call.input.command)}`,
            details: { tool: call.name, input: call.input },
            checkpoint,
          });
        outcome = decision?.approved
          ? await toolbox.run(call, signal)
          : {
              output: `denied by ${decision?.by ?? 'a reviewer'}${decision?.comment ? `: ${decision.comment}` : ''}`,
              isError: true,
            };
      } else {
        outcome = await toolbox.run(call, signal);
      }
      answer = undefined;
      yield { type: 'tool_result', id: call.id, output: outcome.output, isError: outcome.isError };
      pending.results.push({
        callId: call.id,
        name: call.name,
        output: outcome.output,
        isError: outcome.isError,
      });
      if (outcome.finished) pending.summary = outcome.finished.summary;
    }
    return pending.summary;
  }

  /** The loop's state as plain JSON, copied: what is stored must not change as the loop goes on. */
  private state(
    plan: string,
    messages: LoopMessage[],
    budget: Budget,
    pending: PendingCalls,
  ): LoopCheckpoint {
    return {
      v: 1,
      plan,
      messages: [...messages],
      budget: budgetState(budget),
      pending: { ...pending, results: [...pending.results] },
    };
  }

  /** A checkpoint after a finished phase: the conversation so far, no call left to answer. */
  private progress(plan: string, messages: LoopMessage[], budget: Budget): AgentEvent {
    const pending = { calls: [], next: 0, results: [], summary: null };
    return { type: 'checkpoint', state: this.state(plan, messages, budget, pending) };
  }

  /** One model call's usage, with the state to go on from should the run wait here. */
  private usageEvent(
    usage: { inputTokens: number; outputTokens: number },
    model: string,
    checkpoint: LoopCheckpoint,
  ): AgentEvent {
    const price = this.opts.priceOf(model);
    return {
      type: 'usage',
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      costUsd: costOf(price, usage.inputTokens, usage.outputTokens),
      model,
      checkpoint,
    };
  }

  private metadata(budget: Budget, model: string) {
    return {
      agent: this.agentType,
      model,
      turns: budget.turns,
      input_tokens: budget.inputTokens,
      output_tokens: budget.outputTokens,
      cost_usd: Number(budget.costUsd.toFixed(6)),
      priced: this.opts.priceOf(model) !== undefined,
    };
  }

  private fail(error: string, budget: Budget, model: string): RunResult {
    return { success: false, result: null, error, metadata: this.metadata(budget, model) };
  }
}

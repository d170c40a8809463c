import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import {
  type AgentEvent,
  type ApprovalDecision,
  createWorkspace,
  defaultWorkspacesDir,
  type GitWorkspace,
  openWorkspace,
  type RunResult,
  type RunStream,
  sleep,
  TransientRunnerError,
  workspaceDir,
} from '@ccl/agents';
import type { RunOptions } from '@ccl/contracts';
import { type Execution, type ExecutionState, jsonb, Prisma, sqlOf } from '@ccl/db';
import { type Admission, admitExecution, type StartedRun, stillHeld, wakeHeld } from './admission.ts';
import { approvedLimits, lastApprovalDecision, limitRequestId } from './approval-request.ts';
import { canonicalJson } from './audit-chain.ts';
import { BUDGET_RELEASE_ACTOR } from './budget-release.ts';
import { budgetReached, projectBudgetOf, runBudgetReached } from './budgets.ts';
import { type RequestCtx, systemCtx } from './context.ts';
import { CHANNELS, type CoreDeps } from './deps.ts';
import { InvalidState, NotFound } from './errors.ts';
import { EVENT_BATCH_MS, EventBatch } from './event-batch.ts';
import {
  type AppendedEvents,
  appendEvent,
  appendEvents,
  type BudgetInputs,
  type PendingEvent,
  pendingEvent,
  type RunRead,
  readRun,
  type TransitionPatch,
  transitionAndPublish,
} from './execution-store.ts';
import { gitAuthEnv } from './github/client.ts';
import {
  accessFor,
  type Delivery,
  DeliveryFailed,
  deliver,
  type GithubCheckout,
  prepareCheckout,
} from './github/deliver.ts';
import { type GithubOrigin, readOrigin } from './github/origin.ts';
import { answerOnGithub, replyToReview } from './github/thread.ts';
import { asProgress, type DeliveryCheckpoint, type RunCheckpoint, readCheckpoint } from './run-checkpoint.ts';
import { storedRunOptions } from './run-options.ts';
import { executionTimeoutMessage, type MarkChange, type Pickup, takeRun } from './run-pickup.ts';
import { openProjectSecrets } from './secrets/project-secrets.ts';
import { isTerminal } from './state-machine.ts';
import { storableJson } from './storable.ts';
import { dropWorkspace, keepWorkspace, restoreWorkspace } from './workspace-snapshot.ts';

export interface JobContext {
  signal: AbortSignal;
  attempt: number;
  isFinalAttempt: boolean;
}

/** The execution went over its token or cost limit; carried as the abort reason. */
class LimitExceeded extends Error {
  override name = 'LimitExceeded';
}

/** Nobody answered an approval request in time. */
class ApprovalTimeout extends Error {
  override name = 'ApprovalTimeout';
}

/** Thrown so the queue retries the job (transient runner error with attempts left). */
export class RetryLater extends Error {
  override name = 'RetryLater';
}

interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  model?: string;
}

/**
 * A wait that holds its slot (a runner without checkpoints) is woken by the execution's change
 * notice; this is only the fallback when a notice is lost, or where the process does not listen.
 */
const WAIT_FALLBACK_MS = 2_000;
const WAIT_POLL_MS = 250;

/** A held run (over its project's limit) looks again this often even if nothing wakes it. */
const HOLD_RECHECK_MS = 30_000;

/**
 * The job gives its worker slot back: the run waits (for a decision, or for room in its project)
 * without a worker, and its job sleeps until `until` or until woken (see @ccl/queue's ParkRequest).
 */
export interface ParkOutcome {
  park: { until: number; stillWaiting(): Promise<boolean> };
}

/** The approval wait of a run that can park: thrown out of the runner loop, caught in onError. */
class Parked extends Error {
  override name = 'Parked';
  constructor(readonly until: number) {
    super('parked until a decision');
  }
}

/**
 * One job: drives the runner and records every step. Idempotent: a terminal execution is left
 * alone. Returns a park request when the run waits without holding its slot. `read`: the row as
 * the caller just read it for this job (the worker's handler does), else it is read here.
 */
export async function runExecution(
  deps: CoreDeps,
  executionId: string,
  job: JobContext,
  read?: RunRead | null,
  /** The caller's read started the run too (admission.ts readAndStart). */
  started?: StartedRun | null,
): Promise<ParkOutcome | undefined> {
  const ctx = jobCtx(executionId, job.attempt);
  const run = read === undefined ? await readRun(deps, executionId) : read;
  if (!run || isTerminal(run.execution.state)) return undefined;
  const pickup = await takeRun(deps, run.execution, started?.markedAt ?? null);
  if (!pickup) return undefined;
  try {
    return await new ExecutionRun(deps, ctx, run, job, pickup, started ?? null).start();
  } finally {
    // However this pickup ends (done, parked, requeued, thrown), this worker did not die holding it.
    await pickup.release();
  }
}

/** Who a job's writes are by (the system), with a request id naming the run and the attempt. */
export const jobCtx = (executionId: string, attempt: number) => systemCtx(`job-${executionId}-${attempt}`);

/** How a run denied past a limit ends. */
const deniedPast = (message: string, decision: ApprovalDecision) =>
  `${message}; denied${decision.by ? ` by ${decision.by}` : ''}`;

class ExecutionRun {
  private readonly execution: Execution;
  private state: ExecutionState;
  private usage: Usage;
  /** Read from the stored execution when the run starts; resolved once at submit. */
  private options!: RunOptions;
  private readonly timeout: AbortSignal;
  private readonly signal: AbortSignal;
  private readonly local = new AbortController();
  /** The runner's informational events, waiting for the run's next write (event-batch.ts). */
  private readonly batch = new EventBatch(
    async (events) => {
      // Events noted after the runner said it runs come after its move to RUNNING.
      await this.runningWritten();
      this.cancelSeen(await appendEvents(this.deps, this.id, events));
    },
    (err) =>
      this.deps.log.warn(
        { executionId: this.id, err: (err as Error).message },
        "could not write the run's latest events",
      ),
  );
  private workspace: GitWorkspace | undefined;
  private secrets: Record<string, string> = {};
  /** Set when the project is linked to GitHub: the run clones from it and delivers to it. */
  private checkout: GithubCheckout | undefined;
  private readonly origin: GithubOrigin | null;
  /** The agent's first message, its plan, for a pull request's body. */
  private plan: string | null = null;
  private taskTitle: string | undefined;
  private taskNumber = 0;
  /** What the delivery opened or pushed (or why not), for the thread's last word. */
  private pullRequest: { url: string; number: number } | undefined;
  private deliveryNote: string | undefined;
  /** The run's comment on its GitHub thread, edited once per state, in order. */
  private threadUpdates: Promise<void> = Promise.resolve();
  /**
   * The last finished phase's checkpoint this pickup knows of (stored, or resumed from): a wait
   * that holds its slot keeps it on the row, so a run whose worker dies while it waits goes on
   * from there rather than from the start.
   */
  private progress: RunCheckpoint | null = null;
  /** Set when the job should give its slot back instead of ending. */
  private parked: ParkOutcome | undefined;
  /** Known once the run was admitted (or held): its end or park wakes the project's held runs. */
  private projectId: string | undefined;
  /** The project's concurrency limit as admission read it (0: no run waits for a slot of it). */
  private projectLimit: number | undefined;
  /** The pickup's mark went with the move to PLANNING: the workspace event need not carry it. */
  private markedAtStart = false;
  /**
   * The runner said it is running: the move to RUNNING waits (EVENT_BATCH_MS at most) to go with
   * the run's next move, with the events that waited before it (ensureRunning).
   */
  private waitingRunning: { before: PendingEvent[]; event: PendingEvent; timer: NodeJS.Timeout } | undefined;
  /** The move to RUNNING that waited, being written on its own (runningWritten). */
  private runningWrite: Promise<void> = Promise.resolve();
  /** Set once this pickup has written what it will: nothing of it waits to be written after. */
  private pickupEnded = false;
  /**
   * Limits a person let this run go past (max_cost_usd under on_limit "ask", a monthly budget),
   * read from the run's recorded decisions when a limit is first crossed in this pickup.
   */
  private approvedLimits: Set<string> | undefined;
  private limitRequests = 0;
  /** The delivery's questions answered while the run was parked (by request id): not asked again. */
  private deliveryDecisions: Record<string, ApprovalDecision> = {};
  /** When a checkpoint next keeps the workspace (WORKSPACE_SNAPSHOT_INTERVAL_S); set at the first. */
  private nextSnapshotAt: number | undefined;
  /** This pickup kept the workspace at a checkpoint: what was kept before no longer goes with the run. */
  private keptSnapshot = false;

  constructor(
    private readonly deps: CoreDeps,
    private readonly ctx: RequestCtx,
    private readonly read: RunRead,
    private readonly job: JobContext,
    private readonly pickup: Pickup,
    /** Started by the worker's read of it (admission.ts readAndStart): admission has nothing left to do. */
    private readonly started: StartedRun | null,
  ) {
    const { execution } = read;
    this.execution = execution;
    this.state = execution.state;
    this.origin = readOrigin(execution.github);
    const u = (execution.usage ?? {}) as Partial<Usage>;
    this.usage = {
      input_tokens: u.input_tokens ?? 0,
      output_tokens: u.output_tokens ?? 0,
      cost_usd: u.cost_usd ?? 0,
    };
    // EXECUTION_TIMEOUT_S counts the run's working time across pickups, not this pickup's alone.
    this.timeout = AbortSignal.timeout(Math.max(0, pickup.timeLeftMs));
    this.signal = AbortSignal.any([job.signal, this.timeout, this.local.signal]);
  }

  private get id() {
    return this.execution.id;
  }

  private async taskProjectId(): Promise<string | undefined> {
    if (this.read.project) return this.read.project.projectId;
    const task = await this.deps.prisma.task.findUnique({
      where: { id: this.execution.taskId },
      select: { projectId: true },
    });
    return task?.projectId;
  }

  private async move(to: ExecutionState, given?: TransitionPatch) {
    // A finished run keeps no checkpoint.
    const patch = isTerminal(to) && given?.checkpoint === undefined ? { ...given, checkpoint: null } : given;
    // The run's end lets go of it in the same statement (run-pickup.ts).
    const release = isTerminal(to) ? this.pickup.releasing() : undefined;
    // The events that waited for this write go with it (event-batch.ts), handed over once a write
    // of theirs under way (which writes a move to RUNNING that waited first) is done.
    const carried = await this.batch.carry(async (after) => {
      // A move to RUNNING that still waits goes with this one, before those events (ensureRunning).
      const running = to === 'RUNNING' ? undefined : this.takeWaitingRunning();
      if (!running) await this.runningWrite;
      try {
        await transitionAndPublish(this.deps, this.ctx, this.id, to, {
          ...patch,
          alsoSet: release?.set,
          ...(running
            ? { before: [...running.before, running.event, ...after], fromRunning: true }
            : { before: after }),
        });
      } catch (err) {
        // Not moved: it goes with the next write, or on its own in its time (the events: carry).
        if (running) this.waitForRunning(running.before, running.event);
        throw err;
      }
      return running !== undefined;
    });
    release?.done();
    if (carried) this.moved('RUNNING');
    this.moved(to, patch);
  }

  /** The move to RUNNING that waits (ensureRunning), taken by a write that carries it. */
  private takeWaitingRunning() {
    const running = this.waitingRunning;
    if (running) clearTimeout(running.timer);
    this.waitingRunning = undefined;
    return running;
  }

  private waitForRunning(before: PendingEvent[], event: PendingEvent) {
    // A pickup that ended writes nothing more: its next one goes on from PLANNING.
    if (this.pickupEnded) return;
    const timer = setTimeout(() => void this.runningWrittenOrLogged(), EVENT_BATCH_MS);
    this.waitingRunning = { before, event, timer };
  }

  /** runningWritten where nobody waits for it: a failure is logged, never thrown. */
  private runningWrittenOrLogged(): Promise<void> {
    return this.runningWritten().catch((err: unknown) =>
      this.deps.log.warn(
        { executionId: this.id, err: (err as Error).message },
        'could not record that the run is running',
      ),
    );
  }

  /**
   * Writes the move to RUNNING that waited, on its own (with the events that waited before it),
   * before any write other than a move: the run's row says RUNNING before it takes a step of its
   * own (an event, a checkpoint, a question). Resolves at once when none waits or is under way.
   */
  private runningWritten(): Promise<void> {
    const running = this.takeWaitingRunning();
    if (!running) return this.runningWrite;
    this.runningWrite = transitionAndPublish(this.deps, this.ctx, this.id, 'RUNNING', {
      before: running.before,
    }).then(
      () => this.moved('RUNNING'),
      (err: unknown) => {
        // Not written: it waits for the next write, unless the run has moved on without it.
        if (!(err instanceof InvalidState)) this.waitForRunning(running.before, running.event);
        throw err;
      },
    );
    const written = this.runningWrite;
    // A later write waits for this one, not for its failure (which its caller hears).
    this.runningWrite = written.catch(() => undefined);
    return written;
  }

  /** After a transition: the run's state, and its GitHub thread's comment. */
  private moved(to: ExecutionState, patch?: TransitionPatch) {
    this.state = to;
    // A run GitHub started keeps its one comment on the thread up to date.
    // In order, without holding the run up: GitHub's write pacing can take a second per call.
    const origin = this.origin;
    if (origin?.comment) {
      const delivered = {
        ...(this.pullRequest ? { pullRequest: this.pullRequest } : {}),
        ...(this.deliveryNote ? { note: this.deliveryNote } : {}),
      };
      const access = () => this.checkout?.access ?? accessFor(this.deps, origin.repo, this.secrets);
      this.threadUpdates = this.threadUpdates.then(() =>
        answerOnGithub(this.deps, access, this.execution, origin, to, patch, delivered),
      );
    }
  }

  /** Writes an event now, with those that waited for the run's next write before it. */
  private async event(type: string, data: Record<string, unknown>, usage?: Usage, also?: MarkChange) {
    await this.runningWritten();
    const change = await this.batch.carry((before) =>
      appendEvent(
        this.deps,
        this.id,
        type,
        data,
        usage as Record<string, unknown> | undefined,
        also?.set,
        before,
      ),
    );
    also?.done();
    this.cancelSeen(change);
    return change;
  }

  /** An event nothing waits on (a message, a tool call, progress): it goes with the run's next write. */
  private note(type: string, data: Record<string, unknown>): Promise<void> {
    return this.batch.add(pendingEvent(type, data));
  }

  /** Fallback for a missed cancel notification: the row says so, stop anyway. */
  private cancelSeen(change: AppendedEvents) {
    if (change.cancelRequested) this.local.abort(new Error('cancelled'));
  }

  async start(): Promise<ParkOutcome | undefined> {
    try {
      await this.begin();
    } finally {
      // Whatever ended this pickup, what the runner reported last is written.
      await this.runningWrittenOrLogged();
      // Not written (the database stayed away): dropped, not left to a timer after the pickup.
      this.pickupEnded = true;
      this.takeWaitingRunning();
      await this.batch.flush();
      await this.threadUpdates;
    }
    // A kept workspace is dropped once the run ended, and a park's once the run went on (a new park,
    // or a checkpoint of this pickup, replaced it).
    const had = readCheckpoint(this.execution.checkpoint);
    const wentOn = had?.kind === 'approval' && !this.parked && !this.keptSnapshot;
    if ((isTerminal(this.state) && (had || this.keptSnapshot)) || wentOn) {
      await dropWorkspace(this.deps, this.id).catch((err) =>
        this.deps.log.warn(
          { executionId: this.id, err: (err as Error).message },
          'could not drop a kept workspace',
        ),
      );
    }
    // A slot of the project is free again: its next held run may start.
    const freesSlot = isTerminal(this.state) || (this.parked && this.state === 'WAITING');
    if (this.projectId && this.projectLimit !== 0 && freesSlot) {
      await wakeHeld(this.deps, this.projectId).catch((err) =>
        this.deps.log.warn({ executionId: this.id, err: (err as Error).message }, 'could not wake held runs'),
      );
    }
    return this.parked;
  }

  private async begin(): Promise<void> {
    let saved = readCheckpoint(this.execution.checkpoint);
    if (this.execution.cancelRequestedAt) {
      const reason = this.state === 'PENDING' ? 'cancelled before it started' : 'cancelled while waiting';
      await this.abandon(saved);
      await this.move('CANCELLED', { eventData: { reason } });
      return;
    }
    if (this.state === 'WAITING' && saved?.kind === 'approval') {
      // Woken while still waiting: the approval's time ran out, or the wake was early.
      const deadline = this.approvalDeadline();
      if (Date.now() >= deadline) {
        await this.abandon(saved);
        await this.fail(this.approvalTimeoutMessage());
        return;
      }
      this.parked = this.parkUntil(deadline);
      return;
    }
    if (this.pickup.refusal) {
      // Out of working time, or its workers keep dying while they run it: it ends here, not retried.
      this.projectId = await this.taskProjectId();
      await this.abandon(saved);
      await this.fail(this.pickup.refusal);
      return;
    }
    // A worker-only process has not probed hosts and binaries yet (the API's probes are not shared).
    await this.deps.agents.refresh(this.signal);
    const agent = this.deps.agents.get(this.execution.agentType);
    if (!agent?.runner) {
      await this.fail(
        `agent '${this.execution.agentType}' is not available on this worker: ${agent?.reason ?? 'unknown agent'}`,
      );
      return;
    }
    try {
      this.options = storedRunOptions(this.execution.context, this.deps.config);
    } catch (err) {
      await this.fail((err as Error).message);
      return;
    }
    // The attempt is recorded with the run's start when it starts now, else on its own.
    if (this.state !== 'PENDING' && this.execution.attempts !== this.job.attempt) {
      await this.deps.prisma.execution.update({
        where: { id: this.id },
        data: { attempts: this.job.attempt },
      });
    }
    if (this.state === 'WAITING') {
      // Its runner asked holding its slot (no checkpoint at the question: Goose) and its worker
      // died or shut down meanwhile: the runner that asked is gone, so the
      // question is withdrawn and the run goes on from its last finished phase, asking again there.
      await this.move('RUNNING', {
        pendingApproval: null,
        eventData: { withdrawn: 'its worker stopped while the run waited; it goes on and asks again' },
      });
    }
    let resume: { checkpoint: unknown; decision?: ApprovalDecision } | undefined;
    if (this.state === 'PENDING') {
      // Starts only if its project has room (and budget); otherwise it stays PENDING, its job parked.
      // A run with nothing to fetch before its agent starts (no repository: its workspace is written
      // when first read) is marked as held by this worker as it starts, one statement fewer.
      let admission: Admission;
      if (this.started) {
        // Its read started it, with the mark where admission would have set one.
        const { projectId, change } = this.started;
        admission = { admitted: true, projectId, limit: 0, change };
        this.markedAtStart = this.started.markedAt !== null;
      } else {
        const mark = this.options.github || this.options.repo ? undefined : this.pickup.startingMark();
        admission = await admitExecution(this.deps, this.ctx, this.id, this.job.attempt, this.read, mark);
        this.markedAtStart = admission.admitted && mark !== undefined;
      }
      this.projectId = admission.projectId;
      this.projectLimit = admission.limit;
      if (!admission.admitted) {
        this.parked = {
          park: { until: Date.now() + HOLD_RECHECK_MS, stillWaiting: () => stillHeld(this.deps, this.id) },
        };
        return;
      }
      this.moved('PLANNING');
    } else if (this.state === 'RUNNING' && saved?.kind === 'approval') {
      // Decided while parked: the runner goes on from its checkpoint, in the workspace it left.
      const decision = await this.recordedDecision();
      if (saved.limit && !decision.approved) {
        // Denied past a limit: it ends here, and the runner never takes its next step.
        this.projectId = await this.taskProjectId();
        await this.abandon(saved);
        await this.fail(deniedPast(saved.limit.message, decision));
        return;
      }
      // A limit's decision was the worker's: the runner goes on after its model call.
      resume = saved.limit ? { checkpoint: saved.runner } : { checkpoint: saved.runner, decision };
      // A delivery's question: the delivery goes on with it (and those answered before it).
      if (saved.delivery?.asking)
        this.deliveryDecisions = { ...saved.delivery.decisions, [saved.delivery.asking]: decision };
      this.plan = saved.plan;
      await this.decisionTaken(saved);
      await this.event('resumed', { attempt: this.job.attempt, from: 'approval' });
    } else if (this.state === 'RUNNING' && saved) {
      // Back after its worker died or shut down: on from the last finished phase, not from the start.
      resume = { checkpoint: saved.runner };
      this.progress = saved;
      this.plan = saved.plan;
      await this.event('resumed', { attempt: this.job.attempt, from: 'checkpoint' });
    } else {
      await this.event('retry', { attempt: this.job.attempt });
    }
    this.projectId ??= await this.taskProjectId();

    try {
      this.secrets = await openProjectSecrets(this.deps, this.options.project);
    } catch (err) {
      await this.fail(`could not open the project's secrets: ${(err as Error).message}`);
      return;
    }
    if (this.options.github) {
      try {
        const task = await this.deps.prisma.task.findUnique({
          where: { id: this.execution.taskId },
          select: { title: true, number: true },
        });
        this.taskTitle = task?.title;
        this.taskNumber = task?.number ?? 0;
        this.checkout = await prepareCheckout(this.deps, this.options.github, this.secrets, this.origin);
      } catch (err) {
        await this.fail(`could not read the linked GitHub repository: ${(err as Error).message}`);
        return;
      }
    }

    let workspace: GitWorkspace | null = null;
    if (resume && saved) {
      workspace = await openWorkspace(this.workspacesRoot(), this.id, saved.base_commit);
      if (!workspace) {
        // Parked, or its worker died, on another machine: the workspace kept in the database.
        const kept = await this.restoreKept(saved);
        if (kept) {
          workspace = kept.workspace;
          if (kept.from) {
            // A running run's: it goes on from the checkpoint the workspace was kept with.
            saved = kept.from;
            resume = { checkpoint: saved.runner };
            this.plan = saved.plan;
          }
          await this.event('workspace_restored', {
            dir: workspace.dir,
            ...(kept.from ? { from: 'checkpoint' } : {}),
          });
        }
      }
      if (!workspace) {
        // Swept, or not kept (too large): the run starts over here and asks again.
        await this.abandon(saved);
        await this.event('resume_failed', { reason: 'the workspace is not on this worker; starting over' });
        resume = undefined;
      }
    }
    try {
      workspace ??= await this.prepareWorkspace();
    } catch (err) {
      await this.fail(`could not prepare the workspace: ${(err as Error).message}`);
      return;
    }
    this.workspace = workspace;
    // A new run's agent starts right after this event: it carries the pickup's mark (run-pickup.ts).
    // Named, not read: reading `dir` writes a fresh workspace out, which waits for a runner that uses it.
    const dir = workspaceDir(this.workspacesRoot(), this.id);
    // Marked already, the event waits for the run's next write; otherwise it carries the mark.
    if (!resume && this.markedAtStart) await this.note('workspace', { dir });
    else if (!resume) await this.event('workspace', { dir }, undefined, this.pickup.startingMark());
    if (resume && saved?.delivery) {
      // The runner had ended before the delivery asked: the delivery goes on, the agent does not run.
      await this.pickup.agentStarting();
      await this.finish(saved.delivery.result);
      return;
    }

    // The GitHub credential is the server's to push with, never the agent's.
    const { GITHUB_TOKEN: _github, ...runnerSecrets } = this.secrets;
    await this.pickup.agentStarting();
    const stream = agent.runner.run({
      executionId: this.id,
      workspace,
      prompt: this.execution.prompt,
      options: this.options,
      attempt: this.job.attempt,
      signal: this.signal,
      secrets: runnerSecrets,
      ...(resume ? { resume } : {}),
    });
    const ended = await this.drive(stream);
    // The runner's own cleanup (sockets, processes, remote work) runs before the end is recorded.
    await stream.return({ success: false, result: null }).catch(() => undefined);
    if ('result' in ended) await this.finish(ended.result);
    else await this.onError(ended.error);
  }

  /**
   * The workspace kept with `saved` (a park's: the very question), or for a run that comes back after
   * its worker died, the one kept at its last snapshot and that snapshot's checkpoint (`from`), which
   * the row then names too, so that a later pickup agrees with the workspace.
   */
  private async restoreKept(
    saved: RunCheckpoint,
  ): Promise<{ workspace: GitWorkspace; from?: RunCheckpoint } | null> {
    const asked = saved.kind === 'approval' ? canonicalJson(this.execution.checkpoint) : undefined;
    // Work that went on elsewhere (an OpenHands conversation) cannot go back to an older checkpoint.
    if (asked === undefined && this.remoteState()) return null;
    try {
      const kept = await restoreWorkspace(
        this.deps,
        this.workspacesRoot(),
        this.id,
        saved.base_commit,
        (c) =>
          asked === undefined ? readCheckpoint(c) !== undefined : c === null || canonicalJson(c) === asked,
      );
      if (!kept) return null;
      if (asked !== undefined) return { workspace: kept.workspace };
      const from = asProgress(readCheckpoint(kept.checkpoint) as RunCheckpoint);
      this.progress = from;
      await this.deps.prisma.execution.update({
        where: { id: this.id },
        data: { checkpoint: storableJson(from) as unknown as Prisma.InputJsonValue },
      });
      return { workspace: kept.workspace, from };
    } catch (err) {
      this.deps.log.warn({ executionId: this.id, err: (err as Error).message }, 'could not restore');
      return null;
    }
  }

  /**
   * A run ends, or starts over, without going on from its checkpoint: its runner lets go of what
   * the checkpoint left waiting or running elsewhere (an OpenHands conversation).
   */
  private async abandon(saved: RunCheckpoint | undefined): Promise<void> {
    // A delivery's checkpoint leaves nothing of the runner's behind: it had ended.
    if (!saved || saved.delivery) return;
    const runner = this.deps.agents.get(this.execution.agentType)?.runner;
    await runner
      ?.abandon?.(saved.runner)
      .catch((err: unknown) =>
        this.deps.log.warn(
          { executionId: this.id, err: (err as Error).message },
          'could not let go of a parked run',
        ),
      );
  }

  /** Records the runner's events until it returns, throws, or goes over a limit; never throws. */
  private async drive(stream: RunStream): Promise<{ result: RunResult } | { error: unknown }> {
    try {
      let reply: ApprovalDecision | undefined;
      for (;;) {
        const step = await stream.next(reply);
        if (step.done) return { result: step.value };
        reply = await this.handle(step.value);
        // Over a limit: the runner is not resumed, so the step it would take next (a tool call
        // already in the model's answer) never runs.
        const reason: unknown = this.local.signal.reason;
        if (reason instanceof LimitExceeded) return { error: reason };
      }
    } catch (error) {
      return { error };
    }
  }

  /**
   * The one place the token, cost and budget limits are enforced, for every runtime: each `usage`
   * event is checked against the run's options and the monthly budgets of its project and submitter
   * (the API runtimes' loop reports one per model call; Goose and OpenHands report theirs as they
   * go). Over the token limit, or max_cost_usd under `on_limit: "fail"`, the run stops; at a budget,
   * or max_cost_usd under `on_limit: "ask"`, it waits here for a person, the runner suspended
   * after the model call that reported.
   */
  private async checkLimits(checkpoint: unknown, budgetInputs?: BudgetInputs | null): Promise<void> {
    const maxCost = this.options.max_cost_usd;
    const maxTokens = this.options.max_tokens;
    const tokens = this.usage.input_tokens + this.usage.output_tokens;
    const overCost = this.usage.cost_usd > maxCost;
    const costMessage = `cost limit reached: $${this.usage.cost_usd.toFixed(4)} > $${maxCost} (context.max_cost_usd)`;
    if (overCost && this.options.on_limit !== 'ask') return this.local.abort(new LimitExceeded(costMessage));
    if (tokens > maxTokens)
      return this.local.abort(new LimitExceeded(`token limit reached: ${tokens} > ${maxTokens} tokens`));
    const details = { cost_usd: this.usage.cost_usd };
    if (
      overCost &&
      !(await this.mayGoPast('max_cost_usd', costMessage, { ...details, max_cost_usd: maxCost }, checkpoint))
    )
      return;
    // Read afresh with the usage report itself where it could be (a raised budget counts at once);
    // null: no budget applies to the run.
    const budget =
      budgetInputs === null
        ? null
        : budgetInputs
          ? await budgetReached(this.deps.prisma, budgetInputs)
          : await runBudgetReached(this.deps.prisma, this.id);
    if (budget) {
      const { limit, message, budget_usd, spent_usd } = budget;
      await this.mayGoPast(limit, message, { ...details, budget_usd, spent_usd }, checkpoint);
    }
  }

  /** Whether a monthly budget (its project's, its submitter's) applied to the run as it was taken. */
  private budgeted(): boolean {
    const project = this.read.project;
    return !project || projectBudgetOf(project.settings) !== null || project.userBudget !== null;
  }

  /**
   * Asks a person whether the run may go past a limit (`kind: "budget"`). With the runner's
   * checkpoint from its usage report the run parks like any other question (the decision is applied
   * when it resumes, in `begin`); without one it waits holding its slot. Approved by a person, the
   * run is not asked about that limit again, in this pickup or a later one; released by the system
   * (the budget was raised), it is held to the new budget. Denied, it stops and ends FAILED naming
   * the limit.
   */
  private async mayGoPast(
    limit: string,
    message: string,
    figures: Record<string, number>,
    checkpoint: unknown,
  ): Promise<boolean> {
    this.approvedLimits ??= await approvedLimits(this.deps, this.id);
    if (this.approvedLimits.has(limit)) return true;
    this.limitRequests += 1;
    const decision = await this.waitForApproval(
      {
        type: 'approval_request',
        id: limitRequestId(limit, this.limitRequests),
        kind: 'budget',
        description: 'budget reached — approve to continue',
        details: { limit, reason: message, ...figures },
        checkpoint,
      },
      { name: limit, message },
    );
    if (decision.approved) {
      if (decision.by !== BUDGET_RELEASE_ACTOR) this.approvedLimits.add(limit);
      return true;
    }
    this.local.abort(new LimitExceeded(deniedPast(message, decision)));
    return false;
  }

  /** A fresh checkout per attempt; it stays after the run for WORKSPACE_RETENTION_S, then the sweeper removes it. */
  private workspacesRoot(): string {
    return this.deps.config.WORKSPACES_DIR ?? defaultWorkspacesDir(this.deps.config.dataDir);
  }

  private async prepareWorkspace(): Promise<GitWorkspace> {
    const root = this.workspacesRoot();
    // An earlier attempt's directory goes first (usually there is none: one system call to know).
    if (existsSync(`${root}/${this.id}`)) await rm(`${root}/${this.id}`, { recursive: true, force: true });
    const common = {
      root,
      executionId: this.id,
      signal: this.signal,
      policy: this.deps.config.repoPolicy,
      freshRepo: this.deps.freshRepo,
    };
    if (this.checkout) {
      // A linked project's run starts from the repository GitHub names, at the base (or the PR's branch).
      return createWorkspace({
        ...common,
        repoUrl: this.checkout.cloneUrl,
        ref: this.checkout.checkoutBranch,
        fetchEnv: gitAuthEnv(await this.checkout.access.token()),
      });
    }
    const { repo, ref } = this.options;
    return createWorkspace({ ...common, ...(repo ? { repoUrl: repo } : {}), ...(ref ? { ref } : {}) });
  }

  /**
   * The run is RUNNING from here. `mayWait`: the move may wait up to EVENT_BATCH_MS for the run's
   * next move and go with it (a run that ends at once writes one statement fewer, and sends one
   * notice fewer); any other write writes it first (runningWritten), as does its timer. A worker
   * killed meanwhile leaves the run PLANNING, which its next pickup takes as it takes a RUNNING one.
   */
  private async ensureRunning(mayWait = false) {
    if (this.waitingRunning) {
      if (!mayWait) await this.runningWritten();
      return;
    }
    await this.runningWrite;
    if (this.state !== 'PLANNING') return;
    if (!mayWait) {
      await this.move('RUNNING');
      return;
    }
    // The events that waited so far come before its state event; later ones after it.
    const before = await this.batch.take();
    this.waitForRunning(before, pendingEvent('state', { from: 'planning', to: 'running' }));
  }

  /** Records one runner event; returns the approval decision when the event asked for one. */
  private async handle(ev: AgentEvent): Promise<ApprovalDecision | undefined> {
    switch (ev.type) {
      case 'status':
        if (ev.phase === 'running') await this.ensureRunning(true);
        else await this.note('status', { phase: ev.phase, message: ev.message ?? null });
        return undefined;
      case 'usage': {
        this.usage = {
          input_tokens: this.usage.input_tokens + ev.inputTokens,
          output_tokens: this.usage.output_tokens + ev.outputTokens,
          cost_usd: this.usage.cost_usd + (ev.costUsd ?? 0),
          ...(ev.model ? { model: ev.model } : this.usage.model ? { model: this.usage.model } : {}),
        };
        if ((ev.costUsd ?? 0) === 0 && !this.budgeted()) {
          // A report that costs nothing, in a run no monthly budget applies to, moves no money and
          // nothing the database checks: it goes with the run's next write, as a message does (a
          // worker killed within that wait loses these token counts, never a cost).
          await this.note('usage', { ...this.usage });
          await this.checkLimits(ev.checkpoint, null);
          return undefined;
        }
        const reported = await this.event('usage', { ...this.usage }, this.usage);
        // May wait for a person; the runner gets nothing back for its usage report either way.
        await this.checkLimits(ev.checkpoint, reported.budget);
        return undefined;
      }
      case 'approval_request':
        return this.waitForApproval(ev);
      case 'checkpoint':
        await this.saveProgress(ev.state);
        return undefined;
      case 'message':
        this.plan ??= ev.text;
        await this.note('message', { text: ev.text });
        return undefined;
      default: {
        const { type, ...data } = ev;
        await this.note(type, data);
        return undefined;
      }
    }
  }

  private async waitForApproval(
    ev: Extract<AgentEvent, { type: 'approval_request' }>,
    limit?: RunCheckpoint['limit'],
    delivery?: DeliveryCheckpoint,
  ): Promise<ApprovalDecision> {
    await this.ensureRunning();
    const request = {
      id: ev.id,
      kind: ev.kind,
      description: ev.description,
      details: ev.details ?? {},
      requested_at: new Date().toISOString(),
    };
    const deadline = Date.now() + this.deps.config.APPROVAL_TIMEOUT_S * 1000;
    if (ev.checkpoint !== undefined && this.workspace) {
      // The runner can go on from a checkpoint: the run parks and its worker slot is free until a
      // decision (or the approval's timeout) wakes its job, on whichever worker takes it.
      const checkpoint: RunCheckpoint = {
        kind: 'approval',
        runner: ev.checkpoint,
        plan: this.plan,
        workspace_dir: this.workspace.dir,
        base_commit: this.workspace.baseCommit,
        ...(limit ? { limit } : {}),
        ...(delivery ? { delivery } : {}),
      };
      // Before the run shows as waiting: a decision may come at once, to a worker on another machine.
      const stored = storableJson(checkpoint) as unknown as Record<string, unknown>;
      await keepWorkspace(this.deps, this.id, this.workspace, stored);
      try {
        await this.move('WAITING', {
          pendingApproval: request,
          checkpoint: stored,
          eventData: { approval_request: request },
        });
      } catch (err) {
        // Not parked after all (cancelled meanwhile, the database gone): the runner lets go at its
        // question without stopping what waits on it, so that is stopped here.
        await this.abandon(checkpoint);
        throw err;
      }
      throw new Parked(deadline);
    }
    await this.move('WAITING', {
      pendingApproval: request,
      // Never a question's checkpoint: a waiting row with one is a parked run.
      checkpoint: this.progress ? (storableJson(this.progress) as unknown as Record<string, unknown>) : null,
      eventData: { approval_request: request },
    });
    // A person answers through the API (WAITING → RUNNING with the decision on the state event);
    // the change notice wakes this wait.
    let wake: () => void = () => undefined;
    const unsubscribe = await this.deps.bus
      .subscribe?.(CHANNELS.execution, (payload) => {
        if (payload.includes(this.id)) wake();
      })
      .catch(() => undefined);
    try {
      for (;;) {
        if (Date.now() > deadline) throw new ApprovalTimeout(this.approvalTimeoutMessage());
        await new Promise<void>((resolve, reject) => {
          wake = resolve;
          sleep(unsubscribe ? WAIT_FALLBACK_MS : WAIT_POLL_MS, this.signal).then(resolve, reject);
        });
        const row = await this.deps.prisma.execution.findUniqueOrThrow({
          where: { id: this.id },
          select: { state: true, cancelRequestedAt: true },
        });
        if (row.cancelRequestedAt) this.local.abort(new Error('cancelled'));
        if (row.state === 'WAITING') continue;
        this.state = row.state;
        if (row.state !== 'RUNNING')
          throw new InvalidState(`execution left WAITING for ${row.state.toLowerCase()}`);
        return this.recordedDecision();
      }
    } finally {
      wake = () => undefined;
      await unsubscribe?.().catch(() => undefined);
    }
  }

  /** Stores the runner's state after a finished phase; a run that comes back goes on from it. */
  private async saveProgress(state: unknown) {
    if (!this.workspace) return;
    const checkpoint: RunCheckpoint = {
      kind: 'progress',
      runner: state,
      plan: this.plan,
      workspace_dir: this.workspace.dir,
      base_commit: this.workspace.baseCommit,
    };
    this.progress = checkpoint;
    const stored = storableJson(checkpoint) as unknown as Prisma.InputJsonValue;
    // Raw, as the step's event is (raw-sql.ts): a run writes this after every step, and Prisma's
    // update also read the whole row back. updated_at as Prisma's @updatedAt sets it (UTC wall time).
    // Further than before: the workers that died holding it so far were not its doing (run-pickup.ts).
    const set = Prisma.sql`checkpoint = ${jsonb(stored)}, worker_losses = 0`;
    // The step's events, which waited for this write, go with it: one statement for both.
    await this.runningWritten();
    await this.batch.carry(async (before) => {
      if (before.length > 0) {
        this.cancelSeen(await appendEvents(this.deps, this.id, before, undefined, set));
        return;
      }
      const now = new Date().toISOString();
      const saved = await sqlOf(this.deps.prisma).query<{ id: string }>(Prisma.sql`
        UPDATE executions SET ${set}, updated_at = ${now}::timestamptz AT TIME ZONE 'UTC'
        WHERE id = ${this.id}::uuid
        RETURNING id::text AS id`);
      if (saved.length === 0) throw new NotFound(`execution ${this.id} not found`);
    });
    // Not for work that goes on elsewhere: no pickup could go back to this checkpoint.
    if (!this.remoteState() && this.snapshotDue())
      this.keptSnapshot = await keepWorkspace(this.deps, this.id, this.workspace, stored);
  }

  private remoteState(): boolean {
    return this.deps.agents.get(this.execution.agentType)?.runner?.remoteState === true;
  }

  /**
   * True at most every WORKSPACE_SNAPSHOT_INTERVAL_S; a pickup's first is at a random point within
   * the interval, so that runs started together do not all pack their workspaces at once.
   */
  private snapshotDue(): boolean {
    const { WORKSPACE_SNAPSHOT_INTERVAL_S: interval, WORKSPACE_SNAPSHOT_MAX_MB: maxMb } = this.deps.config;
    if (maxMb === 0) return false;
    const now = Date.now();
    this.nextSnapshotAt ??= now + Math.random() * interval * 1000;
    if (now < this.nextSnapshotAt) return false;
    this.nextSnapshotAt = now + interval * 1000;
    return true;
  }

  /**
   * A decision is acted on once: from here the question's checkpoint is the run's last finished
   * phase, so a pickup after this one (its worker died before the runner's next checkpoint) goes on
   * from it without the decision, and the runner asks again rather than doing the approved step twice.
   */
  private async decisionTaken(saved: RunCheckpoint) {
    this.progress = asProgress(saved);
    await this.deps.prisma.execution.update({
      where: { id: this.id },
      data: { checkpoint: storableJson(this.progress) as unknown as Prisma.InputJsonValue },
    });
  }

  /** The last decision on the run's state events, as the runner takes it. */
  private async recordedDecision(): Promise<ApprovalDecision> {
    const decision = await lastApprovalDecision(this.deps, this.id);
    return {
      approved: decision?.approved === true,
      ...(decision?.comment ? { comment: decision.comment } : {}),
      ...(decision?.by ? { by: decision.by } : {}),
    };
  }

  /** When the pending approval times out: APPROVAL_TIMEOUT_S after it was asked. */
  private approvalDeadline(): number {
    const asked = (this.execution.pendingApproval as { requested_at?: string } | null)?.requested_at;
    const at = asked ? Date.parse(asked) : Number.NaN;
    return (
      (Number.isNaN(at) ? this.execution.updatedAt.getTime() : at) +
      this.deps.config.APPROVAL_TIMEOUT_S * 1000
    );
  }

  private approvalTimeoutMessage(): string {
    return `no decision on the approval request within ${this.deps.config.APPROVAL_TIMEOUT_S} s (APPROVAL_TIMEOUT_S)`;
  }

  /** Gives the slot back until the deadline; a decision (or cancel) wakes the job earlier. */
  private parkUntil(deadline: number): ParkOutcome {
    return {
      park: {
        until: deadline,
        stillWaiting: async () => {
          const row = await this.deps.prisma.execution.findUnique({
            where: { id: this.id },
            select: { state: true, cancelRequestedAt: true },
          });
          return row?.state === 'WAITING' && !row.cancelRequestedAt;
        },
      },
    };
  }

  private async finish(result: RunResult) {
    if (this.signal.aborted) {
      await this.onError(this.signal.reason);
      return;
    }
    const delivers = !!(this.checkout && this.workspace && this.options.github);
    // Stored with the COMPLETED move, unless a failure or the delivery (which adds to it) comes first.
    if (result.metadata && (delivers || !result.success)) {
      await this.deps.prisma.execution.update({
        where: { id: this.id },
        data: { meta: storableJson(result.metadata) as Prisma.InputJsonValue },
      });
    }
    if (!result.success) {
      await this.fail(result.error ?? 'the agent reported failure', result.result);
      return;
    }
    // Its move to RUNNING may go with COMPLETED; a delivery's first event writes it before.
    await this.ensureRunning(true);
    if (this.checkout && this.workspace && this.options.github) {
      let delivery: Delivery;
      try {
        delivery = await this.deliver(result, this.checkout, this.workspace);
      } catch (err) {
        if (this.signal.aborted) return this.onError(this.signal.reason);
        if (err instanceof InvalidState || err instanceof ApprovalTimeout || err instanceof Parked)
          return this.onError(err);
        const message =
          err instanceof DeliveryFailed
            ? err.message
            : `could not deliver to GitHub: ${(err as Error).message}`;
        if (!(err instanceof DeliveryFailed))
          this.deps.log.error({ executionId: this.id, err }, 'delivery failed');
        await this.fail(message, result.result);
        return;
      }
      await this.recordDelivery(delivery);
    }
    await this.move('COMPLETED', {
      result: result.result ?? null,
      error: null,
      ...(result.metadata && !delivers ? { meta: result.metadata } : {}),
    });
  }

  private deliver(result: RunResult, checkout: GithubCheckout, workspace: GitWorkspace): Promise<Delivery> {
    const github = this.options.github as NonNullable<RunOptions['github']>;
    return deliver(
      this.deps,
      {
        signal: this.signal,
        ask: async (request) =>
          this.deliveryDecisions[request.id] ??
          // The runner has ended: the run parks at the question with its result, and goes on with
          // the delivery when the decision comes, on whichever worker takes it.
          this.waitForApproval({ type: 'approval_request', ...request, checkpoint: null }, undefined, {
            result,
            asking: request.id,
            decisions: this.deliveryDecisions,
          }),
        event: async (type, data) => {
          await this.event(type, data);
        },
      },
      {
        execution: this.execution,
        taskTitle: this.taskTitle ?? this.execution.prompt,
        taskNumber: this.taskNumber,
        options: { ...this.options, github },
        checkout,
        origin: this.origin,
        workspace,
        result,
        usage: this.usage,
        projectSecrets: this.secrets,
        plan: this.plan,
      },
    );
  }

  /** The PR (or why there is none) on the execution's metadata, beside the runner's own. */
  private async recordDelivery(delivery: Delivery) {
    const row = await this.deps.prisma.execution.findUniqueOrThrow({
      where: { id: this.id },
      select: { meta: true },
    });
    const meta = {
      ...((row.meta ?? {}) as Record<string, unknown>),
      ...('pull_request' in delivery
        ? { pull_request: delivery.pull_request }
        : { delivery: delivery.skipped }),
    };
    await this.deps.prisma.execution.update({
      where: { id: this.id },
      data: { meta: storableJson(meta) as Prisma.InputJsonValue },
    });
    if (!('pull_request' in delivery)) {
      this.deliveryNote = delivery.skipped;
      return;
    }
    this.pullRequest = delivery.pull_request;
    if (delivery.pull_request.follow_up && this.origin && this.checkout) {
      await replyToReview(
        this.deps,
        this.checkout.access,
        this.execution,
        this.origin,
        delivery.pull_request.commit,
      );
    }
  }

  private async fail(message: string, result?: unknown) {
    if (this.state === 'COMPLETED' || this.state === 'FAILED' || this.state === 'CANCELLED') return;
    await this.move('FAILED', { error: message.slice(0, 2000), ...(result !== undefined ? { result } : {}) });
  }

  private async onError(err: unknown) {
    if (isTerminal(this.state)) return;
    if (err instanceof Parked && !this.signal.aborted) {
      this.parked = this.parkUntil(err.until);
      return;
    }
    if (this.timeout.aborted) {
      await this.fail(executionTimeoutMessage(this.deps));
      return;
    }
    if (this.local.signal.reason instanceof LimitExceeded) {
      // The runner has stopped its remote work; the run ends FAILED, naming the limit.
      await this.fail(this.local.signal.reason.message);
      return;
    }
    const reason: unknown = this.job.signal.reason;
    if (this.job.signal.aborted && reason instanceof Error && reason.name === 'WorkerShutdown') {
      // Its worker is shutting down: the run stays as it is and its job goes back to the queue
      // (the queue's worker does that on this throw); the next worker starts it again.
      await this.event('requeued', { reason: reason.message });
      throw reason;
    }
    if (this.signal.aborted) {
      // The runner has stopped (its stream threw or returned): only now is it CANCELLED.
      await this.move('CANCELLED', { eventData: { reason: 'cancelled while running' } });
      return;
    }
    if (err instanceof InvalidState) {
      this.deps.log.warn({ executionId: this.id, err: err.message }, 'execution changed under the worker');
      return;
    }
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof ApprovalTimeout) {
      await this.fail(message);
      return;
    }
    if (err instanceof TransientRunnerError && !this.job.isFinalAttempt) {
      await this.event('retry_scheduled', { attempt: this.job.attempt, error: message });
      throw new RetryLater(message);
    }
    this.deps.log.error({ executionId: this.id, err }, 'runner failed');
    await this.fail(
      err instanceof TransientRunnerError
        ? `${message} (gave up after ${this.job.attempt} attempts)`
        : `runner failed: ${message}`,
    );
  }
}

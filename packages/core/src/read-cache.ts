import type { RuntimeExecutionDto, TaskStateDto } from '@ccl/contracts';
import type { Execution, Project, Task } from '@ccl/db';
import type { RequestCtx } from './context.ts';
import { ProjectCache } from './project-cache.ts';
import { TtlMap } from './ttl-map.ts';

type ActorCtx = Omit<RequestCtx, 'requestId'>;

/** Whether a notice names the very seq and state an answer was made from. */
function sameChange(value: CachedRuntimeExecution, heard: Partial<HeardChange>): boolean {
  return (
    value.seq !== undefined && heard.seq === value.seq && heard.state?.toLowerCase() === value.answer.status
  );
}

/**
 * The 2026.3 poll's entries, at most: polled in turn, a backlog larger than this misses on every
 * poll (the oldest entry is always the next one asked for), so it is sized for tens of thousands of
 * queued runs.
 */
const RUNTIME_EXECUTIONS_MAX = 50_000;
/** …and the text they hold, in characters (prompt, result, error): some 64 MB at most. */
const RUNTIME_EXECUTIONS_MAX_CHARS = 32_000_000;

const charsOf = (e: CachedRuntimeExecution) =>
  (e.answer.payload?.length ?? 0) + (e.answer.result?.length ?? 0) + (e.answer.errorMessage?.length ?? 0);

/**
 * The execution a runtime task_id stands for and the runtime session that submitted it (null: none,
 * e.g. the board or an API key; tokenHash null: a row from before ids were hashed).
 */
export type TaskSubmitter = { executionId: string; session: { tokenHash: string | null } | null };

export type CachedTaskState = {
  task: Pick<Task, 'id' | 'title'> & { project: Pick<Project, 'slug'> };
  execution: Execution;
  /** The answer built from this read, kept with it (see getTaskState). */
  answer?: TaskStateDto;
};

/** What the poll of CoderClaw 2026.3 needs of an execution: its answer and who may read it cheaply. */
export interface CachedRuntimeExecution {
  executionId: string;
  /** The card's uuid, for the reach check of a reader who is not the submitter. */
  taskUuid: string;
  answer: RuntimeExecutionDto;
  /**
   * The run's event seq this answer reflects (a read's or a submit's; unknown in older callers): a notice
   * naming this seq and this state is the answer's own write, heard late, and leaves it in place.
   */
  seq?: number;
}

/** Where the record of changes stood (changeMark), for an answer made outside a read (primeRuntimeExecution). */
export interface ChangeMark {
  tick: number;
  gap: number;
}

/** What a change notice says of the run: its event seq and state, and an event's time (ExecutionChange). */
export interface HeardChange {
  seq: number;
  state: string;
  /** Only on an event's notice: the run's new `updated_at`, ISO. */
  at?: string;
  /** On an event's notice: the event reported usage (the row's `usage` changed). */
  usage?: boolean;
}

/**
 * The kept answer as the run is after `heard`, when the notice is the run's very next event (its
 * seq, one past the answer's) in the same state: an event moves nothing of the answer but the row's
 * `updated_at`. Else undefined: a move, a gap in the seqs or a notice without its time is read again.
 */
function stepped(
  value: CachedRuntimeExecution,
  heard: Partial<HeardChange>,
): CachedRuntimeExecution | undefined {
  if (value.seq === undefined || heard.seq !== value.seq + 1 || heard.at === undefined) return undefined;
  if (heard.state?.toLowerCase() !== value.answer.status) return undefined;
  return { ...value, seq: heard.seq, answer: { ...value.answer, updatedAt: heard.at } };
}

/**
 * The same for a kept task state (the session contract's poll), whose answer shows no `updated_at`
 * but the run's usage: it follows its own run's next event in the same state, unless the event
 * reported usage. The answer built from the row stays as it is. A notice of the very seq and state
 * the answer was read at is a write the read already saw, heard late (the submit's own PENDING,
 * say): the answer stays, as the 2026.3 poll's does (sameChange).
 */
function steppedTask(
  value: CachedTaskState,
  executionId: string,
  heard: Partial<HeardChange>,
): CachedTaskState | undefined {
  const { execution } = value;
  if (execution.id !== executionId || heard.usage) return undefined;
  if (heard.seq === execution.eventSeq && heard.state === execution.state) return value;
  if (heard.at === undefined) return undefined;
  if (heard.seq !== execution.eventSeq + 1 || heard.state !== execution.state) return undefined;
  return { ...value, execution: { ...execution, eventSeq: heard.seq, updatedAt: new Date(heard.at) } };
}

/**
 * Keeps the hot read paths of CoderClaw's polling off the database: credential or session → task
 * state (the session contract) and execution number → execution (2026.3). Entries are dropped
 * when this process hears of a change (Postgres NOTIFY, `taskChanged`), or moved one event on when
 * the change is the run's next event and the answer shows nothing it changed (stepped, steppedTask),
 * and expire after a short TTL anyway, so a lost notification costs at most that long a stale
 * answer. A read that a change overtook is answered but not kept, and readers arriving after a
 * change never join a read that started before it.
 */
export class ReadCache {
  /** What submits read of their project (project-cache.ts); dropped with everything else on a gap. */
  readonly projects = new ProjectCache();
  private readonly sessions: TtlMap<ActorCtx>;
  /** Other credentials (API keys, device secrets, the local developer), dropped with the sessions. */
  private readonly credentials: TtlMap<ActorCtx>;
  private readonly taskStates: TtlMap<CachedTaskState>;
  /** Which session stands for a task in a credential-less poll; a change of another execution drops it. */
  private readonly taskSubmitters: TtlMap<TaskSubmitter>;
  /** Bumped on every change of a task, so a read that raced a change is not cached. */
  private readonly generations = new Map<string, number>();
  /** Bumped on every session revocation, for the same reason. */
  private sessionEpoch = 0;
  /**
   * Bumped when change notices may have been lost (forgetAll) or the record of them was dropped
   * (generations cleared): no read in flight is kept.
   */
  private gapEpoch = 0;
  /** Database reads in flight, by what they read: concurrent misses share one. */
  private readonly loading = new Map<string, Promise<unknown>>();
  /** 2026.3's execution poll, by execution number. */
  private readonly runtimeExecutions: TtlMap<CachedRuntimeExecution>;
  /**
   * execution uuid → number, for exactly the entries of runtimeExecutions (dropped with them):
   * changes name the uuid, the poll names the number. Were a kept entry's link lost, its changes
   * could not reach it and it would be answered stale until its TTL.
   */
  private readonly executionNumbers = new Map<string, number>();
  /**
   * Every change is stamped with a tick: a read of an execution by number learns its uuid only when
   * it returns, so it is kept, and answers readers that joined it late, only if that execution has
   * not changed since the read started.
   */
  private tick = 0;
  /** The tick of the last change heard of each execution, with its seq and state when the notice said. */
  private readonly executionChangedAt = new Map<string, { tick: number } & Partial<HeardChange>>();
  /** Executions forgotten from executionChangedAt count as changed at this tick. */
  private tickFloor = 0;
  private readonly waiters = new Map<string, Set<() => void>>();

  constructor(
    opts: {
      sessionTtlMs?: number;
      taskTtlMs?: number;
      max?: number;
      /** Bounds of the 2026.3 execution poll's entries (RUNTIME_EXECUTIONS_MAX, _MAX_CHARS). */
      runtimeMax?: number;
      /** How long a 2026.3 poll's answer is kept (taskTtlMs when unset). */
      runtimeTtlMs?: number;
      runtimeMaxChars?: number;
    } = {},
  ) {
    this.sessions = new TtlMap(opts.sessionTtlMs ?? 5_000, opts.max ?? 10_000);
    this.credentials = new TtlMap(opts.sessionTtlMs ?? 5_000, opts.max ?? 10_000);
    this.taskStates = new TtlMap(opts.taskTtlMs ?? 1_000, opts.max ?? 10_000);
    this.taskSubmitters = new TtlMap(60_000, opts.max ?? 10_000);
    this.runtimeExecutions = new TtlMap(
      opts.runtimeTtlMs ?? opts.taskTtlMs ?? 1_000,
      opts.runtimeMax ?? RUNTIME_EXECUTIONS_MAX,
      {
        weigh: charsOf,
        maxWeight: opts.runtimeMaxChars ?? RUNTIME_EXECUTIONS_MAX_CHARS,
        onDrop: (_number, value) => this.executionNumbers.delete(value.executionId),
      },
    );
  }

  /**
   * Runs `load` unless the same read is already in flight, and then answers with that one's
   * result. CoderClaw polls each task once a second over several connections, and a board has
   * many tabs: without this, every entry's expiry sent all of them to the database at once.
   */
  private once<V>(key: string, load: () => Promise<V>): Promise<V> {
    const running = this.loading.get(key);
    if (running) return running as Promise<V>;
    const started = load().finally(() => this.loading.delete(key));
    this.loading.set(key, started);
    return started;
  }

  /** Sessions are keyed by the sha256 of their id, as the database keeps them. */
  session(tokenHash: string) {
    return this.sessions.get(tokenHash);
  }

  /**
   * A cache miss: the session read with `load` (null: no live session), shared with reads of the
   * same session in flight, and kept. A read that a revocation overtook is answered but not kept,
   * and a read that starts after a revocation never joins one that started before it.
   */
  loadSession(tokenHash: string, load: () => Promise<ActorCtx | null>): Promise<ActorCtx | null> {
    const epoch = this.sessionEpoch;
    return this.once(`s:${epoch}:${tokenHash}`, async () => {
      const ctx = await load();
      if (ctx && epoch === this.sessionEpoch) this.sessions.set(tokenHash, ctx);
      return ctx;
    });
  }

  /**
   * Change notices may have been lost (the LISTEN connection dropped, or is back): everything kept
   * is read afresh, and no read in flight is kept. This is what lets the TTLs be long.
   */
  forgetAll() {
    this.gapEpoch++;
    this.forgetAllSessions();
    this.taskStates.clear();
    this.taskSubmitters.clear();
    this.runtimeExecutions.clear();
    this.projects.forget();
  }

  /** On a revocation heard from any process (CHANNELS.sessions): every session and credential is read afresh. */
  forgetAllSessions() {
    this.sessionEpoch++;
    this.sessions.clear();
    this.credentials.clear();
  }

  /** A credential other than a runtime session, by a key naming its kind (`apikey:<sha256>`, `local`, …). */
  credential(key: string) {
    return this.credentials.get(key);
  }

  /**
   * A credential's cache miss, like loadSession: `load` reads it; `keep` names the actor it proved
   * (null: nothing to keep, e.g. a refusal) and when the credential itself ends, if before the TTL.
   */
  loadCredential<V>(
    key: string,
    load: () => Promise<V>,
    keep: (value: V) => { ctx: ActorCtx; until?: number | null } | null,
  ): Promise<V> {
    const epoch = this.sessionEpoch;
    return this.once(`c:${epoch}:${key}`, async () => {
      const value = await load();
      const kept = keep(value);
      if (kept && epoch === this.sessionEpoch) this.credentials.set(key, kept.ctx, kept.until);
      return value;
    });
  }

  taskState(taskId: string) {
    return this.taskStates.get(taskId);
  }

  generation(taskId: string): number {
    return this.generations.get(taskId) ?? 0;
  }

  /**
   * A cache miss: the task's latest state read with `load`, shared with reads of the same task in
   * flight since its last change, and kept only if no change of the task was heard meanwhile.
   */
  loadTaskState(taskId: string, load: () => Promise<CachedTaskState>): Promise<CachedTaskState> {
    return this.loadForTask('t', taskId, this.taskStates, load);
  }

  /**
   * A miss of a per-task entry: shared with reads of the same task in flight since its last change
   * (and the last notice gap), and kept only if neither happened while it read.
   */
  private loadForTask<V>(kind: string, taskId: string, into: TtlMap<V>, load: () => Promise<V>): Promise<V> {
    const generation = this.generation(taskId);
    const gap = this.gapEpoch;
    return this.once(`${kind}:${gap}:${generation}:${taskId}`, async () => {
      const value = await load();
      if (this.generation(taskId) === generation && gap === this.gapEpoch) into.set(taskId, value);
      return value;
    });
  }

  taskSubmitter(taskId: string): TaskSubmitter | undefined {
    return this.taskSubmitters.get(taskId);
  }

  /** A miss of taskSubmitter, shared and kept like loadTaskState. */
  loadTaskSubmitter(taskId: string, load: () => Promise<TaskSubmitter>): Promise<TaskSubmitter> {
    return this.loadForTask('a', taskId, this.taskSubmitters, load);
  }

  runtimeExecution(number: number): CachedRuntimeExecution | undefined {
    return this.runtimeExecutions.get(String(number));
  }

  /**
   * A miss of runtimeExecution: `load` once for every concurrent reader; null (unknown) is not kept.
   * Which execution a number names is learnt only from the read, so a read is joined by any reader
   * of that number, and one that joined after a change of that execution reads again rather than
   * take the answer from before it.
   */
  async loadRuntimeExecution(
    number: number,
    load: () => Promise<CachedRuntimeExecution | null>,
  ): Promise<CachedRuntimeExecution | null> {
    const joined = this.tick;
    const gap = this.gapEpoch;
    const { value, started } = await this.once(`x:${gap}:${number}`, async () => {
      const started = this.tick;
      const value = await load();
      if (value && !this.changedSince(value.executionId, started) && gap === this.gapEpoch) {
        this.runtimeExecutions.set(String(number), value);
        this.executionNumbers.set(value.executionId, number);
      }
      return { value, started };
    });
    if (value && joined > started && this.changedSince(value.executionId, started)) {
      return this.loadRuntimeExecution(number, load);
    }
    return value;
  }

  /** Whether a change of the execution was heard after `tick` (or may have been: see tickFloor). */
  private changedSince(executionId: string, tick: number): boolean {
    return (this.executionChangedAt.get(executionId)?.tick ?? this.tickFloor) > tick;
  }

  /** Where the record of changes stands now: taken before a write whose answer is then primed. */
  changeMark(): ChangeMark {
    return { tick: this.tick, gap: this.gapEpoch };
  }

  /**
   * Keeps the answer of a run this process has just written (a submit), so that its adapter's
   * first polls, and a backlog's, read nothing. `mark`: taken before the write. Not kept when a
   * notice other than the write's own (same seq and state) was heard since, or notices may have
   * been lost (a LISTEN gap, or their record dropped): a read then tells the truth.
   */
  primeRuntimeExecution(number: number, value: CachedRuntimeExecution & { seq: number }, mark: ChangeMark) {
    if (mark.gap !== this.gapEpoch || this.tickFloor > mark.tick) return;
    const heard = this.executionChangedAt.get(value.executionId);
    if (heard && heard.tick > mark.tick && !sameChange(value, heard)) return;
    this.runtimeExecutions.set(String(number), value);
    this.executionNumbers.set(value.executionId, number);
  }

  /** Resolves at the next change of the execution heard here, or after `ms` (a lost notification). */
  nextChange(executionId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiting = this.waiters.get(executionId) ?? new Set<() => void>();
      const wake = () => {
        clearTimeout(timer);
        waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        waiting.delete(wake);
        if (waiting.size === 0 && this.waiters.get(executionId) === waiting) this.waiters.delete(executionId);
        resolve();
      }, ms);
      waiting.add(wake);
      this.waiters.set(executionId, waiting);
    });
  }

  /**
   * On every change heard from any process (CHANNELS.execution). `executionId`: the execution that
   * changed; its own changes do not move the task's submitter.
   */
  taskChanged(taskId: string, executionId?: string, heard?: HeardChange) {
    const kept = this.taskStates.get(taskId);
    const next = kept && executionId && heard ? steppedTask(kept, executionId, heard) : undefined;
    if (!next || !this.taskStates.replace(taskId, next)) this.taskStates.delete(taskId);
    if (this.taskSubmitters.get(taskId)?.executionId !== executionId) this.taskSubmitters.delete(taskId);
    this.bump(taskId);
    if (executionId) this.executionChanged(executionId, heard);
  }

  private executionChanged(executionId: string, heard?: HeardChange) {
    this.tick++;
    // The stamps only matter while a read is in flight or a submit primes; keep the map bounded.
    if (this.executionChangedAt.size > 50_000) {
      this.executionChangedAt.clear();
      this.tickFloor = this.tick;
    }
    // Only what the notice says of the run: the notice object itself carries more (ids, `ended`).
    this.executionChangedAt.set(executionId, {
      tick: this.tick,
      ...(heard ? { seq: heard.seq, state: heard.state } : {}),
    });
    const number = this.executionNumbers.get(executionId);
    if (number !== undefined) this.keepOrDrop(number, heard);
    const waiting = this.waiters.get(executionId);
    if (waiting) {
      this.waiters.delete(executionId);
      for (const wake of waiting) wake();
    }
  }

  /**
   * A change of a run whose poll answer is kept: the answer stays when the notice is its own write's
   * heard late, moves one event on when the notice is the run's next event, and is read again otherwise.
   * A running run steps every second or so and is polled as often: reading it again at every step
   * made each of its polls a read.
   */
  private keepOrDrop(number: number, heard: HeardChange | undefined) {
    const key = String(number);
    const kept = this.runtimeExecutions.get(key);
    if (kept && heard && sameChange(kept, heard)) return;
    const next = kept && heard ? stepped(kept, heard) : undefined;
    if (!next || !this.runtimeExecutions.replace(key, next)) this.runtimeExecutions.delete(key);
  }

  private bump(key: string) {
    this.generations.set(key, this.generation(key) + 1);
    // Generations only matter while a read is in flight; keep the map from growing without bound.
    // A read in flight could find its task back at the generation it started from: keep none.
    if (this.generations.size > 50_000) {
      this.generations.clear();
      this.gapEpoch++;
    }
  }
}

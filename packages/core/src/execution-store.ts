import { camelRow, type Execution, type ExecutionState, jsonb, Prisma, sqlOf } from '@ccl/db';
import { type AuditDeps, chainedAudit, withChainReady } from './audit.ts';
import { headMoved } from './audit-head-signer.ts';
import type { RequestCtx } from './context.ts';
import {
  type DatabaseRetryOptions,
  mayHaveCommitted,
  retryWhileDatabaseUnavailable,
} from './database-retry.ts';
import { CHANNELS, type CoreDeps, type ExecutionChange, type Tx } from './deps.ts';
import { InvalidState, NotFound } from './errors.ts';
import { canTransition, isTerminal, TRANSITIONS } from './state-machine.ts';
import { storableJson } from './storable.ts';

export interface TransitionPatch {
  result?: unknown;
  error?: string | null;
  pendingApproval?: Record<string, unknown> | null;
  /** A parked run's runner state (set with WAITING), or null to forget it. */
  checkpoint?: Record<string, unknown> | null;
  /** Extra data stored on the state event. */
  eventData?: Record<string, unknown>;
  /** The job's attempt, recorded as the run starts. */
  attempts?: number;
  /** What the runner reported at the end (model, turns, changed files…). */
  meta?: Record<string, unknown>;
  /** More columns of the row to set with the move (run-pickup.ts: letting go of the run at its end). */
  alsoSet?: Prisma.Sql;
  /** The run's events that waited for its next write (event-batch.ts): written just before the state event. */
  before?: readonly PendingEvent[];
  /**
   * The row is still PLANNING: its move to RUNNING waited for this one and goes with it, its state
   * event among `before` (run-execution.ts ensureRunning). The move is made from PLANNING only, and
   * its state event and audit row say it left RUNNING.
   */
  fromRunning?: true;
}

/** An event as written: its data already JSON, its time taken when it happened. */
export interface PendingEvent {
  type: string;
  data: string;
  at: string;
}

/**
 * The run's usage as the last usage report among `events` says it (its data is the run's whole
 * usage so far), for the row: a report that waited for the run's next write (run-execution.ts)
 * sets the row's `usage` there.
 */
const carriedUsage = (events: readonly PendingEvent[]) => events.findLast((e) => e.type === 'usage')?.data;

/** An event to write, stored as JSON the way every event is (storable.ts), stamped now. */
export function pendingEvent(type: string, data: Record<string, unknown>): PendingEvent {
  return { type, data: JSON.stringify(storableJson(data)), at: new Date().toISOString() };
}

/**
 * The rows of `events` in one INSERT … SELECT: the last one at `lastSeq` (an expression over `from`),
 * the ones before it just below, in order. Each keeps the time it happened.
 */
function insertEvents(
  executionId: string,
  events: readonly PendingEvent[],
  from: Prisma.Sql,
  lastSeq: Prisma.Sql,
) {
  return Prisma.sql`
      INSERT INTO execution_events (execution_id, seq, type, data, created_at)
      SELECT ${executionId}::uuid, ${lastSeq} - ${events.length}::int + x.ord::int, x.type, x.data,
             x.at AT TIME ZONE 'UTC'
      FROM ${from}, unnest(${events.map((e) => e.type)}::text[], ${events.map((e) => e.data)}::jsonb[],
                           ${events.map((e) => e.at)}::timestamptz[]) WITH ORDINALITY AS x(type, data, at, ord)`;
}

/** The states a run may move to `to` from (state-machine.ts), for the transition's WHERE. */
const FROM_STATES = Object.fromEntries(
  Object.keys(TRANSITIONS).map((to) => [
    to,
    (Object.keys(TRANSITIONS) as ExecutionState[]).filter((from) =>
      canTransition(from, to as ExecutionState),
    ),
  ]),
) as Record<ExecutionState, ExecutionState[]>;

interface MovedRow {
  /** The state it was in (an execution that does not exist gives no row at all). */
  from_state: ExecutionState;
  run_task_id: string;
  /** Null when the move was refused (not allowed from `from_state`, or its guard said no). */
  seq: number | null;
  /** The run's agent and time run, for a terminal move's notice. */
  ended_agent_type: string;
  seconds: number | null;
}

/**
 * A move that is also the worker's read of the run (readRunStarting): the statement locks the whole
 * row, with what readRun reads of its project and submitter, and moves it only where `guard` (an
 * SQL condition on `cur`, that locked row) holds.
 */
interface ReadingMove {
  guard: Prisma.Sql;
}

/** What readRun reads besides the row: the run's project and its settings, and its submitter's budget. */
const RUN_PROJECT_COLUMNS = Prisma.sql`t.project_id::text AS run_project_id, p.settings AS run_project_settings,
           u.budget_usd_month AS run_user_budget`;
const RUN_PROJECT_JOINS = Prisma.sql`LEFT JOIN tasks t ON t.id = e.task_id LEFT JOIN projects p ON p.id = t.project_id
      LEFT JOIN users u ON u.id = e.user_id`;

/**
 * Where a statement's change notice goes. `statement`: pg_notify inside it, sent on its commit.
 * A publisher: after the statement returned, which for a statement on its own (autocommit) is after
 * its commit. A committing transaction that notified holds PostgreSQL's NOTIFY lock until its
 * commit is flushed, so notifying statements queue behind one another across all runs, while the
 * notifier sends the notices of several at once in a statement that writes nothing (notifier.ts).
 *
 * A notice sent after can be lost: the process dies between the commit and the send. So only the
 * writes that the run's next writes always follow send theirs after: its events, its rank, its
 * moves to PLANNING and RUNNING (a run goes on from there, or its worker died and the run comes
 * back with a `worker_lost` event), whose next notice tells the listeners what the lost one would
 * have. A move to WAITING or to an end, after which a run may write nothing for hours, and every
 * statement within a caller's transaction, notify in the statement.
 */
export type NoticeRoute = 'statement' | (Pick<CoreDeps, 'bus'> & Partial<Pick<CoreDeps, 'log'>>);

/** The last notice each publisher was given to send after a commit (see noticesSent). */
const lastNotice = new WeakMap<Pick<CoreDeps, 'bus'>['bus'], Promise<unknown>>();

/** Sends `notice` after the commit, never throwing: a lost notice is logged. */
export function noticeAfter(route: Exclude<NoticeRoute, 'statement'>, notice: ExecutionChange) {
  const sent = route.bus
    .publish(CHANNELS.execution, JSON.stringify(notice))
    .catch((err: unknown) =>
      route.log?.warn(
        { err: (err as Error).message, executionId: notice.executionId },
        'could not send a change notice',
      ),
    );
  lastNotice.set(route.bus, sent);
}

/**
 * Resolves once the notices `bus` was given to send after their commits are out (the notifier
 * sends them in order), so that a notice sent with a statement next comes after them.
 */
export async function noticesSent(bus: Pick<CoreDeps, 'bus'>['bus'] | undefined): Promise<void> {
  if (bus) await lastNotice.get(bus);
}

/**
 * The one statement of a move to `to`, if the state machine allows it: it locks the row, checks
 * the move, updates the row, writes the state event (and, at COMPLETED, puts the card up for
 * review), writes the audit row onto the chain (audit.ts chainedAudit) and sends the change notice
 * (CHANNELS.execution), which goes out on commit, never for a move that rolled back. The locks come
 * in the order every audited write takes them: the run's row, the card's, the chain's head.
 * `changeOf` reads its answer; an illegal move throws InvalidState (HTTP 409).
 */
function transitionStatement(
  deps: AuditDeps,
  ctx: RequestCtx,
  executionId: string,
  to: ExecutionState,
  rawPatch: TransitionPatch,
  route: NoticeRoute,
  reading?: ReadingMove,
) {
  const { alsoSet, before = [], fromRunning, ...stored } = rawPatch;
  if (fromRunning && !canTransition('RUNNING', to))
    throw new InvalidState(`a run cannot go from running to ${to}`);
  // The states the row may be in, and (for a move that carries the one to RUNNING) the one it left.
  const fromStates: readonly ExecutionState[] = fromRunning ? ['PLANNING'] : FROM_STATES[to];
  const leftState = fromRunning ? Prisma.sql`'running'` : Prisma.sql`lower(from_state::text)`;
  const patch: TransitionPatch = storableJson(stored);
  // Timestamps are stored as UTC wall time, as Prisma writes them (not the session's time zone).
  const now = Prisma.sql`${new Date().toISOString()}::timestamptz AT TIME ZONE 'UTC'`;
  const sets: Prisma.Sql[] = [
    Prisma.sql`state = ${to}::"ExecutionState"`,
    Prisma.sql`event_seq = e.event_seq + ${before.length + 1}::int`,
    Prisma.sql`updated_at = ${now}`,
    Prisma.sql`started_at = CASE WHEN cur.state = 'PENDING' THEN ${now} ELSE e.started_at END`,
  ];
  if (isTerminal(to)) sets.push(Prisma.sql`finished_at = ${now}`);
  if (patch.result !== undefined) sets.push(Prisma.sql`result = ${jsonb(patch.result ?? null)}`);
  if (patch.error !== undefined) sets.push(Prisma.sql`error = ${patch.error}`);
  if (patch.pendingApproval !== undefined)
    sets.push(Prisma.sql`pending_approval = ${jsonb(patch.pendingApproval)}`);
  if (patch.checkpoint !== undefined) sets.push(Prisma.sql`checkpoint = ${jsonb(patch.checkpoint)}`);
  if (patch.attempts !== undefined) sets.push(Prisma.sql`attempts = ${patch.attempts}::int`);
  if (patch.meta !== undefined) sets.push(Prisma.sql`meta = ${jsonb(patch.meta)}`);
  if (alsoSet) sets.push(alsoSet);
  const usage = carriedUsage(before);
  if (usage !== undefined) sets.push(Prisma.sql`usage = ${usage}::jsonb`);
  const toText = to.toLowerCase();
  // A finished run puts its card up for review; only from In progress, so a card a person (or a PR's
  // delivery) already moved stays where it is. Failed and cancelled runs leave it, with their badge.
  // The audit row's condition reads the card's update, so the head is locked after the card.
  const completed = to === 'COMPLETED';
  const card = completed
    ? Prisma.sql`, card AS (
          UPDATE tasks SET "column" = 'review', updated_at = ${now}
          WHERE id = (SELECT task_id FROM moved) AND "column" = 'in_progress' RETURNING id)`
    : Prisma.empty;
  const afterCard = completed ? Prisma.sql`AND (SELECT count(*) FROM card) >= 0` : Prisma.empty;
  // The audit row says which state the run left, which only the statement knows: one variant each.
  // The agent's own phase change (PLANNING → RUNNING) is the run's event, not an operation: no audit row.
  const audited = fromStates.filter((state) => !(state === 'PLANNING' && to === 'RUNNING'));
  const from = audited.length ? audited : (['-'] as const);
  const audit = chainedAudit(
    deps,
    ctx,
    Prisma.sql`EXISTS (SELECT 1 FROM moved) ${afterCard}`,
    from.map((state) => ({
      key: state,
      entry: {
        action: 'execution.transition',
        resourceType: 'execution',
        resourceId: executionId,
        outcome: 'ALLOWED' as const,
        detail: {
          from: fromRunning ? 'running' : state.toLowerCase(),
          to: toText,
          ...(patch.error ? { error: patch.error.slice(0, 500) } : {}),
        },
      },
    })),
    Prisma.sql`(SELECT from_state::text FROM moved)`,
  );
  // A run's end names its agent and how long it ran, for the duration histogram (metrics.ts).
  const ended = isTerminal(to)
    ? Prisma.sql` || jsonb_build_object('ended',
        jsonb_build_object('agentType', moved.agent_type, 'seconds', moved.seconds))`
    : Prisma.empty;
  const cur = reading
    ? Prisma.sql`SELECT e.*, ${RUN_PROJECT_COLUMNS}
      FROM executions e ${RUN_PROJECT_JOINS} WHERE e.id = ${executionId}::uuid FOR UPDATE OF e`
    : Prisma.sql`SELECT id, state, task_id FROM executions WHERE id = ${executionId}::uuid FOR UPDATE`;
  const sql = Prisma.sql`
    WITH cur AS (${cur}),
    moved AS (
      UPDATE executions e SET ${Prisma.join(sets, ', ')}
      FROM cur
      WHERE e.id = cur.id AND cur.state::text = ANY(${fromStates}::text[])${
        reading ? Prisma.sql` AND ${reading.guard}` : Prisma.empty
      }
      RETURNING e.event_seq, e.task_id, cur.state AS from_state, e.agent_type,
                EXTRACT(EPOCH FROM (e.finished_at - e.started_at))::float8 AS seconds),
    ev AS (
      INSERT INTO execution_events (execution_id, seq, type, data, created_at)
      SELECT ${executionId}::uuid, event_seq, 'state',
             jsonb_build_object('from', ${leftState}, 'to', ${toText}::text)
               || ${JSON.stringify(patch.eventData ?? {})}::jsonb,
             ${now}
      FROM moved)${card},${
        before.length
          ? Prisma.sql`
    carried AS (${insertEvents(executionId, before, Prisma.sql`moved`, Prisma.sql`moved.event_seq - 1`)}),`
          : Prisma.empty
      }
    ${audit}
    SELECT cur.state AS from_state, cur.task_id::text AS run_task_id, moved.event_seq AS seq,
           moved.agent_type AS ended_agent_type, moved.seconds${
             route === 'statement'
               ? Prisma.sql`,
           CASE WHEN moved.event_seq IS NOT NULL THEN pg_notify(${CHANNELS.execution},
             (json_build_object('executionId', ${executionId}::text, 'taskId', cur.task_id::text,
                                'seq', moved.event_seq, 'state', ${to}::text)::jsonb${ended})::text)::text
           END AS notified`
               : Prisma.empty
           }${reading ? Prisma.sql`, cur.*` : Prisma.empty}
    FROM cur LEFT JOIN moved ON true`;
  /** The move the row reports (its notice sent where it goes after the statement), or null if none was made. */
  const madeOf = (row: MovedRow): ExecutionChange | null => {
    if (row.seq === null) return null;
    const change: ExecutionChange = { executionId, taskId: row.run_task_id, seq: row.seq, state: to };
    if (route !== 'statement')
      noticeAfter(route, {
        ...change,
        // A run's end names its agent and how long it ran, as the statement's own notice does.
        ...(isTerminal(to) ? { ended: { agentType: row.ended_agent_type, seconds: row.seconds } } : {}),
      });
    return change;
  };
  const changeOf = (rows: MovedRow[]): ExecutionChange => {
    const row = rows[0];
    if (!row) throw new NotFound(`execution ${executionId} not found`);
    const change = madeOf(row);
    if (!change) {
      throw new InvalidState(
        `execution ${executionId} cannot go from ${row.from_state.toLowerCase()} to ${toText}`,
      );
    }
    return change;
  };
  return { sql, changeOf, madeOf };
}

/**
 * Moves an execution to `to` if the state machine allows it, inside the caller's transaction, in
 * one statement (transitionStatement): row, state event and audit row commit together.
 */
export async function transitionExecution(
  deps: Pick<CoreDeps, 'audit' | 'prisma'>,
  tx: Pick<Tx, '$queryRaw'>,
  ctx: RequestCtx,
  executionId: string,
  to: ExecutionState,
  rawPatch: TransitionPatch = {},
  /** A statement on its own (no transaction of the caller's) may send its notice after it. */
  route: NoticeRoute = 'statement',
): Promise<ExecutionChange> {
  const { sql, changeOf } = transitionStatement(deps, ctx, executionId, to, rawPatch, route);
  const change = changeOf(await tx.$queryRaw<MovedRow[]>(sql));
  headMoved(deps);
  return change;
}

/** Of a run's project and submitter, what its admission weighs (admission.ts). */
export interface RunProject {
  projectId: string;
  settings: unknown;
  userBudget: number | null;
}

/** What a worker reads of a run as it takes its job. `project` is null if the card or project is gone. */
export interface RunRead {
  execution: Execution;
  project: RunProject | null;
}

/**
 * An execution's whole row, as Prisma's `findUnique` gives it, raw (raw-sql.ts), with what its
 * admission weighs of its project and submitter: a worker reads the run it takes once per pickup,
 * in one statement, and Prisma's query costs several times the statement.
 */
export async function readRun(deps: Pick<CoreDeps, 'prisma'>, executionId: string): Promise<RunRead | null> {
  const rows = await sqlOf(deps.prisma).query<Record<string, unknown>>(Prisma.sql`
    SELECT e.*, ${RUN_PROJECT_COLUMNS}
    FROM executions e ${RUN_PROJECT_JOINS}
    WHERE e.id = ${executionId}::uuid`);
  const row = rows[0];
  return row ? runReadOf(row) : null;
}

/**
 * readRun that also moves the run to PLANNING where `guard` holds, in the same statement (a worker
 * taking a job it can start at once: admission.ts readAndStart). `read` is the row as locked
 * before the move; `started` is the move, or null when none was made. Its notice goes after the
 * statement (with a bus), as admission's own move's does.
 */
export async function readRunStarting(
  deps: Pick<CoreDeps, 'prisma' | 'audit'> & Partial<Pick<CoreDeps, 'bus' | 'log'>>,
  ctx: RequestCtx,
  executionId: string,
  patch: TransitionPatch,
  guard: Prisma.Sql,
): Promise<{ read: RunRead | null; started: ExecutionChange | null }> {
  const { sql, madeOf } = transitionStatement(deps, ctx, executionId, 'PLANNING', patch, noticeRoute(deps), {
    guard,
  });
  const rows = await withChainReady(deps, () =>
    sqlOf(deps.prisma).query<MovedRow & Record<string, unknown>>(sql),
  );
  const row = rows[0];
  if (!row) return { read: null, started: null };
  const started = madeOf(row);
  if (started) headMoved(deps);
  const {
    from_state: _from,
    run_task_id: _task,
    seq: _seq,
    ended_agent_type: _agent,
    seconds: _seconds,
    notified: _notified,
    ...columns
  } = row;
  return { read: runReadOf(columns), started };
}

function runReadOf(row: Record<string, unknown>): RunRead {
  const {
    run_project_id: projectId,
    run_project_settings: settings,
    run_user_budget: userBudget,
    ...columns
  } = row;
  return {
    execution: camelRow<Execution>(columns),
    project:
      typeof projectId === 'string'
        ? { projectId, settings: settings ?? null, userBudget: (userBudget as number | null) ?? null }
        : null,
  };
}

interface AppendedRow {
  seq: number;
  taskId: string;
  state: string;
  cancelRequested: boolean;
  /** With a usage report: what the budgets are checked against, read in the same statement. */
  projectId?: string;
  projectSettings?: unknown;
  userId?: string;
  userBudget?: number | null;
}

/** What a run's monthly budgets are checked against (budgets.ts budgetReached). */
export interface BudgetInputs {
  projectId: string;
  projectSettings: unknown;
  userId: string;
  userBudget: number | null;
}

/**
 * Appends a non-state event (message, progress, tool call…), sends its change notice, and tells
 * whether a cancel was requested meanwhile. One statement, atomic on its own: runners write an
 * event for every step they take, and an interactive transaction would cost four round trips each.
 * `before`: the run's events that waited for its next write (event-batch.ts), written first.
 */
export function appendEvent(
  deps: EventDeps,
  executionId: string,
  type: string,
  rawData: Record<string, unknown>,
  usage?: Record<string, unknown>,
  /** More columns of the row to set with the event (run-pickup.ts: the mark of a starting agent). */
  alsoSet?: Prisma.Sql,
  before: readonly PendingEvent[] = [],
): Promise<AppendedEvents> {
  return appendEvents(deps, executionId, [...before, pendingEvent(type, rawData)], usage, alsoSet);
}

export type AppendedEvents = ExecutionChange & { cancelRequested: boolean; budget?: BudgetInputs };

/** With a bus (a worker's deps), the notice goes out after the statement; without, in it (NoticeRoute). */
type EventDeps = Pick<CoreDeps, 'prisma'> & Partial<Pick<CoreDeps, 'bus' | 'log'>>;

/** Where the notices of `deps`' statements on their own go (NoticeRoute). */
export const noticeRoute = (deps: Partial<Pick<CoreDeps, 'bus' | 'log'>>): NoticeRoute =>
  deps.bus ? { bus: deps.bus, ...(deps.log ? { log: deps.log } : {}) } : 'statement';

/**
 * Appends `events` (at least one), in order, in one statement with one change notice naming the
 * last one's seq. The row lock the UPDATE takes orders concurrent appends, so seq stays gap-free.
 * Only workers append events: a busy or unreachable database is waited for (database-retry.ts)
 * rather than failing the run. A try that may have committed before its answer was lost is followed
 * by a look for the last row it wrote (same type, data and timestamp), so a retry never writes the
 * events twice.
 */
export async function appendEvents(
  deps: EventDeps,
  executionId: string,
  events: readonly PendingEvent[],
  usage?: Record<string, unknown>,
  alsoSet?: Prisma.Sql,
): Promise<AppendedEvents> {
  const last = events.at(-1);
  if (!last) throw new Error('appendEvents: no event to append');
  // Timestamps are stored as UTC wall time, as Prisma writes them (not the session's time zone).
  const now = new Date().toISOString();
  // A usage report's budgets are checked next (run-execution.ts): what they need comes back with it.
  const budgetColumns = usage
    ? Prisma.sql`, t.project_id::text AS "projectId", p.settings AS "projectSettings",
                 bumped.user_id AS "userId", u.budget_usd_month AS "userBudget"`
    : Prisma.empty;
  const budgetJoins = usage
    ? Prisma.sql`JOIN tasks t ON t.id = bumped.task_id JOIN projects p ON p.id = t.project_id
                 JOIN users u ON u.id = bumped.user_id`
    : Prisma.empty;
  // Reported now, or in a report that waited for this write.
  const usageJson = usage ? JSON.stringify(usage) : (carriedUsage(events) ?? null);
  // The notice says so: a kept session-contract poll answer shows the usage (read-cache.ts).
  const usageFlag = usageJson ? Prisma.sql`, 'usage', true` : Prisma.empty;
  const route = noticeRoute(deps);
  const notify =
    route === 'statement'
      ? Prisma.sql`,
           pg_notify(${CHANNELS.execution},
             json_build_object('executionId', ${executionId}::text, 'taskId', task_id::text,
                               'seq', event_seq, 'state', state::text, 'at', ${now}::text${usageFlag})::text)::text AS notified`
      : Prisma.empty;
  // A try that lost its connection after sending may have committed: the next one looks first.
  let mayHaveWritten = false;
  const rows = await retryWhileDatabaseUnavailable(
    async () => {
      if (mayHaveWritten) {
        const written = await sqlOf(deps.prisma).query<AppendedRow>(Prisma.sql`
          SELECT ev.seq, e.task_id::text AS "taskId", e.state::text AS state,
                 e.cancel_requested_at IS NOT NULL AS "cancelRequested"
            FROM execution_events ev JOIN executions e ON e.id = ev.execution_id
           WHERE ev.execution_id = ${executionId}::uuid AND ev.type = ${last.type}
             AND ev.created_at = ${last.at}::timestamptz AT TIME ZONE 'UTC' AND ev.data = ${last.data}::jsonb
           ORDER BY ev.seq DESC LIMIT 1`);
        if (written.length > 0) return written;
      }
      return sqlOf(deps.prisma).query<AppendedRow>(Prisma.sql`
    WITH bumped AS (
      UPDATE executions
      SET event_seq = event_seq + ${events.length}::int,
          usage = COALESCE(${usageJson}::jsonb, usage),
          updated_at = ${now}::timestamptz AT TIME ZONE 'UTC'${alsoSet ? Prisma.sql`, ${alsoSet}` : Prisma.empty}
      WHERE id = ${executionId}::uuid
      RETURNING event_seq, task_id, state, cancel_requested_at, user_id),
    added AS (${insertEvents(executionId, events, Prisma.sql`bumped`, Prisma.sql`bumped.event_seq`)})
    SELECT event_seq AS seq, task_id::text AS "taskId", state::text AS state,
           cancel_requested_at IS NOT NULL AS "cancelRequested"${notify}
           ${budgetColumns}
    FROM bumped ${budgetJoins}`);
    },
    {
      onRetry: (err) => {
        mayHaveWritten ||= mayHaveCommitted(err);
      },
    },
  );
  const row = rows[0];
  if (!row) throw new NotFound(`execution ${executionId} not found`);
  if (route !== 'statement') {
    const change = { executionId, taskId: row.taskId, seq: row.seq, state: row.state };
    // As the statement's own notice would say (read-cache.ts reads `at` and `usage`).
    noticeAfter(route, { ...change, at: now, ...(usageJson ? { usage: true } : {}) });
  }
  return {
    executionId,
    seq: row.seq,
    taskId: row.taskId,
    state: row.state,
    cancelRequested: row.cancelRequested,
    ...(row.projectId !== undefined && row.userId !== undefined
      ? {
          budget: {
            projectId: row.projectId,
            projectSettings: row.projectSettings ?? null,
            userId: row.userId,
            userBudget: row.userBudget ?? null,
          },
        }
      : {}),
  };
}

/** Tells live listeners (SSE, caches) after the commit. A lost notification only delays them: the rows are the truth. */
export async function publishChange(deps: CoreDeps, change: ExecutionChange): Promise<void> {
  try {
    await deps.bus.publish(CHANNELS.execution, JSON.stringify(change));
  } catch (err) {
    deps.log.warn({ err, executionId: change.executionId }, 'could not publish execution change');
  }
}

/**
 * A card changed without any of its runs changing (edited, moved, assigned, claimed, created
 * without a run): boards re-read it. Like publishChange, a failure is logged, never thrown.
 */
export async function publishTaskChange(deps: CoreDeps, taskId: string): Promise<void> {
  try {
    await deps.bus.publish(CHANNELS.task, JSON.stringify({ taskId }));
  } catch (err) {
    deps.log.warn({ err, taskId }, 'could not publish task change');
  }
}

/**
 * Performs one transition in its own transaction; its notice goes out with the commit. A busy or
 * unreachable database is tried again for up to `retryMs` (a minute by default: a run's moves wait
 * rather than fail the run); a request passes 0 and answers 503 at once instead.
 */
export async function transitionAndPublish(
  deps: CoreDeps,
  ctx: RequestCtx,
  executionId: string,
  to: ExecutionState,
  patch?: TransitionPatch,
  { retryMs }: Pick<DatabaseRetryOptions, 'retryMs'> = {},
): Promise<ExecutionChange> {
  const change = await retryWhileDatabaseUnavailable(
    async (tryNumber) => {
      try {
        // One statement on its own (no BEGIN or COMMIT), raw on Prisma's pool (raw-sql.ts): a run
        // makes several moves, and each round trip costs the worker CPU.
        // A move after which the run may write nothing for long notifies with its commit (NoticeRoute).
        const route: NoticeRoute = isTerminal(to) || to === 'WAITING' ? 'statement' : deps;
        if (route === 'statement') await noticesSent(deps.bus);
        const { sql, changeOf } = transitionStatement(deps, ctx, executionId, to, patch ?? {}, route);
        const change = changeOf(await withChainReady(deps, () => sqlOf(deps.prisma).query<MovedRow>(sql)));
        headMoved(deps);
        return change;
      } catch (err) {
        // A connection lost while committing leaves the outcome unknown: the next try may find it made.
        if (tryNumber > 1 && err instanceof InvalidState) {
          const made = await madeAlready(deps, executionId, to);
          if (made) {
            // A notice that goes with the commit went with it; one meant to follow it never left.
            const after = noticeRoute(deps);
            if (!isTerminal(to) && to !== 'WAITING' && after !== 'statement') noticeAfter(after, made);
            return made;
          }
        }
        throw err;
      }
    },
    {
      retryMs,
      onRetry: (err, tryNumber) => {
        if (tryNumber === 1)
          deps.log.warn(
            { executionId, to, err: err.message },
            'the database is busy or away: the transition waits',
          );
      },
    },
  );
  return change;
}

async function madeAlready(
  deps: CoreDeps,
  executionId: string,
  to: ExecutionState,
): Promise<ExecutionChange | null> {
  const row = await deps.prisma.execution.findUnique({
    where: { id: executionId },
    select: { state: true, taskId: true, eventSeq: true },
  });
  return row?.state === to ? { executionId, taskId: row.taskId, seq: row.eventSeq, state: to } : null;
}

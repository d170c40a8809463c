import { Prisma, sqlOf } from '@ccl/db';
import { withChainReady } from './audit.ts';
import { budgetReached, projectBudgetOf } from './budgets.ts';
import type { RequestCtx } from './context.ts';
import { CHANNELS, type CoreDeps, type ExecutionChange, type Tx } from './deps.ts';
import {
  noticeAfter,
  noticeRoute,
  type RunRead,
  readRunStarting,
  type TransitionPatch,
  transitionExecution,
} from './execution-store.ts';
import type { MarkChange } from './run-pickup.ts';

/** The settings this module reads (the project's JSON, validated when written). */
interface ProjectSettings {
  max_concurrent?: number;
}

/**
 * Sharing the workers between projects, with PostgreSQL as the only arbiter (BullMQ has no groups,
 * and several workers decide at once):
 *
 * - **Order.** Each queued run gets a rank, BullMQ's job priority: one past the last rank its project
 *   has waiting, but never below the lowest rank waiting anywhere. A project that queues 500 runs
 *   takes ranks r … r+499; another project's single run then gets rank r and is next, behind at
 *   most the run of rank r already there. Urgent and high cards run next.
 * - **Concurrency.** A run starts (PENDING → PLANNING) only in a transaction that holds its
 *   project's advisory lock and counts the project's runs holding slots, under the project's
 *   `settings.max_concurrent` or `PROJECT_MAX_CONCURRENCY`. A run over the limit stays PENDING with
 *   `held_reason` set, its job parked; a run of that project that ends or parks wakes the next.
 * - **Budgets.** A run whose project or submitter has used up its monthly budget (budgets.ts) is
 *   held the same way; raising the budget wakes it (updateProject, updateUserAccount).
 */

/** BullMQ's highest priority number (lowest priority). */
const MAX_RANK = 2 ** 21;

/** Runs that hold (or are about to take back) a worker slot: parked approvals do not. */
const BUSY = `(e.state IN ('PLANNING', 'RUNNING') OR (e.state = 'WAITING' AND e.checkpoint IS NULL))`;

/**
 * A run's rank as two CTEs of the caller's statement, `rank_me` then `rank_bumped`; `QUEUE_RANK` is
 * then the rank. `source` is a query giving the run's `project_id` and whether it goes `first`.
 *
 * The floor is the lowest rank waiting anywhere (held runs aside, which keep theirs while they
 * wait), or, with nothing waiting, the highest rank given so far: it only moves up, like a virtual
 * clock. A project's run gets one past its project's last rank, but never below the floor, so a
 * project with a backlog keeps its order and a project without one is next. An urgent or high card
 * runs next: just before the floor. The project's row update orders runs submitted to one project
 * at once (each gets its own rank: a waiting update re-reads the row it waited for), and every read
 * stays on an index whatever the backlog.
 */
export const rankCtes = (source: Prisma.Sql) => Prisma.sql`
    rank_me AS (
      SELECT s.project_id, s.first,
             GREATEST(1, COALESCE(
               (SELECT min(queue_rank) FROM executions WHERE state = 'PENDING' AND held_reason IS NULL),
               (SELECT max(last_queue_rank) FROM projects), 1)) AS floor
      FROM (${source}) AS s),
    rank_bumped AS (
      UPDATE projects p
      SET last_queue_rank = LEAST(${MAX_RANK}::int, GREATEST(p.last_queue_rank + 1, rank_me.floor))
      FROM rank_me WHERE p.id = rank_me.project_id AND NOT rank_me.first
      RETURNING p.last_queue_rank AS rank)`;

/** The rank rankCtes gave (an SQL expression). */
export const QUEUE_RANK = Prisma.sql`(SELECT CASE WHEN first THEN GREATEST(1, floor - 1)
  ELSE COALESCE((SELECT rank FROM rank_bumped), floor) END FROM rank_me)`;

/**
 * The rank of a run about to be queued (rankCtes), stored on the execution, given to the queue as
 * priority, for a run written without one (a card's run is ranked as it is written: card-insert.ts).
 * The new run's change notice (PENDING) goes out once the rank is stored.
 */
export async function assignQueueRank(
  deps: Pick<CoreDeps, 'prisma'> & Partial<Pick<CoreDeps, 'bus' | 'log'>>,
  executionId: string,
): Promise<{ rank: number; updatedAt: Date }> {
  const updatedAt = new Date();
  const now = updatedAt.toISOString();
  const route = noticeRoute(deps);
  // Raw (raw-sql.ts): every run started on a card ranks its run.
  const rows = await sqlOf(deps.prisma).query<{ rank: number; taskId: string }>(Prisma.sql`
    WITH ${rankCtes(Prisma.sql`
      SELECT t.project_id, t.priority::text IN ('urgent', 'high') AS first
      FROM executions e JOIN tasks t ON t.id = e.task_id WHERE e.id = ${executionId}::uuid`)},
    ranked AS (
      UPDATE executions e SET queue_rank = ${QUEUE_RANK}, updated_at = ${now}::timestamptz AT TIME ZONE 'UTC'
      WHERE e.id = ${executionId}::uuid
      RETURNING e.queue_rank, e.task_id)
    SELECT queue_rank AS rank, task_id::text AS "taskId"${
      route === 'statement'
        ? Prisma.sql`, pg_notify(${CHANNELS.execution}, json_build_object('executionId', ${executionId}::text,
            'taskId', task_id::text, 'seq', 0, 'state', 'PENDING')::text)::text AS notified`
        : Prisma.empty
    }
    FROM ranked`);
  const row = rows[0];
  if (row === undefined) throw new Error(`execution ${executionId} not found`);
  if (route !== 'statement')
    noticeAfter(route, { executionId, taskId: row.taskId, seq: 0, state: 'PENDING' });
  return { rank: row.rank, updatedAt };
}

/** `limit`: the project's concurrency limit (0: none, so a run that ends frees no slot anyone waits for). */
export type Admission =
  | { admitted: true; projectId: string; limit: number; change: ExecutionChange }
  | { admitted: false; projectId: string; limit: number; reason: string };

interface ProjectRow {
  project_id: string;
  settings: ProjectSettings | null;
  /** The run's own current hold, if any. */
  held_reason: string | null;
  /** The attempt recorded on the run. */
  attempts: number;
  /** Who submitted the run: their monthly budget counts too. */
  user_id: string;
  user_budget: number | null;
}

/** The per-project limit: the project's own, else the server's; 0 means none. */
function concurrencyLimit(deps: Pick<CoreDeps, 'config'>, settings: ProjectSettings | null): number {
  return settings?.max_concurrent ?? deps.config.PROJECT_MAX_CONCURRENCY;
}

async function projectOf(tx: Pick<Tx, '$queryRaw'>, executionId: string): Promise<ProjectRow> {
  const rows = await tx.$queryRaw<ProjectRow[]>`
    SELECT t.project_id::text AS project_id, p.settings, e.held_reason, e.attempts, e.user_id,
           u.budget_usd_month AS user_budget
    FROM executions e JOIN tasks t ON t.id = e.task_id JOIN projects p ON p.id = t.project_id
      JOIN users u ON u.id = e.user_id
    WHERE e.id = ${executionId}::uuid`;
  const row = rows[0];
  if (!row) throw new Error(`execution ${executionId} not found`);
  return row;
}

/** Statements each on its own (autocommit), raw on Prisma's pool, through a transaction's interface. */
function statementsOf(deps: Pick<CoreDeps, 'prisma'>): Pick<Tx, '$queryRaw'> {
  const sql = sqlOf(deps.prisma);
  return {
    $queryRaw: ((query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]) =>
      sql.query(query instanceof Prisma.Sql ? query : Prisma.sql(query, ...values))) as Tx['$queryRaw'],
  };
}

/** One statement: a transaction's client under the project's lock, or the plain client for a look. */
async function busyRuns(db: Pick<Tx, '$queryRawUnsafe'>, projectId: string): Promise<number> {
  const rows = await db.$queryRawUnsafe<Array<{ n: number }>>(
    `SELECT count(*)::int AS n FROM executions e JOIN tasks t ON t.id = e.task_id
     WHERE t.project_id = $1::uuid AND ${BUSY}`,
    projectId,
  );
  return rows[0]?.n ?? 0;
}

/**
 * Why the run may not start now, or null. A project with a concurrency limit is locked for the rest
 * of the transaction before its busy runs are counted, so that workers deciding at once never
 * exceed it; without a limit there is nothing to count, and nothing to lock. (Budgets need no lock:
 * a run that starts just past one is stopped at its first model call.)
 */
async function holdReason(deps: CoreDeps, tx: Tx, project: ProjectRow): Promise<string | null> {
  // The budget first: of two reasons it is the one that lasts.
  const budget = await budgetReached(tx, {
    projectId: project.project_id,
    projectSettings: project.settings,
    userId: project.user_id,
    userBudget: project.user_budget,
  });
  if (budget) return budget.held;
  const limit = concurrencyLimit(deps, project.settings);
  if (limit > 0) {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`project-slots:${project.project_id}`}))`;
    const busy = await busyRuns(tx, project.project_id);
    if (busy >= limit) return `project concurrency limit reached (${busy} of ${limit} running)`;
  }
  return null;
}

/**
 * Starts a PENDING run (→ PLANNING) if its project has room, in one transaction under the project's
 * lock, so that workers deciding at once never exceed the limit. Otherwise records why it waits.
 */
export async function admitExecution(
  deps: CoreDeps,
  ctx: RequestCtx,
  executionId: string,
  /** The job's attempt, recorded on the run either way. */
  attempts: number,
  /** The run as its worker read it for this job (execution-store.ts readRun): not read again. */
  read?: RunRead,
  /** The pickup's mark (run-pickup.ts), set with the move when the run starts; done() once it committed. */
  mark?: MarkChange,
): Promise<Admission> {
  // Raw, on Prisma's pool (raw-sql.ts): every run is admitted once, and Prisma's interactive
  // transaction costs the worker several times the CPU of these few statements.
  const admission = await withChainReady(deps, () =>
    admit(deps, ctx, executionId, { attempts, ...(mark ? { alsoSet: mark.set } : {}) }, read),
  );
  if (admission.admitted) mark?.done();
  return admission;
}

/** A run readAndStart moved to PLANNING, and whether the pickup's mark went with the move. */
export interface StartedRun {
  change: ExecutionChange;
  projectId: string;
  /** The mark's time when it went with the move (a run with nothing to fetch), else null. */
  markedAt: Date | null;
}

/**
 * The worker's read of the run it takes (execution-store.ts readRun), which also starts it in the
 * same statement when there is nothing to weigh or to do first: the run is PENDING, no cancel was
 * asked for, no earlier holder's mark is left (a worker loss to count), it has working time and
 * losses left (run-pickup.ts), a runner of its agent is here, and neither a concurrency limit nor a
 * budget of its project or submitter applies (admit's own fast path). The move carries the job's
 * attempt and, for a run without a repository or a GitHub checkout, the pickup's mark, as admit
 * would. Otherwise nothing moves, and the run goes the usual way from the row read here.
 */
export async function readAndStart(
  deps: CoreDeps,
  ctx: RequestCtx,
  executionId: string,
  attempt: number,
): Promise<{ read: RunRead | null; started: StartedRun | null }> {
  // Probed once per PROBE_TTL_MS: a worker-only process probes at its first job, as the run would.
  await deps.agents.refresh();
  const runners = deps.agents.knownTypes().filter((type) => deps.agents.get(type)?.runner);
  const { config } = deps;
  // concurrencyLimit(settings) is 0: the project's own max_concurrent is 0, or it has none and the server's is 0.
  const noLimit =
    config.PROJECT_MAX_CONCURRENCY === 0
      ? Prisma.sql`COALESCE(cur.run_project_settings->'max_concurrent', 'null'::jsonb) IN ('null'::jsonb, '0'::jsonb)`
      : Prisma.sql`cur.run_project_settings->'max_concurrent' = '0'::jsonb`;
  const guard = Prisma.sql`cur.cancel_requested_at IS NULL AND cur.picked_up_at IS NULL
    AND cur.held_reason IS NULL
    AND cur.worker_losses < ${config.EXECUTION_MAX_WORKER_LOSSES}::int
    AND cur.worked_ms < ${config.EXECUTION_TIMEOUT_S * 1000}::bigint
    AND cur.agent_type = ANY(${runners}::text[])
    AND cur.run_project_id IS NOT NULL AND ${noLimit}
    AND NOT (cur.run_project_settings ? 'budget_usd_month') AND cur.run_user_budget IS NULL`;
  const markedAt = new Date();
  // As admit's mark (run-execution.ts): only a run whose workspace needs no fetch is marked as it starts.
  const mark = Prisma.sql`picked_up_at = CASE WHEN cur.context ? 'repo' OR cur.context ? 'github' THEN NULL
    ELSE ${markedAt.toISOString()}::timestamptz AT TIME ZONE 'UTC' END`;
  const { read, started } = await readRunStarting(
    deps,
    ctx,
    executionId,
    { attempts: attempt, alsoSet: mark },
    guard,
  );
  // The guard asked for a project: a run without one never starts here.
  if (!read?.project || !started) return { read, started: null };
  const context = (read.execution.context ?? {}) as Record<string, unknown>;
  const marked = !('repo' in context) && !('github' in context);
  return {
    read,
    started: { change: started, projectId: read.project.projectId, markedAt: marked ? markedAt : null },
  };
}

/** The worker's read of the run, as admission weighs it. */
function projectRowOf(read: RunRead | undefined): ProjectRow | undefined {
  if (!read?.project) return undefined;
  const { execution, project } = read;
  return {
    project_id: project.projectId,
    settings: project.settings as ProjectSettings | null,
    held_reason: execution.heldReason,
    attempts: execution.attempts,
    user_id: execution.userId,
    user_budget: project.userBudget,
  };
}

async function admit(
  deps: CoreDeps,
  ctx: RequestCtx,
  executionId: string,
  /** The move's patch: the job's attempt, and the pickup's mark when given. */
  start: Pick<TransitionPatch, 'attempts' | 'alsoSet'> & { attempts: number },
  read: RunRead | undefined,
): Promise<Admission> {
  const { attempts } = start;
  // A project without a limit, and no budget on it or its submitter: nothing to count or lock, so
  // the move goes alone, one statement after the read, instead of a transaction of three round trips.
  const unlocked = statementsOf(deps);
  const project = projectRowOf(read) ?? (await projectOf(unlocked, executionId));
  const limit = concurrencyLimit(deps, project.settings);
  if (
    limit === 0 &&
    project.held_reason === null &&
    project.user_budget === null &&
    projectBudgetOf(project.settings) === null
  ) {
    const change = await transitionExecution(
      deps,
      unlocked,
      ctx,
      executionId,
      'PLANNING',
      start,
      noticeRoute(deps),
    );
    return { admitted: true, projectId: project.project_id, limit, change };
  }
  // Otherwise the read above serves the transaction too: it came before the project's lock there as well.
  return sqlOf(deps.prisma).transaction(async (sqlTx): Promise<Admission> => {
    const tx = sqlTx as unknown as Tx;
    const reason = await holdReason(deps, tx, project);
    // Timestamps as Prisma writes them: UTC wall time, whatever the session's time zone.
    const now = Prisma.sql`${new Date().toISOString()}::timestamptz AT TIME ZONE 'UTC'`;
    if (reason) {
      if (project.held_reason !== reason) {
        // Readers of the run (board, CoderClaw) see why it has not started.
        await tx.$executeRaw`
          WITH bumped AS (
            UPDATE executions SET held_reason = ${reason}, attempts = ${attempts}::int,
                                  event_seq = event_seq + 1, updated_at = ${now}
            WHERE id = ${executionId}::uuid RETURNING event_seq)
          INSERT INTO execution_events (execution_id, seq, type, data, created_at)
          SELECT ${executionId}::uuid, event_seq, 'held', ${JSON.stringify({ reason })}::jsonb, ${now}
          FROM bumped`;
      } else if (project.attempts !== attempts) {
        await tx.$executeRaw`
          UPDATE executions SET attempts = ${attempts}::int, updated_at = ${now} WHERE id = ${executionId}::uuid`;
      }
      return {
        admitted: false,
        projectId: project.project_id,
        limit: concurrencyLimit(deps, project.settings),
        reason,
      };
    }
    if (project.held_reason !== null)
      await tx.$executeRaw`
        UPDATE executions SET held_reason = NULL, updated_at = ${now} WHERE id = ${executionId}::uuid`;
    const change = await transitionExecution(deps, tx, ctx, executionId, 'PLANNING', start);
    return {
      admitted: true,
      projectId: project.project_id,
      limit: concurrencyLimit(deps, project.settings),
      change,
    };
  });
}

/** True while the held run would still be refused (asked after parking it, to close the race). */
export async function stillHeld(deps: CoreDeps, executionId: string): Promise<boolean> {
  return deps.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<Array<{ state: string }>>`
      SELECT state::text AS state FROM executions WHERE id = ${executionId}::uuid`;
    if (rows[0]?.state !== 'PENDING') return false;
    const project = await projectOf(tx, executionId);
    return (await holdReason(deps, tx, project)) !== null;
  });
}

/**
 * Wakes the project's held runs, lowest rank first, as many as it has room for (all of them when
 * it has no limit: a budget or a limit was raised). Called when one of its runs ends or parks
 * (only in a project with a limit: a run's end frees no slot anyone else waits for) and when its
 * settings or a budget change; a held run's parked job also wakes by itself after a while.
 */
export async function wakeHeld(
  deps: Pick<CoreDeps, 'prisma' | 'config' | 'queue'>,
  projectId: string,
): Promise<number> {
  const project = await deps.prisma.project.findUnique({
    where: { id: projectId },
    select: { settings: true },
  });
  if (!project) return 0;
  const limit = concurrencyLimit(deps, project.settings as ProjectSettings | null);
  let room = Number.POSITIVE_INFINITY;
  if (limit > 0) {
    const busy = await busyRuns(deps.prisma, projectId);
    room = limit - busy;
  }
  if (room <= 0) return 0;
  const held = await deps.prisma.execution.findMany({
    where: { state: 'PENDING', heldReason: { not: null }, task: { projectId } },
    select: { id: true },
    orderBy: [{ queueRank: 'asc' }, { createdAt: 'asc' }],
    ...(Number.isFinite(room) ? { take: room } : { take: 1000 }),
  });
  let woken = 0;
  for (const { id } of held) if (await deps.queue.wake(id)) woken += 1;
  return woken;
}

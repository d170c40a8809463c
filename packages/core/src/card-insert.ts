import { randomUUID } from 'node:crypto';
import { camelRow, type Execution, jsonb, Prisma, sqlOf, type Task } from '@ccl/db';
import { QUEUE_RANK, rankCtes } from './admission.ts';
import { type AuditEntry, chainedAudit, withChainReady } from './audit.ts';
import { headMoved } from './audit-head-signer.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps, Tx } from './deps.ts';
import { createImplicitProject } from './projects.ts';

/** A card as submitted, in the project named by its slug (made on first use, as ensureProject does). */
export interface NewCard {
  projectSlug: string;
  title: string;
  description: string;
  column: string;
  assigneeId: string | null;
  priority?: Task['priority'] | undefined;
  agentType?: string | undefined;
  context?: unknown;
}

/** A run to start with it: prepareExecution's answer, plus where GitHub asked for it. */
export interface NewRun {
  requestedAgent: string;
  agentType: string;
  skill: string | null;
  prompt: string;
  context: unknown;
  userId: string;
  sessionId: string | null;
  github?: unknown;
}

interface InsertedRow {
  task: Record<string, unknown>;
  execution: Record<string, unknown> | null;
  projectNumber: number;
}

/** A row of `to_jsonb` as Prisma reads the table: its `…_at` timestamps, UTC wall time in jsonb, as Dates. */
function fromJsonRow<T>(row: Record<string, unknown>): T {
  const dated = Object.entries(row).map(([column, value]) => [
    column,
    column.endsWith('_at') && typeof value === 'string' ? new Date(`${value}Z`) : value,
  ]);
  return camelRow<T>(Object.fromEntries(dated));
}

/**
 * Writes a card, its run when there is one (ranked for the queue), and the audit row `audit`
 * describes, in one statement on its own: it finds the project, inserts both rows and chains the
 * audit row (audit.ts chainedAudit), in the order every audited write of a card locks: the
 * project's row (the rank), the card's rows, then the head.
 * Submitting is every run's first step; Prisma's interactive transaction of seven statements cost
 * several times the CPU (raw-sql.ts). A project not made yet is made first, with its own audit
 * row, in one transaction with the card.
 */
export async function insertCard(
  deps: Pick<CoreDeps, 'prisma' | 'audit'> & Partial<Pick<CoreDeps, 'log'>>,
  ctx: RequestCtx,
  card: NewCard,
  run: NewRun | null,
  audit: (ids: { taskId: string; executionId: string | null }) => AuditEntry,
): Promise<{ task: Task; execution: Execution | null; projectNumber: number }> {
  // Stored as Prisma stores them: UTC wall time. The ids are made here, for the audit row to name.
  const now = Prisma.sql`${new Date().toISOString()}::timestamptz AT TIME ZONE 'UTC'`;
  const taskId = randomUUID();
  const executionId = run ? randomUUID() : null;
  // A run is ranked for the queue as it is written (admission.ts rankCtes), one commit fewer.
  const first = card.priority === 'urgent' || card.priority === 'high';
  const ranking = run
    ? Prisma.sql`${rankCtes(Prisma.sql`SELECT p.id AS project_id, ${first}::boolean AS first FROM p`)},`
    : Prisma.empty;
  const statement = Prisma.sql`
    WITH p AS (SELECT id, number FROM projects WHERE slug = ${card.projectSlug}),
    ${ranking}
    t AS (
      INSERT INTO tasks (id, project_id, title, description, "column", creator_id, assignee_id, priority,
                         agent_type, context, created_at, updated_at)
      SELECT ${taskId}::uuid, p.id, ${card.title}, ${card.description}, ${card.column}, ${ctx.actor.userId},
             ${card.assigneeId}, COALESCE(${card.priority ?? null}::"TaskPriority", 'medium'),
             ${card.agentType ?? null}, ${jsonb(card.context)}, ${now}, ${now}
      FROM p
      RETURNING *),
    e AS (
      INSERT INTO executions (id, task_id, requested_agent, agent_type, skill, prompt, context, user_id,
                              session_id, github, queue_rank, created_at, updated_at)
      SELECT ${executionId}::uuid, t.id, ${run?.requestedAgent ?? null}, ${run?.agentType ?? null},
             ${run?.skill ?? null}, ${run?.prompt ?? null}, ${jsonb(run?.context ?? {})},
             ${run?.userId ?? null}, ${run?.sessionId ?? null}::uuid, ${jsonb(run?.github)},
             ${run ? QUEUE_RANK : Prisma.sql`NULL::int`}, ${now}, ${now}
      FROM t WHERE ${run !== null}
      RETURNING *),
    ${chainedAudit(deps, ctx, Prisma.sql`EXISTS (SELECT 1 FROM t) AND (SELECT count(*) FROM e) >= 0`, [
      { key: 'card', entry: audit({ taskId, executionId }) },
    ])}
    SELECT to_jsonb(t) AS task, to_jsonb(e) AS execution, (SELECT number FROM p) AS "projectNumber"
    FROM t LEFT JOIN e ON true`;
  const written = await withChainReady(deps, async () => {
    const rows = await sqlOf(deps.prisma).query<InsertedRow>(statement);
    if (rows.length > 0) return rows;
    // No such project yet: made now (concurrent first submits agree on one), then the card.
    return sqlOf(deps.prisma).transaction(async (sqlTx) => {
      const tx = sqlTx as unknown as Tx;
      await createImplicitProject(deps, tx, ctx, card.projectSlug);
      return tx.$queryRaw<InsertedRow[]>(statement);
    });
  });
  const row = written[0];
  if (!row) throw new Error(`project '${card.projectSlug}' could not be made`);
  headMoved(deps);
  return {
    task: fromJsonRow<Task>(row.task),
    execution: row.execution ? fromJsonRow<Execution>(row.execution) : null,
    projectNumber: row.projectNumber,
  };
}

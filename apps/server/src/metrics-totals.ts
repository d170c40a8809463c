import { Prisma, type PrismaClient } from '@ccl/db';

/**
 * Runs that ended this long ago are folded into the totals for good. An end's time is set as its
 * statement is built, so one that commits later than this after would be missed: none takes that long.
 */
export const SETTLED_MS = 5 * 60_000;
/** A snapshot serves the scrapes (and the collectors of one scrape) within this much time. */
const REUSE_MS = 1_000;

/** Runs of one state, agent and project, and the tokens and cost they reported. */
export interface RunGroup {
  state: string;
  agent: string;
  projectId: string;
  runs: number;
  input: number;
  output: number;
  cost: number;
}

export interface RunTotals {
  groups: RunGroup[];
  /** Project ids to slugs, read at the snapshot (a renamed project's totals follow its new slug). */
  slugs: Map<string, string>;
  /** Reconciler repairs (its ALLOWED rows in the audit log) since the chain began, as counted here. */
  reconcilerActions: number;
}

const GROUP_COLUMNS = Prisma.sql`
  e.state::text AS state, e.agent_type AS agent, t.project_id::text AS "projectId",
  count(*)::int AS runs,
  COALESCE(SUM((e.usage->>'input_tokens')::float8), 0) AS input,
  COALESCE(SUM((e.usage->>'output_tokens')::float8), 0) AS output,
  COALESCE(SUM((e.usage->>'cost_usd')::float8), 0) AS cost`;

const utc = (at: Date) => Prisma.sql`${at.toISOString()}::timestamptz AT TIME ZONE 'UTC'`;
const keyOf = (g: Pick<RunGroup, 'state' | 'agent' | 'projectId'>) =>
  `${g.state}\u0000${g.agent}\u0000${g.projectId}`;

/**
 * Adds `groups` into `into` by `key`: runs, tokens and cost summed, the other fields of the first
 * group of a key kept. Returns `into`.
 */
export function sumBy(
  groups: Iterable<RunGroup>,
  key: (g: RunGroup) => string,
  into = new Map<string, RunGroup>(),
): Map<string, RunGroup> {
  for (const g of groups) {
    const had = into.get(key(g));
    into.set(key(g), had ? add(had, g) : { ...g });
  }
  return into;
}

/**
 * The deployment's runs, tokens, cost and reconciler repairs for `/metrics`, without reading the
 * whole history at every scrape. A finished run never changes again (state-machine.ts), so runs
 * that ended before a horizon (SETTLED_MS ago) are summed once, into totals kept here, and each
 * scrape sums only those ended since the last one (on the index over `finished_at`); runs still
 * going and those ended within the horizon are read afresh each time (on the index over `state`
 * and the same one). Audit rows are append-only with a gap-free seq, so the reconciler's are
 * counted from where the last scrape stopped. Runs are never deleted (only a project's deletion
 * would take them, and the totals then keep them).
 */
export class RunTotalsReader {
  private readonly folded = new Map<string, RunGroup>();
  /** Runs that ended before this are in `folded` (null: none read yet). */
  private foldedUntil: Date | null = null;
  private auditSeq = 0n;
  private reconciler = 0;
  private pending: Promise<RunTotals> | null = null;
  private last: { at: number; totals: RunTotals } | null = null;

  constructor(
    private readonly db: PrismaClient,
    private readonly settledMs = SETTLED_MS,
  ) {}

  /** The totals now; one read serves concurrent callers and those within REUSE_MS. */
  read(): Promise<RunTotals> {
    // Timed on the monotonic clock: a wall clock set back must not keep a snapshot for as long.
    if (this.last && performance.now() - this.last.at < REUSE_MS) return Promise.resolve(this.last.totals);
    this.pending ??= this.snapshot().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  private async snapshot(): Promise<RunTotals> {
    // Never back: with a wall clock set back, the runs between would be counted twice.
    const horizon = Date.now() - this.settledMs;
    const until = new Date(Math.max(horizon, this.foldedUntil?.getTime() ?? horizon));
    await this.fold(until);
    const [live, slugs] = await Promise.all([
      this.db.$queryRaw<RunGroup[]>(Prisma.sql`
        SELECT ${GROUP_COLUMNS}
        FROM executions e JOIN tasks t ON t.id = e.task_id
        WHERE e.state IN ('PENDING', 'PLANNING', 'RUNNING', 'WAITING') OR e.finished_at >= ${utc(until)}
        GROUP BY 1, 2, 3`),
      this.db.project.findMany({ select: { id: true, slug: true } }),
      this.countReconciler(),
    ]);
    const totals = {
      groups: [...sumBy(live, keyOf, new Map(this.folded)).values()],
      slugs: new Map(slugs.map((p) => [p.id, p.slug])),
      reconcilerActions: this.reconciler,
    };
    this.last = { at: performance.now(), totals };
    return totals;
  }

  /** Adds the runs that ended from the last horizon to `until`. */
  private async fold(until: Date): Promise<void> {
    const from = this.foldedUntil;
    if (from && until.getTime() <= from.getTime()) return;
    const rows = await this.db.$queryRaw<RunGroup[]>(Prisma.sql`
      SELECT ${GROUP_COLUMNS}
      FROM executions e JOIN tasks t ON t.id = e.task_id
      WHERE e.finished_at < ${utc(until)} ${from ? Prisma.sql`AND e.finished_at >= ${utc(from)}` : Prisma.empty}
      GROUP BY 1, 2, 3`);
    sumBy(rows, keyOf, this.folded);
    this.foldedUntil = until;
  }

  /**
   * Reconciler rows written since the last count, up to the chain's head: the head moves in the
   * statement (or transaction) that writes a row, so every row up to the seq read is committed.
   */
  private async countReconciler(): Promise<void> {
    const after = this.auditSeq;
    const [row] = await this.db.$queryRaw<Array<{ head: bigint; n: number }>>(Prisma.sql`
      WITH h AS (SELECT seq FROM audit_chain_head WHERE id = 1)
      SELECT (SELECT seq FROM h) AS head,
             (SELECT count(*) FROM audit_events
               WHERE seq > ${after} AND seq <= (SELECT seq FROM h)
                 AND request_id = 'reconciler' AND outcome = 'ALLOWED')::int AS n`);
    // A head behind the last count (reset behind the triggers' back, which verify reports) counts nothing.
    if (!row || row.head === null || row.head <= after) return;
    this.reconciler += row.n;
    this.auditSeq = row.head;
  }
}

const add = (a: RunGroup, b: RunGroup): RunGroup => ({
  ...a,
  runs: a.runs + b.runs,
  input: a.input + b.input,
  output: a.output + b.output,
  cost: a.cost + b.cost,
});

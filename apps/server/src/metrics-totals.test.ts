import { ensureBuiltins, makeAuditSigner, systemCtx, writeAudit } from '@ccl/core';
import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase, type TestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RunTotals, RunTotalsReader } from './metrics-totals.ts';

const MINUTE = 60_000;
/** Past the reader's reuse of a snapshot (one second). */
const nextScrape = () => new Promise((resolve) => setTimeout(resolve, 1_100));

describe('/metrics run totals', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let taskId: string;
  let otherTaskId: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 2 });
    await ensureBuiltins(prisma);
    await prisma.$executeRaw`INSERT INTO users (id, role_name) VALUES ('u', 'DEVELOPER')`;
    const [alpha, beta] = await Promise.all(
      ['alpha', 'beta'].map((slug) => prisma.project.create({ data: { slug, name: slug } })),
    );
    const task = (projectId: string) =>
      prisma.task.create({ data: { projectId, title: 't', creatorId: 'u' } });
    taskId = (await task(alpha?.id ?? '')).id;
    otherTaskId = (await task(beta?.id ?? '')).id;
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  /** A run in `state`, ended `endedAgo` ms ago (terminal states), with `cost` reported. */
  const run = async (state: string, agent: string, cost: number | null, endedAgo?: number, task = taskId) => {
    const usage = cost === null ? {} : { input_tokens: 10, output_tokens: 5, cost_usd: cost };
    const finished = endedAgo === undefined ? null : new Date(Date.now() - endedAgo).toISOString();
    const [row] = await prisma.$queryRaw<Array<{ id: string }>>`
      INSERT INTO executions (id, task_id, requested_agent, agent_type, prompt, state, usage, user_id,
                              finished_at, updated_at)
      VALUES (gen_random_uuid(), ${task}::uuid, ${agent}, ${agent}, 'p', ${state}::"ExecutionState", ${JSON.stringify(usage)}::jsonb,
              'u', ${finished}::timestamptz AT TIME ZONE 'UTC', now())
      RETURNING id::text AS id`;
    return row?.id ?? '';
  };
  const group = (totals: RunTotals, state: string, agent: string, slug = 'alpha') => {
    const projectId = [...totals.slugs].find(([, s]) => s === slug)?.[0];
    const g = totals.groups.find((x) => x.state === state && x.agent === agent && x.projectId === projectId);
    return g ? { runs: g.runs, cost: g.cost, input: g.input } : undefined;
  };

  it('counts each run once: settled ones from the totals kept, the others read afresh', async () => {
    // The reader folds runs that ended over 2 s ago, so the test can watch one settle.
    const reader = new RunTotalsReader(prisma, 2_000);
    const settled = await Promise.all([1, 2, 3].map((c) => run('COMPLETED', 'claude', c, 10 * MINUTE)));
    await run('FAILED', 'echo', null, 10 * MINUTE);
    await run('COMPLETED', 'claude', 0.25, 10 * MINUTE, otherTaskId);
    const going = await run('RUNNING', 'claude', 0.5);
    let totals = await reader.read();
    expect(group(totals, 'COMPLETED', 'claude')).toEqual({ runs: 3, cost: 6, input: 30 });
    expect(group(totals, 'COMPLETED', 'claude', 'beta')).toEqual({ runs: 1, cost: 0.25, input: 10 });
    expect(group(totals, 'FAILED', 'echo')).toEqual({ runs: 1, cost: 0, input: 0 });
    expect(group(totals, 'RUNNING', 'claude')).toEqual({ runs: 1, cost: 0.5, input: 10 });

    // Settled runs are not read again (a finished run never changes; written here behind the
    // state machine's back to show it), while a run still going is.
    await prisma.$executeRaw`UPDATE executions SET usage = '{"cost_usd": 100}' WHERE id = ANY(${settled}::uuid[])`;
    await prisma.$executeRaw`UPDATE executions SET usage = '{"cost_usd": 0.75}' WHERE id = ${going}::uuid`;
    await nextScrape();
    totals = await reader.read();
    expect(group(totals, 'COMPLETED', 'claude')?.cost).toBe(6);
    expect(group(totals, 'RUNNING', 'claude')?.cost).toBe(0.75);

    // It ends: counted at once, as completed, and once only as it settles into the totals.
    await prisma.$executeRaw`
      UPDATE executions SET state = 'COMPLETED', finished_at = now() AT TIME ZONE 'UTC' WHERE id = ${going}::uuid`;
    await nextScrape();
    totals = await reader.read();
    expect(group(totals, 'RUNNING', 'claude')).toBeUndefined();
    expect(group(totals, 'COMPLETED', 'claude')).toEqual({ runs: 4, cost: 6.75, input: 30 });
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    totals = await reader.read();
    expect(group(totals, 'COMPLETED', 'claude')).toEqual({ runs: 4, cost: 6.75, input: 30 });
    await prisma.$executeRaw`UPDATE executions SET usage = '{"cost_usd": 100}' WHERE id = ${going}::uuid`;
    await nextScrape();
    expect(group(await reader.read(), 'COMPLETED', 'claude')).toEqual({ runs: 4, cost: 6.75, input: 30 });
  });

  it('answers concurrent collectors with one read, and follows a renamed project', async () => {
    const reader = new RunTotalsReader(prisma, 2_000);
    const [a, b] = await Promise.all([reader.read(), reader.read()]);
    expect(a).toBe(b);
    await prisma.project.update({ where: { slug: 'beta' }, data: { slug: 'gamma' } });
    await nextScrape();
    const totals = await reader.read();
    expect(group(totals, 'COMPLETED', 'claude', 'gamma')?.runs).toBe(1);
  });

  it('counts nothing twice when the wall clock is set back', async () => {
    const reader = new RunTotalsReader(prisma, 2_000);
    await run('COMPLETED', 'clock', 1, 10 * MINUTE);
    const before = group(await reader.read(), 'COMPLETED', 'clock');
    expect(before).toEqual({ runs: 1, cost: 1, input: 10 });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() - 30 * MINUTE);
      await nextScrape();
      expect(group(await reader.read(), 'COMPLETED', 'clock')).toEqual(before);
      vi.setSystemTime(Date.now() + 30 * MINUTE);
      await nextScrape();
      expect(group(await reader.read(), 'COMPLETED', 'clock')).toEqual(before);
    } finally {
      vi.useRealTimers();
    }
  });

  it("counts the reconciler's repairs from where the last count stopped", async () => {
    const deps = { audit: makeAuditSigner('metrics-totals-test-key-0123456789abcdef') };
    const entry = (outcome: 'ALLOWED' | 'FAILED') => ({
      action: 'execution.transition',
      resourceType: 'execution',
      resourceId: 'x',
      outcome,
    });
    const write = (requestId: string, outcome: 'ALLOWED' | 'FAILED' = 'ALLOWED') =>
      prisma.$transaction((tx) => writeAudit(deps, tx, systemCtx(requestId), entry(outcome)));
    const reader = new RunTotalsReader(prisma, 2_000);
    await write('reconciler');
    await write('reconciler');
    await write('someone');
    expect((await reader.read()).reconcilerActions).toBe(2);
    await write('reconciler');
    await write('reconciler', 'FAILED');
    await write('other');
    await nextScrape();
    expect((await reader.read()).reconcilerActions).toBe(3);
  });
});

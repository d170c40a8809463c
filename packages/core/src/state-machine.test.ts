import { randomBytes } from 'node:crypto';
import { createAgentCatalog } from '@ccl/agents';
import { loadConfig } from '@ccl/config';
import { createPrisma, type ExecutionState, type PrismaClient } from '@ccl/db';
import { createEchoRun, createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAuditSigner } from './audit-chain.ts';
import { systemCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { InvalidState } from './errors.ts';
import { pendingEvent, transitionAndPublish, transitionExecution } from './execution-store.ts';
import { canTransition, TRANSITIONS } from './state-machine.ts';
import { ensureBuiltins } from './users.ts';

const ALL: ExecutionState[] = [
  'PENDING',
  'PLANNING',
  'RUNNING',
  'WAITING',
  'COMPLETED',
  'FAILED',
  'CANCELLED',
];
const LEGAL = new Set([
  'PENDING>PLANNING',
  'PENDING>FAILED',
  'PENDING>CANCELLED',
  'PLANNING>RUNNING',
  'PLANNING>FAILED',
  'PLANNING>CANCELLED',
  'RUNNING>WAITING',
  'RUNNING>COMPLETED',
  'RUNNING>FAILED',
  'RUNNING>CANCELLED',
  'WAITING>RUNNING',
  'WAITING>FAILED',
  'WAITING>CANCELLED',
]);

describe('execution state machine', () => {
  it('allows exactly the contract transitions; terminal states never change', () => {
    for (const from of ALL) {
      for (const to of ALL)
        expect(canTransition(from, to), `${from} → ${to}`).toBe(LEGAL.has(`${from}>${to}`));
    }
    for (const t of ['COMPLETED', 'FAILED', 'CANCELLED'] as const) expect(TRANSITIONS[t]).toEqual([]);
  });

  describe('guarded in the database', () => {
    let db: Awaited<ReturnType<typeof createTestDatabase>>;
    let prisma: PrismaClient;
    let deps: Pick<CoreDeps, 'prisma' | 'audit'>;

    beforeAll(async () => {
      db = await createTestDatabase();
      prisma = createPrisma(db.url, { max: 4 });
      await ensureBuiltins(prisma);
      deps = { prisma, audit: makeAuditSigner(randomBytes(32)) };
    });
    afterAll(async () => {
      await prisma?.$disconnect();
      await db?.drop();
    });

    const executionIn = (state: ExecutionState) =>
      createEchoRun(prisma, { project: 'sm', userId: 'local', title: 't', data: { state } });

    it.each([...LEGAL].map((pair) => pair.split('>') as [ExecutionState, ExecutionState]))(
      "%s → %s is stored with an event and (but for the agent's own PLANNING → RUNNING) an audit row",
      async (from, to) => {
        const exec = await executionIn(from);
        const change = await deps.prisma.$transaction((tx) =>
          transitionExecution(deps, tx, systemCtx(), exec.id, to),
        );
        expect(change).toMatchObject({ executionId: exec.id, state: to, seq: 1 });
        const row = await prisma.execution.findUniqueOrThrow({ where: { id: exec.id } });
        expect(row.state).toBe(to);
        expect(await prisma.executionEvent.count({ where: { executionId: exec.id, type: 'state' } })).toBe(1);
        expect(
          await prisma.auditEvent.count({ where: { resourceId: exec.id, action: 'execution.transition' } }),
        ).toBe(from === 'PLANNING' && to === 'RUNNING' ? 0 : 1);
      },
    );

    it('refuses every illegal transition and writes nothing', async () => {
      for (const from of ALL) {
        for (const to of ALL) {
          if (LEGAL.has(`${from}>${to}`)) continue;
          const exec = await executionIn(from);
          await expect(
            prisma.$transaction((tx) => transitionExecution(deps, tx, systemCtx(), exec.id, to)),
          ).rejects.toBeInstanceOf(InvalidState);
          expect((await prisma.execution.findUniqueOrThrow({ where: { id: exec.id } })).state).toBe(from);
          expect(await prisma.executionEvent.count({ where: { executionId: exec.id } })).toBe(0);
          expect(await prisma.auditEvent.count({ where: { resourceId: exec.id } })).toBe(0);
        }
      }
    });

    it("writes the run's waiting events just before the state event, in its statement; none when the move is refused", async () => {
      const exec = await executionIn('PLANNING');
      const at = (ms: number) => new Date(Date.UTC(2026, 11, 7, 10, 0, 0, ms)).toISOString();
      const waiting = (type: string, data: Record<string, unknown>, ms: number) => ({
        ...pendingEvent(type, data),
        at: at(ms),
      });
      await prisma.$transaction((tx) =>
        transitionExecution(deps, tx, systemCtx(), exec.id, 'RUNNING', {
          before: [
            waiting('status', { phase: 'planning' }, 1),
            waiting('message', { text: 'plan' }, 2),
            waiting('usage', { input_tokens: 5, output_tokens: 2, cost_usd: 0 }, 3),
          ],
        }),
      );
      const events = await prisma.executionEvent.findMany({
        where: { executionId: exec.id },
        orderBy: { seq: 'asc' },
      });
      expect(events.map((e) => [e.seq, e.type, e.data])).toEqual([
        [1, 'status', { phase: 'planning' }],
        [2, 'message', { text: 'plan' }],
        [3, 'usage', { input_tokens: 5, output_tokens: 2, cost_usd: 0 }],
        [4, 'state', { from: 'planning', to: 'running' }],
      ]);
      // Each keeps the time it happened; a usage report among them sets the row's usage.
      expect(events.slice(0, 3).map((e) => e.createdAt.toISOString())).toEqual([at(1), at(2), at(3)]);
      expect((await prisma.execution.findUniqueOrThrow({ where: { id: exec.id } })).usage).toEqual({
        input_tokens: 5,
        output_tokens: 2,
        cost_usd: 0,
      });

      // RUNNING cannot go back to PENDING: nothing of the statement is written, its events neither.
      await expect(
        prisma.$transaction((tx) =>
          transitionExecution(deps, tx, systemCtx(), exec.id, 'PENDING', {
            before: [waiting('message', { text: 'kept for the next write' }, 4)],
          }),
        ),
      ).rejects.toBeInstanceOf(InvalidState);
      expect(await prisma.executionEvent.count({ where: { executionId: exec.id } })).toBe(4);
      expect((await prisma.execution.findUniqueOrThrow({ where: { id: exec.id } })).eventSeq).toBe(4);
    });

    it('sends the notice of a move that committed although its answer was lost', async () => {
      // The worker's view when the connection ends between COMMIT and its answer (P1017): the retry
      // finds the move made. Its notice goes after the statement, so it must go from there.
      const exec = await executionIn('PENDING');
      let tries = 0;
      const flaky = new Proxy(prisma, {
        get(target, key, receiver) {
          if (key !== '$queryRaw') return Reflect.get(target, key, receiver);
          return async (...args: Parameters<PrismaClient['$queryRaw']>) => {
            tries += 1;
            const rows = await prisma.$queryRaw(...args);
            if (tries === 1)
              throw Object.assign(new Error('Server has closed the connection.'), { code: 'P1017' });
            return rows;
          };
        },
      });
      const published: unknown[] = [];
      const bus = {
        publish: async (_channel: string, payload: string) => void published.push(JSON.parse(payload)),
      };
      const log = { warn: () => undefined };
      const change = await transitionAndPublish(
        { ...deps, prisma: flaky, bus, log } as unknown as CoreDeps,
        systemCtx(),
        exec.id,
        'PLANNING',
      );
      expect(change).toEqual({ executionId: exec.id, taskId: exec.taskId, seq: 1, state: 'PLANNING' });
      expect(published).toEqual([change]);
    });

    it('lets only one of two racing transitions from the same state win', async () => {
      const exec = await executionIn('RUNNING');
      const results = await Promise.allSettled([
        prisma.$transaction((tx) => transitionExecution(deps, tx, systemCtx(), exec.id, 'COMPLETED')),
        prisma.$transaction((tx) => transitionExecution(deps, tx, systemCtx(), exec.id, 'CANCELLED')),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    });
  });
});

describe('agent catalog', () => {
  it('routes general-purpose to DEFAULT_AGENT and, with nothing configured, lists the five runtimes as unavailable with a reason', async () => {
    const config = loadConfig({ OLLAMA_HOST: 'http://127.0.0.1:9', GOOSE_BIN: '/nonexistent/goose' });
    const catalog = createAgentCatalog(config);
    expect(catalog.resolve('general-purpose')?.agentType).toBe('echo');
    expect(catalog.resolve('openhands')?.agentType).toBe('opendevin');
    await catalog.refresh();
    for (const t of ['claude', 'openai', 'ollama', 'opendevin', 'goose']) {
      expect(catalog.get(t)?.available).toBe(false);
      expect(catalog.get(t)?.reason).toEqual(expect.any(String));
    }
  });
});

import {
  agentStatsPageSchema,
  agentStatsQuerySchema,
  errorBodySchema,
  queueStatsSchema,
} from '@ccl/contracts';
import { agentStats, queueStats } from '@ccl/core';
import type { AppInstance } from '../app.ts';
import { actorOf, needs } from '../permission-matrix.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema };

/** Read-only numbers for the board's Agents and Queue pages. */
export async function statsRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  // Two paths, one answer: /api/stats/agents is how the GitHub docs and issue name it.
  for (const [path, operationId] of [
    ['/api/agents/stats', 'getAgentStats'],
    ['/api/stats/agents', 'getStatsAgents'],
  ] as const) {
    app.get(
      path,
      {
        config: { access: needs('task:view') },
        schema: {
          operationId,
          tags: ['stats'],
          summary:
            'Per runtime and per project: runs, success rate, average cost, pull requests opened and merged, merge rate and cost per merged PR',
          querystring: agentStatsQuerySchema,
          response: { 200: agentStatsPageSchema, ...errors },
        },
      },
      async (request) => agentStats(deps, actorOf(request), request.query),
    );
  }

  app.get(
    '/api/queue/stats',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'getQueueStats',
        tags: ['stats'],
        summary: 'Job counts per queue, executions per state, and active runs with their last event',
        response: { 200: queueStatsSchema, ...errors },
      },
    },
    async (request) => queueStats(deps, actorOf(request)),
  );
}

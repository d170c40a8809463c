import { auditPageSchema, auditQuerySchema, errorBodySchema } from '@ccl/contracts';
import { listAuditEvents } from '@ccl/core';
import type { AppInstance } from '../app.ts';
import { requestCtx } from '../auth.ts';

export async function auditRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;
  app.get(
    '/api/audit/events',
    {
      schema: {
        operationId: 'listAuditEvents',
        tags: ['audit'],
        summary: 'The audit log, newest first (needs audit:view)',
        querystring: auditQuerySchema,
        response: { 200: auditPageSchema, 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema },
      },
    },
    async (request) => listAuditEvents(deps, await requestCtx(deps, request), request.query),
  );
}

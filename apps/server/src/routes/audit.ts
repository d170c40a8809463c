import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type AuditEventDto,
  auditPageSchema,
  auditPruneBodySchema,
  auditPruneResultSchema,
  auditQuerySchema,
  errorBodySchema,
} from '@ccl/contracts';
import { auditCsvHeader, auditCsvLine, exportAuditEvents, listAuditEvents, pruneAudit } from '@ccl/core';
import type { AppInstance } from '../app.ts';
import { actorOf, needs } from '../permission-matrix.ts';

const UNSAFE_HTML = /[<>&]/g;

/** One JSON object per line, with <, > and & escaped as in every JSON answer. */
async function* ndjson(events: AsyncIterable<AuditEventDto>) {
  for await (const e of events) {
    yield `${JSON.stringify(e).replace(UNSAFE_HTML, (c) => `\\u00${c.charCodeAt(0).toString(16)}`)}\n`;
  }
}

async function* csv(events: AsyncIterable<AuditEventDto>) {
  yield auditCsvHeader();
  for await (const e of events) yield auditCsvLine(e);
}

const fileStamp = () => new Date().toISOString().replace(/[:.]/g, '-');

export async function auditRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;
  app.get(
    '/api/audit/events',
    {
      config: { access: needs('audit:view') },
      schema: {
        operationId: 'listAuditEvents',
        tags: ['audit'],
        summary: 'The audit log, newest first (needs audit:view); every read is itself audited',
        description:
          'format=json answers one page (cursor pagination). format=ndjson or csv streams every matching row ' +
          '(limit is ignored) as a download. q matches a case-insensitive substring of action, resource, actor ' +
          'and detail.',
        querystring: auditQuerySchema,
        response: { 200: auditPageSchema, 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema },
      },
    },
    async (request, reply) => {
      const ctx = actorOf(request);
      const q = request.query;
      if (q.format === 'json') return listAuditEvents(deps, ctx, q);
      const events = await exportAuditEvents(deps, ctx, q);
      reply
        .header(
          'content-type',
          q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        )
        .header('content-disposition', `attachment; filename="audit-${fileStamp()}.${q.format}"`)
        .header('cache-control', 'no-store');
      const body = Readable.from(q.format === 'csv' ? csv(events) : ndjson(events));
      // A stream bypasses the response serializer; the 200 schema describes format=json only.
      return reply.send(body as never);
    },
  );

  app.post(
    '/api/audit/prune',
    {
      config: { access: needs('audit:manage') },
      schema: {
        operationId: 'pruneAuditEvents',
        tags: ['audit'],
        summary:
          'Retention: archive audit rows older than `before` on the server, then remove them (needs audit:manage)',
        description:
          'Refused (409) when the chain does not verify. The archive (NDJSON) is written under DATA_DIR/audit-archive ' +
          'before anything is removed; the anchor keeps the remaining chain verifiable.',
        body: auditPruneBodySchema,
        response: {
          200: auditPruneResultSchema,
          400: errorBodySchema,
          401: errorBodySchema,
          403: errorBodySchema,
          409: errorBodySchema,
        },
      },
    },
    async (request) => {
      const ctx = actorOf(request);
      const archivePath = join(deps.config.dataDir, 'audit-archive', `audit-${fileStamp()}.ndjson`);
      return pruneAudit(deps, ctx, { before: new Date(request.body.before), archivePath });
    },
  );
}

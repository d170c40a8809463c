import { z } from 'zod';
import { isoDate, jsonObject } from './common.ts';

export const AUDIT_OUTCOMES = ['allowed', 'denied', 'failed'] as const;
export const AUDIT_EXPORT_FORMATS = ['json', 'ndjson', 'csv'] as const;

export const auditEventSchema = z.object({
  id: z.string(),
  /** Position in the hash chain (1, 2, 3… without gaps; a retention run removes a prefix). */
  seq: z.string(),
  at: isoDate,
  actor_user_id: z.string().nullable(),
  actor_session: z.string().nullable(),
  actor_device: z.string().nullable(),
  action: z.string(),
  resource_type: z.string(),
  resource_id: z.string().nullable(),
  outcome: z.enum(AUDIT_OUTCOMES),
  request_id: z.string().nullable(),
  detail: jsonObject,
  /** HMAC-SHA256 over the row and the previous row's hash; `clawlink audit verify` checks it. */
  hash: z.string().nullable(),
});
export type AuditEventDto = z.infer<typeof auditEventSchema>;

const MAX_BIGINT = 2n ** 63n - 1n;

export const auditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z
    .string()
    .regex(/^\d+$/, 'cursor must be the next_cursor of a previous page')
    // Row ids are PostgreSQL bigints: a larger number is no row id, and the database would refuse it.
    .refine(
      (c) => !/^\d+$/.test(c) || BigInt(c) <= MAX_BIGINT,
      'cursor must be the next_cursor of a previous page',
    )
    .optional(),
  actor: z.string().max(128).optional(),
  action: z.string().max(128).optional(),
  resource: z.string().max(128).optional().describe('resource type, or type:id'),
  outcome: z.enum(AUDIT_OUTCOMES).optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  q: z
    .string()
    .trim()
    .min(1, 'q must not be empty')
    .max(200)
    .optional()
    .describe('text searched (case-insensitive substring) in action, resource, actor and detail'),
  format: z
    .enum(AUDIT_EXPORT_FORMATS)
    .default('json')
    .describe('json: one page; ndjson or csv: every matching row, streamed as a download'),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

export const auditPruneBodySchema = z.object({
  before: isoDate.describe('rows older than this are archived, then removed'),
});

export const auditPruneResultSchema = z.object({
  removed: z.number().int(),
  first_seq: z.string().nullable(),
  last_seq: z.string().nullable(),
  /** Hash of the last removed row: the first remaining row links to it. */
  anchor_hash: z.string().nullable(),
  /** Where the removed rows were written (NDJSON, one audit event per line) and that file's SHA-256. */
  archive: z.string().nullable(),
  archive_sha256: z.string().nullable(),
});
export type AuditPruneResult = z.infer<typeof auditPruneResultSchema>;

export const auditPageSchema = z.object({
  items: z.array(auditEventSchema),
  next_cursor: z.string().nullable(),
});

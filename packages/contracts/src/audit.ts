import { z } from 'zod';
import { isoDate, jsonObject } from './common.ts';

export const AUDIT_OUTCOMES = ['allowed', 'denied', 'failed'] as const;

export const auditEventSchema = z.object({
  id: z.string(),
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
});
export type AuditEventDto = z.infer<typeof auditEventSchema>;

export const auditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().regex(/^\d+$/, 'cursor must be the next_cursor of a previous page').optional(),
  actor: z.string().max(128).optional(),
  action: z.string().max(128).optional(),
  resource: z.string().max(128).optional().describe('resource type, or type:id'),
  since: isoDate.optional(),
  until: isoDate.optional(),
});
export type AuditQuery = z.infer<typeof auditQuerySchema>;

export const auditPageSchema = z.object({
  items: z.array(auditEventSchema),
  next_cursor: z.string().nullable(),
});

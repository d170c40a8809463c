import type { AuditEventDto } from '@ccl/contracts';
import { api, query } from './api.ts';

export interface AuditFilters {
  actor: string;
  action: string;
  resource: string;
  /** datetime-local values (local time), turned into ISO for the API */
  since: string;
  until: string;
}

export const NO_AUDIT_FILTERS: AuditFilters = { actor: '', action: '', resource: '', since: '', until: '' };

const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function auditQuery(f: AuditFilters, extra: Record<string, string | number | null | undefined> = {}) {
  return query({
    actor: f.actor.trim(),
    action: f.action.trim(),
    resource: f.resource.trim(),
    since: iso(f.since),
    until: iso(f.until),
    ...extra,
  });
}

export interface AuditPage {
  items: AuditEventDto[];
  next_cursor: string | null;
}

export const loadAuditPage = (f: AuditFilters, cursor: string | null) =>
  api.get<AuditPage>(`/api/audit/events${auditQuery(f, { limit: 50, cursor })}`);

/**
 * The export formats /api/audit/events offers, read from the OpenAPI document, so the
 * buttons appear once the server has them and never point at something it lacks.
 */
export async function auditExportFormats(): Promise<string[]> {
  type Param = { name?: string; in?: string; schema?: { enum?: unknown[] } };
  const doc = await api.get<{ paths?: Record<string, { get?: { parameters?: Param[] } }> }>('/docs/json');
  const format = doc.paths?.['/api/audit/events']?.get?.parameters?.find(
    (p) => p.name === 'format' && p.in === 'query',
  );
  return (format?.schema?.enum ?? []).filter((v): v is string => typeof v === 'string' && v !== 'json');
}

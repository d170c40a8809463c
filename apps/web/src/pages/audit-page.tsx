import type { AuditEventDto } from '@ccl/contracts';
import { type FormEvent, useCallback, useEffect, useRef, useState } from 'react';
import { Empty, LoadError, Loading } from '../components/async-view.tsx';
import { Field } from '../components/field.tsx';
import { adviceFor } from '../lib/api.ts';
import {
  type AuditFilters,
  auditExportFormats,
  auditQuery,
  loadAuditPage,
  NO_AUDIT_FILTERS,
} from '../lib/audit.ts';
import { formatTime } from '../lib/format.ts';
import { useResource } from '../lib/use-resource.ts';

const OUTCOME_ICON = { allowed: '✓', denied: '✕', failed: '!' } as const;

export function AuditPage() {
  const [filters, setFilters] = useState<AuditFilters>(NO_AUDIT_FILTERS);
  const [items, setItems] = useState<AuditEventDto[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const generation = useRef(0);
  const sentinel = useRef<HTMLDivElement>(null);
  const formats = useResource(() => auditExportFormats().catch(() => []));

  const inflight = useRef(false);
  const loadMore = useCallback(
    async (reset: boolean) => {
      if (!reset && (inflight.current || cursor === null)) return;
      const mine = reset ? ++generation.current : generation.current;
      inflight.current = true;
      setLoading(true);
      setError(null);
      try {
        const page = await loadAuditPage(filters, reset ? null : cursor);
        if (mine !== generation.current) return;
        setItems((prev) => (reset ? page.items : [...prev, ...page.items]));
        setCursor(page.next_cursor);
        setDone(page.next_cursor === null);
      } catch (err) {
        if (mine === generation.current) setError(adviceFor(err));
      } finally {
        if (mine === generation.current) {
          inflight.current = false;
          setLoading(false);
        }
      }
    },
    [filters, cursor],
  );

  // biome-ignore lint/correctness/useExhaustiveDependencies: a new filter set starts over from the first page.
  useEffect(() => {
    setItems([]);
    setDone(false);
    void loadMore(true);
  }, [filters]);

  // Infinite scroll: the next page loads when the end of the list comes into view.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || done || loading || error || items.length === 0) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadMore(false);
    });
    observer.observe(el);
    return () => observer.disconnect();
  }, [done, loading, error, loadMore, items.length]);

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const get = (k: keyof AuditFilters) => String(form.get(k) ?? '');
    setFilters({
      actor: get('actor'),
      action: get('action'),
      resource: get('resource'),
      since: get('since'),
      until: get('until'),
    });
  };

  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit log</h1>
        {(formats.data ?? []).map((f) => (
          <a
            key={f}
            className="button"
            href={`/api/audit/events${auditQuery(filters, { format: f })}`}
            download
          >
            Export {f.toUpperCase()}
          </a>
        ))}
      </div>
      <form className="filters" onSubmit={apply} aria-label="Filter the audit log">
        <Field label="Actor">
          <input name="actor" defaultValue={filters.actor} placeholder="user id" />
        </Field>
        <Field label="Action">
          <input name="action" defaultValue={filters.action} placeholder="e.g. task.submit" />
        </Field>
        <Field label="Resource">
          <input name="resource" defaultValue={filters.resource} placeholder="type or type:id" />
        </Field>
        <Field label="Since">
          <input name="since" type="datetime-local" defaultValue={filters.since} />
        </Field>
        <Field label="Until">
          <input name="until" type="datetime-local" defaultValue={filters.until} />
        </Field>
        <div className="actions">
          <button type="submit" className="primary">
            Apply filters
          </button>
          <button type="reset" onClick={() => setFilters(NO_AUDIT_FILTERS)}>
            Clear
          </button>
        </div>
      </form>
      {error && (
        <LoadError what="the audit log" error={error} onRetry={() => void loadMore(items.length === 0)} />
      )}
      {!error && !loading && items.length === 0 && <Empty>No audit events match these filters.</Empty>}
      {items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="audit-table">
            <caption className="visually-hidden">Audit events, newest first</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Resource</th>
                <th scope="col">Outcome</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {items.map((ev) => (
                <tr key={ev.id} data-action={ev.action}>
                  <td>{formatTime(ev.at)}</td>
                  <td>{ev.actor_user_id ?? '—'}</td>
                  <td>
                    <code>{ev.action}</code>
                  </td>
                  <td>
                    {ev.resource_type}
                    {ev.resource_id ? `:${ev.resource_id.slice(0, 8)}` : ''}
                  </td>
                  <td className={`outcome-${ev.outcome}`}>
                    <span aria-hidden="true">{OUTCOME_ICON[ev.outcome]} </span>
                    {ev.outcome}
                  </td>
                  <td>
                    {Object.keys(ev.detail).length > 0 ? (
                      <details>
                        <summary>show</summary>
                        <pre>{JSON.stringify(ev.detail, null, 2)}</pre>
                      </details>
                    ) : (
                      '—'
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {loading && <Loading what="audit events" />}
      <div ref={sentinel} />
      {!done && !loading && items.length > 0 && !error && (
        <button type="button" onClick={() => void loadMore(false)}>
          Load more
        </button>
      )}
      {done && items.length > 0 && <p className="muted">End of the log.</p>}
    </section>
  );
}

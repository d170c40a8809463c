import { useMemo } from 'react';
import { parseUnifiedDiff } from '../lib/diff.ts';

const SIGN_LABEL = { add: 'added', del: 'removed' } as const;

/** A unified diff, one table per file; + and − stay visible, so colour is only a second cue. */
export function DiffView({ diff }: { diff: string }) {
  const files = useMemo(() => parseUnifiedDiff(diff), [diff]);
  if (files.length === 0) return <p className="muted">No changes.</p>;
  return (
    <div className="diff" data-testid="diff">
      {files.map((f) => (
        <details key={f.path} open className="diff-file">
          <summary>
            <code>{f.path}</code>{' '}
            <span className="diff-stat">
              <span className="diff-stat-add">+{f.added}</span>{' '}
              <span className="diff-stat-del">−{f.removed}</span>
            </span>
          </summary>
          <pre className="diff-lines">
            {f.lines.map((l, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: a diff's lines have no identity but their position.
              <span key={i} className={`diff-line diff-${l.kind}`}>
                <span className="diff-no" aria-hidden="true">
                  {l.oldNo ?? ''}
                </span>
                <span className="diff-no" aria-hidden="true">
                  {l.newNo ?? ''}
                </span>
                {l.kind === 'add' || l.kind === 'del' ? (
                  <span className="visually-hidden">{SIGN_LABEL[l.kind]}: </span>
                ) : null}
                <span className="diff-text">{l.text || ' '}</span>
                {'\n'}
              </span>
            ))}
          </pre>
        </details>
      ))}
    </div>
  );
}

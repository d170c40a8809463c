import { useEffect, useRef } from 'react';
import type { TimelineItem } from '../lib/timeline.ts';

const pretty = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v, null, 2));

/** The live log: text, state lines, and each tool call folded with its output. */
export function EventLog({ items, live }: { items: TimelineItem[]; live: boolean }) {
  const list = useRef<HTMLOListElement>(null);
  const pinned = useRef(true);
  // Follow new lines while live, unless the reader has scrolled up to read something.
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when new items arrive.
  useEffect(() => {
    const el = list.current;
    if (el && live && pinned.current) el.scrollTop = el.scrollHeight;
  }, [items.length, live]);
  if (items.length === 0) {
    return <p className="muted">{live ? 'Waiting for the agent’s first event…' : 'No events.'}</p>;
  }
  return (
    <ol
      ref={list}
      className="log"
      // Scrollable, so keyboard users must be able to focus and scroll it.
      // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region needs focus to scroll by keyboard.
      tabIndex={0}
      aria-label="Execution log"
      data-testid="log"
      aria-live={live ? 'polite' : 'off'}
      aria-relevant="additions"
      onScroll={(e) => {
        const el = e.currentTarget;
        pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      }}
    >
      {items.map((item) => {
        switch (item.kind) {
          case 'text':
            return (
              <li key={item.seq} className="log-text">
                {item.text}
              </li>
            );
          case 'line':
            return (
              <li key={item.seq} className={`log-line log-${item.tone}`}>
                {item.tone === 'error' && <span aria-hidden="true">✕ </span>}
                {item.text}
              </li>
            );
          case 'approval':
            return (
              <li key={item.seq} className="log-line log-approval">
                <span aria-hidden="true">‖ </span>approval requested: {item.description}
              </li>
            );
          case 'tool':
            return (
              <li key={item.seq} className="log-tool">
                <details>
                  <summary>
                    <span aria-hidden="true">⚙ </span>
                    <code>{item.name}</code>{' '}
                    {item.output === null ? '(running…)' : item.isError ? '(error)' : ''}
                  </summary>
                  <h4>Input</h4>
                  <pre>{pretty(item.input)}</pre>
                  <h4>Output</h4>
                  <pre>{item.output ?? '—'}</pre>
                </details>
              </li>
            );
          default:
            return null;
        }
      })}
    </ol>
  );
}

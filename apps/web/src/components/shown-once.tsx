import { type ReactNode, useId, useState } from 'react';

interface ShownOnceProps {
  testId: string;
  title: ReactNode;
  /** Why it must be taken now, and what to do if it is lost. */
  warning: ReactNode;
  value: string;
  /** The input's accessible name. */
  valueLabel: string;
  /** What the value is called in the "copy it by hand" hint: "key", "URL". */
  noun: string;
  doneLabel: string;
  onDone: () => void;
}

/**
 * A secret the server keeps only a hash of, on the one page it is ever shown: selectable, with a
 * copy button that says when the browser refuses the clipboard.
 */
export function ShownOnce(props: ShownOnceProps) {
  const titleId = useId();
  const [copied, setCopied] = useState<'yes' | 'failed' | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(props.value);
      setCopied('yes');
    } catch {
      setCopied('failed');
    }
  };
  return (
    <section className="panel new-key" aria-labelledby={titleId} data-testid={props.testId}>
      <h2 id={titleId}>{props.title}</h2>
      <p className="warning" role="alert">
        <span aria-hidden="true">⚠ </span>
        {props.warning}
      </p>
      <div className="actions">
        <input
          aria-label={props.valueLabel}
          className="key-value"
          readOnly
          value={props.value}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" onClick={copy}>
          Copy
        </button>
        <span role="status">
          {copied === 'yes' && 'Copied to the clipboard.'}
          {copied === 'failed' && `Copying is blocked here: select the ${props.noun} and copy it by hand.`}
        </span>
      </div>
      <div className="actions">
        <button type="button" className="primary" onClick={props.onDone}>
          {props.doneLabel}
        </button>
      </div>
    </section>
  );
}

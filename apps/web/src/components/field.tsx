import { cloneElement, type ReactElement, useId } from 'react';

interface Props {
  label: string;
  hint?: string | undefined;
  optional?: boolean;
  children: ReactElement<{ id?: string; 'aria-describedby'?: string }>;
}

/** A labelled control; the hint is its description, not part of its name. */
export function Field({ label, hint, optional, children }: Props) {
  const id = useId();
  const hintId = `${id}-hint`;
  return (
    <div className="field">
      <label htmlFor={id}>
        {label}
        {optional && <span className="hint"> (optional)</span>}
      </label>
      {cloneElement(children, { id, ...(hint ? { 'aria-describedby': hintId } : {}) })}
      {hint && (
        <span id={hintId} className="hint">
          {hint}
        </span>
      )}
    </div>
  );
}

import { useEffect, useRef, useState } from 'react';

interface Props {
  /** The button's text, e.g. "Revoke". */
  label: string;
  /** What it acts on, for screen readers and the question: "Revoke key ci-bot?" */
  subject: string;
  onConfirm: () => Promise<void>;
  disabled?: boolean;
}

/** A destructive action asks once, in place, instead of a browser dialog. */
export function ConfirmButton({ label, subject, onConfirm, disabled }: Props) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const no = useRef<HTMLButtonElement>(null);
  const start = useRef<HTMLButtonElement>(null);
  const touched = useRef(false);
  // The button that had focus is replaced: keep keyboard users in place, on the safe answer.
  useEffect(() => {
    if (asking) no.current?.focus();
    else if (touched.current) start.current?.focus();
  }, [asking]);
  if (!asking) {
    return (
      <button
        ref={start}
        type="button"
        className="danger"
        aria-label={`${label} ${subject}`}
        onClick={() => {
          touched.current = true;
          setAsking(true);
        }}
        disabled={disabled}
      >
        {label}
      </button>
    );
  }
  const confirm = async () => {
    setBusy(true);
    try {
      await onConfirm();
    } finally {
      setBusy(false);
      setAsking(false);
    }
  };
  return (
    <span className="confirm">
      <span>
        {label} {subject}?
      </span>
      <button type="button" className="danger" onClick={confirm} disabled={busy}>
        {busy ? '…' : `Yes, ${label.toLowerCase()}`}
      </button>
      <button ref={no} type="button" onClick={() => setAsking(false)} disabled={busy}>
        No
      </button>
    </span>
  );
}

import type { MeDto } from '@ccl/contracts';
import { type FormEvent, useState } from 'react';
import { Field } from '../components/field.tsx';
import { Link } from '../components/link.tsx';
import { ApiError, adviceFor, api } from '../lib/api.ts';
import { navigate } from '../lib/router.ts';
import { describeCaller, useSession } from '../lib/session.tsx';

/** The server's refusal in words a person can act on. */
function signInError(err: unknown): string {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'Wrong user id or password. Check both and try again.';
    // 429 already says how long to wait and whom to ask.
    if (err.status === 429) return `Sign-in is paused: ${err.message}.`;
    if (err.status === 400) return `${err.message}.`;
  }
  return adviceFor(err);
}

export function LoginPage({ next }: { next: string }) {
  const session = useSession();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (session.me && session.me.via !== 'cookie') {
    return (
      <section aria-labelledby="login-title" className="narrow">
        <h1 id="login-title">Sign in</h1>
        <p>
          {session.me.via === 'local'
            ? 'This server runs in local mode and trusts this machine: you are the local developer, no sign-in needed.'
            : `You are already authenticated as ${describeCaller(session.me)}.`}
        </p>
        <p>
          <Link href={next}>Continue</Link>
        </p>
      </section>
    );
  }

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setBusy(true);
    setError(null);
    try {
      const me = await api.post<MeDto>(
        '/api/auth/login',
        { user_id: String(form.get('user_id') ?? '').trim(), password: String(form.get('password') ?? '') },
        { redirectOn401: false },
      );
      session.signedIn(me);
      navigate(next, { replace: true });
    } catch (err) {
      setError(signInError(err));
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="login-title" className="narrow login">
      <h1 id="login-title">Sign in to CoderClawLink</h1>
      {session.me && (
        <p className="muted">Signed in as {describeCaller(session.me)}; signing in again replaces that.</p>
      )}
      <form onSubmit={submit} className="form" aria-describedby={error ? 'login-error' : undefined}>
        <Field label="User id">
          <input name="user_id" autoComplete="username" autoCapitalize="none" spellCheck={false} required />
        </Field>
        <Field label="Password">
          <input name="password" type="password" autoComplete="current-password" required />
        </Field>
        {error && (
          <p id="login-error" className="error-text" role="alert">
            {error}
          </p>
        )}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </div>
      </form>
      <p className="muted">
        No password yet? An administrator sets one with <code>clawlink user passwd &lt;id&gt;</code> or on the
        Users page.
      </p>
    </section>
  );
}

import { type FormEvent, useState } from 'react';
import { Empty, LoadError, Loading } from '../../components/async-view.tsx';
import { ConfirmButton } from '../../components/confirm-button.tsx';
import { Field } from '../../components/field.tsx';
import { useToasts } from '../../components/toasts.tsx';
import { sessions, type WebSessionDto } from '../../lib/admin-api.ts';
import { formatTime } from '../../lib/format.ts';
import { useSession } from '../../lib/session.tsx';
import { useResource } from '../../lib/use-resource.ts';

/** "Firefox on Linux"-ish, enough to tell one's own browsers apart. */
export function browserOf(ua: string | null): string {
  if (!ua) return 'unknown browser';
  const name = /(Firefox|Edg|OPR|Chrome|Safari)\/[\d.]+/.exec(ua)?.[1];
  const os = /(Windows|Android|iPhone|iPad|Mac OS X|Linux|CrOS)/.exec(ua)?.[1];
  const label = { Edg: 'Edge', OPR: 'Opera' }[name ?? ''] ?? name ?? 'a browser';
  return os ? `${label} on ${os === 'Mac OS X' ? 'macOS' : os}` : label;
}

export function SessionsSection() {
  const { me } = useSession();
  const toasts = useToasts();
  const list = useResource(sessions.list);

  const revoke = async (s: WebSessionDto) => {
    try {
      await sessions.revoke(s.id);
      list.setData((prev) => prev?.filter((x) => x.id !== s.id));
      if (!s.current) toasts.info('Session ended; that browser must sign in again.');
    } catch (err) {
      toasts.error('end the session', err);
    }
  };

  return (
    <section aria-labelledby="sessions-title">
      <h1 id="sessions-title">Sessions</h1>
      {me?.via !== 'cookie' && (
        <p className="muted">
          You are not signed in with a password here, so there are no browser sessions to show.
        </p>
      )}
      {list.loading && !list.data && <Loading what="sessions" />}
      {list.error && <LoadError what="sessions" error={list.error} onRetry={list.reload} />}
      {list.data && list.data.length === 0 && <Empty>No browser sessions.</Empty>}
      {list.data && list.data.length > 0 && (
        <div className="table-wrap">
          <table data-testid="sessions-table">
            <caption className="visually-hidden">Your browser sessions</caption>
            <thead>
              <tr>
                <th scope="col">Browser</th>
                <th scope="col">From</th>
                <th scope="col">Signed in</th>
                <th scope="col">Last active</th>
                <th scope="col">Ends</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.data.map((s) => (
                <tr key={s.id} data-current={s.current}>
                  <td>
                    {browserOf(s.user_agent)}
                    {s.current && <strong> (this browser)</strong>}
                  </td>
                  <td>{s.ip ?? '—'}</td>
                  <td>{formatTime(s.created_at)}</td>
                  <td>{formatTime(s.last_seen_at)}</td>
                  <td>{formatTime(s.expires_at)}</td>
                  <td>
                    <ConfirmButton
                      label={s.current ? 'Sign out' : 'End'}
                      subject={s.current ? 'this browser' : `session in ${browserOf(s.user_agent)}`}
                      onConfirm={() => revoke(s)}
                    />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {me?.via === 'cookie' && <PasswordForm userId={me.user_id} onChanged={list.reload} />}
    </section>
  );
}

function PasswordForm({ userId, onChanged }: { userId: string; onChanged: () => void }) {
  const toasts = useToasts();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const next = String(data.get('new_password') ?? '');
    if (next !== String(data.get('repeat') ?? '')) {
      setError('The two new passwords differ. Type the same one twice.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await sessions.changePassword(String(data.get('current_password') ?? ''), next);
      form.reset();
      toasts.info('Password changed; your other browser sessions were signed out.');
      onChanged();
    } catch (err) {
      setError(err instanceof Error ? `${err.message}.` : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="form panel narrow" onSubmit={submit} aria-labelledby="password-title">
      <h2 id="password-title">Change your password</h2>
      <input type="text" name="username" autoComplete="username" hidden readOnly value={userId} />
      <Field label="Current password">
        <input name="current_password" type="password" autoComplete="current-password" required />
      </Field>
      <Field label="New password">
        <input name="new_password" type="password" autoComplete="new-password" required />
      </Field>
      <Field label="New password again">
        <input name="repeat" type="password" autoComplete="new-password" required />
      </Field>
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Changing…' : 'Change password'}
        </button>
      </div>
    </form>
  );
}

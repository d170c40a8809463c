import { useRef, useState } from 'react';
import { describeCaller, useSession } from '../lib/session.tsx';
import { Link } from './link.tsx';
import { useToasts } from './toasts.tsx';

const VIA = {
  cookie: 'signed in with a password',
  apikey: 'using an API key',
  token: 'using the first admin token',
  session: 'using a runtime session',
  local: 'this machine, local mode: no sign-in needed',
} as Record<string, string>;

/** Who you are, in the top bar, with the way out when there is one. */
export function UserMenu() {
  const { me, signOut } = useSession();
  const toasts = useToasts();
  const menu = useRef<HTMLDetailsElement>(null);
  const [busy, setBusy] = useState(false);
  if (!me) return null;
  const close = () => {
    if (menu.current) menu.current.open = false;
  };
  const out = async () => {
    setBusy(true);
    try {
      await signOut();
    } catch (err) {
      toasts.error('sign out', err);
      setBusy(false);
    }
  };
  return (
    <details className="user-menu" ref={menu} data-testid="user-menu">
      <summary>
        <span className="visually-hidden">Account: </span>
        {describeCaller(me)}
      </summary>
      <div className="user-menu-panel">
        <p>
          <strong>{describeCaller(me)}</strong>
          <br />
          <span className="muted">
            role {me.role} · {VIA[me.via] ?? me.via}
          </span>
        </p>
        <ul>
          <li>
            <Link href="/account" onClick={close}>
              My account
            </Link>
          </li>
          <li>
            <Link href="/admin/keys" onClick={close}>
              API keys
            </Link>
          </li>
          {me.via === 'cookie' && (
            <li>
              <Link href="/admin/sessions" onClick={close}>
                Sessions and password
              </Link>
            </li>
          )}
        </ul>
        {me.via === 'cookie' && (
          <button type="button" onClick={out} disabled={busy}>
            {busy ? 'Signing out…' : 'Sign out'}
          </button>
        )}
      </div>
    </details>
  );
}

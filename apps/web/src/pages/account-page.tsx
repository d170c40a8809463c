import { Link } from '../components/link.tsx';
import { TelegramPanel } from '../components/telegram-panel.tsx';
import { describeCaller, useSession } from '../lib/session.tsx';

/** The signed-in user's own settings: who you are, your keys and sessions, your Telegram link. */
export function AccountPage() {
  const { me } = useSession();
  if (!me) return null;
  return (
    <section aria-labelledby="account-title" className="account">
      <h1 id="account-title">My account</h1>
      <p>
        <strong>{describeCaller(me)}</strong> <span className="muted">· role {me.role}</span>
      </p>
      <nav aria-label="Account settings">
        <ul className="account-links">
          <li>
            <Link href="/admin/keys">API keys</Link> <span className="muted">for scripts and CoderClaw</span>
          </li>
          {me.via === 'cookie' && (
            <li>
              <Link href="/admin/sessions">Sessions and password</Link>{' '}
              <span className="muted">where you are signed in</span>
            </li>
          )}
        </ul>
      </nav>
      <TelegramPanel />
    </section>
  );
}

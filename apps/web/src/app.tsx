import { useEffect, useRef } from 'react';
import { LoadError, Loading } from './components/async-view.tsx';
import { Link } from './components/link.tsx';
import { ToastProvider } from './components/toasts.tsx';
import { UserMenu } from './components/user-menu.tsx';
import { loginPath, navigate, parseRoute, type Route, useLocation } from './lib/router.ts';
import { SessionProvider, useSession } from './lib/session.tsx';
import { AccountPage } from './pages/account-page.tsx';
import { ADMIN_TITLES, AdminPage } from './pages/admin/admin-page.tsx';
import { AgentsPage } from './pages/agents-page.tsx';
import { AuditPage } from './pages/audit-page.tsx';
import { BoardPage } from './pages/board-page.tsx';
import { LoginPage } from './pages/login-page.tsx';
import { NewTaskPage } from './pages/new-task-page.tsx';
import { QueuePage } from './pages/queue-page.tsx';
import { TaskPage } from './pages/task-page.tsx';

/** `permission`: the link is hidden from callers without it; a direct visit still explains the refusal. */
const NAV: Array<{ href: string; label: string; pages: Route['page'][]; permission?: string }> = [
  { href: '/', label: 'Board', pages: ['board', 'task'] },
  { href: '/tasks/new', label: 'New task', pages: ['new'], permission: 'task:submit' },
  { href: '/agents', label: 'Agents', pages: ['agents'] },
  { href: '/audit', label: 'Audit', pages: ['audit'], permission: 'audit:view' },
  { href: '/queue', label: 'Queue', pages: ['queue'] },
  { href: '/admin', label: 'Admin', pages: ['admin'] },
];

const TITLES: Record<Exclude<Route['page'], 'admin'>, string> = {
  board: 'Board',
  task: 'Task',
  new: 'New task',
  agents: 'Agents',
  audit: 'Audit log',
  queue: 'Queue',
  account: 'My account',
  login: 'Sign in',
  not_found: 'Not found',
};

const titleOf = (route: Route) => (route.page === 'admin' ? ADMIN_TITLES[route.section] : TITLES[route.page]);

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'board':
      return <BoardPage project={route.project} />;
    case 'task':
      return <TaskPage id={route.id} />;
    case 'new':
      return <NewTaskPage project={route.project} />;
    case 'agents':
      return <AgentsPage />;
    case 'audit':
      return <AuditPage />;
    case 'queue':
      return <QueuePage />;
    case 'account':
      return <AccountPage />;
    case 'login':
      return <LoginPage next={route.next} />;
    case 'admin':
      return <AdminPage section={route.section} project={route.project} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <Link href="/">Back to the board</Link>.
          </p>
        </section>
      );
  }
}

/** The page, once we know who is asking; the sign-in page needs nobody. */
function Gate({ route, location }: { route: Route; location: string }) {
  const { state, reload } = useSession();
  const out = state.status === 'signed_out' && route.page !== 'login';
  useEffect(() => {
    if (out) navigate(loginPath(location), { replace: true });
  }, [out, location]);
  if (route.page === 'login' || state.status === 'signed_in') return <Page route={route} />;
  if (state.status === 'error') return <LoadError what="who you are" error={state.error} onRetry={reload} />;
  return <Loading what={out ? 'the sign-in page' : 'your session'} />;
}

function Shell() {
  const location = useLocation();
  const url = new URL(location, 'http://x');
  const route = parseRoute(url.pathname, url.search);
  const { can, me } = useSession();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  const title = titleOf(route);
  useEffect(() => {
    document.title = `${title} · CoderClawLink`;
    // After an in-app navigation, move focus to the new page so screen readers start there.
    if (first.current) first.current = false;
    else main.current?.focus();
  }, [title]);
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand">
          CoderClawLink
        </Link>
        {me && (
          <nav aria-label="Main">
            <ul>
              {NAV.filter((n) => !n.permission || can(n.permission)).map((n) => (
                <li key={n.href}>
                  <Link href={n.href} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
                    {n.label}
                  </Link>
                </li>
              ))}
              <li>
                <a href="/docs">API</a>
              </li>
            </ul>
          </nav>
        )}
        <UserMenu />
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <Gate route={route} location={location} />
      </main>
    </>
  );
}

export function App() {
  return (
    <ToastProvider>
      <SessionProvider>
        <Shell />
      </SessionProvider>
    </ToastProvider>
  );
}

import { useSyncExternalStore } from 'react';

export type Route =
  | { page: 'board'; project: string | null }
  | { page: 'task'; id: string }
  | { page: 'new'; project: string | null }
  | { page: 'agents' }
  | { page: 'audit' }
  | { page: 'queue' }
  | { page: 'account' }
  | { page: 'login'; next: string }
  | { page: 'admin'; section: AdminSection; project: string | null }
  | { page: 'not_found'; path: string };

export const ADMIN_SECTIONS = ['keys', 'devices', 'projects', 'sessions', 'users'] as const;
export type AdminSection = 'home' | (typeof ADMIN_SECTIONS)[number];

/** Only a path of our own, so a crafted /login?next= link cannot send a signed-in user elsewhere. */
export function safeNext(next: string | null): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  if (next === '/login' || next.startsWith('/login?')) return '/';
  return next;
}

export function loginPath(next: string): string {
  return next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`;
}

/** The SPA's own paths; the server answers anything else under /api, /docs, /healthz. */
export function parseRoute(pathname: string, search = ''): Route {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search);
  const [first, second] = parts;
  if (parts.length === 0) return { page: 'board', project: null };
  if (first === 'projects' && second && parts.length === 2) return { page: 'board', project: second };
  if (first === 'tasks' && second === 'new' && parts.length === 2) {
    return { page: 'new', project: params.get('project') };
  }
  if (first === 'tasks' && second && parts.length === 2) return { page: 'task', id: second };
  if (first === 'login' && parts.length === 1) return { page: 'login', next: safeNext(params.get('next')) };
  if (first === 'admin' && parts.length === 1) return { page: 'admin', section: 'home', project: null };
  const section = ADMIN_SECTIONS.find((s) => s === second);
  if (first === 'admin' && section && parts.length === 2) {
    return { page: 'admin', section, project: params.get('project') };
  }
  if (
    parts.length === 1 &&
    (first === 'agents' || first === 'audit' || first === 'queue' || first === 'account')
  ) {
    return { page: first };
  }
  return { page: 'not_found', path: pathname };
}

export function boardPath(project: string | null): string {
  return project ? `/projects/${encodeURIComponent(project)}` : '/';
}

const listeners = new Set<() => void>();
const notify = () => {
  for (const l of listeners) l();
};

export function navigate(to: string, opts: { replace?: boolean } = {}) {
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  notify();
  window.scrollTo(0, 0);
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

const snapshot = () => `${location.pathname}${location.search}`;

export function useLocation(): string {
  return useSyncExternalStore(subscribe, snapshot);
}

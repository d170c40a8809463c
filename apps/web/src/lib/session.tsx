import type { MeDto } from '@ccl/contracts';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, adviceFor, api, onUnauthorized, setCsrfToken } from './api.ts';
import { navigate } from './router.ts';

export type SessionState =
  | { status: 'loading' }
  | { status: 'error'; error: string }
  | { status: 'signed_out' }
  | { status: 'signed_in'; me: MeDto };

export interface Session {
  state: SessionState;
  me: MeDto | null;
  /** Whether the caller's role grants a permission; the server still decides, this only hides dead ends. */
  can: (permission: string) => boolean;
  /** The sign-in form's answer (the same shape as /me). */
  signedIn: (me: MeDto) => void;
  signOut: () => Promise<void>;
  reload: () => void;
}

const SessionContext = createContext<Session | null>(null);

/** Who the board acts as, from GET /api/auth/me; every 401 after that ends the session. */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<SessionState>({ status: 'loading' });

  const apply = useCallback((next: SessionState) => {
    setCsrfToken(next.status === 'signed_in' ? next.me.csrf_token : null);
    setState(next);
  }, []);

  const reload = useCallback(() => {
    setState({ status: 'loading' });
    api.get<MeDto>('/api/auth/me', { redirectOn401: false }).then(
      (me) => apply({ status: 'signed_in', me }),
      (err: unknown) =>
        apply(
          err instanceof ApiError && err.status === 401
            ? { status: 'signed_out' }
            : { status: 'error', error: adviceFor(err) },
        ),
    );
  }, [apply]);

  useEffect(() => {
    reload();
    onUnauthorized(() => apply({ status: 'signed_out' }));
    return () => onUnauthorized(null);
  }, [reload, apply]);

  const value = useMemo<Session>(() => {
    const me = state.status === 'signed_in' ? state.me : null;
    return {
      state,
      me,
      can: (permission) => me?.permissions.includes(permission) ?? false,
      signedIn: (signed) => apply({ status: 'signed_in', me: signed }),
      signOut: async () => {
        try {
          await api.post('/api/auth/logout', undefined, { redirectOn401: false });
        } catch (err) {
          // Already gone (expired or revoked elsewhere) is as good as signed out.
          if (!(err instanceof ApiError && err.status === 401)) throw err;
        }
        navigate('/login', { replace: true });
        apply({ status: 'signed_out' });
      },
      reload,
    };
  }, [state, apply, reload]);

  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}

/** How the menu names the caller: the loopback developer has no account to sign out of. */
export function describeCaller(me: MeDto): string {
  if (me.via === 'local') return 'local developer';
  return me.name ? `${me.name} (${me.user_id})` : me.user_id;
}

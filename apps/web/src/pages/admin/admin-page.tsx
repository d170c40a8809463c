import { Link } from '../../components/link.tsx';
import type { AdminSection } from '../../lib/router.ts';
import { type Session, useSession } from '../../lib/session.tsx';
import { DevicesSection } from './devices-section.tsx';
import { KeysSection } from './keys-section.tsx';
import { ProjectsSection } from './projects-section.tsx';
import { SessionsSection } from './sessions-section.tsx';
import { UsersSection } from './users-section.tsx';

type Section = Exclude<AdminSection, 'home'>;

const SECTIONS: Array<{
  id: Section;
  label: string;
  about: string;
  /** Whether the caller has something to do there; the server still decides. */
  shown: (s: Session) => boolean;
}> = [
  {
    id: 'keys',
    label: 'API keys',
    about: 'Keys for scripts and CoderClaw: create one with some of your permissions, revoke it.',
    shown: () => true,
  },
  {
    id: 'devices',
    label: 'Devices',
    about: 'CoderClaw devices waiting to be paired, and the ones already paired.',
    shown: () => true,
  },
  {
    id: 'projects',
    label: 'Projects',
    about: 'Each project’s repository, ref, approval mode, cost cap, model and secrets.',
    shown: (s) => s.can('project:manage') || s.can('secret:manage'),
  },
  {
    id: 'sessions',
    label: 'Sessions',
    about: 'Where you are signed in; end a session, change your password.',
    shown: (s) => s.me?.via === 'cookie',
  },
  {
    id: 'users',
    label: 'Users and roles',
    about: 'Who may sign in, with which role; custom roles.',
    shown: (s) => s.can('user:manage'),
  },
];

export const ADMIN_TITLES: Record<AdminSection, string> = {
  home: 'Admin',
  keys: 'API keys',
  devices: 'Devices',
  projects: 'Projects',
  sessions: 'Sessions',
  users: 'Users and roles',
};

export function AdminPage({ section, project }: { section: AdminSection; project: string | null }) {
  const session = useSession();
  const visible = SECTIONS.filter((s) => s.shown(session) || s.id === section);
  return (
    <div className="admin">
      <nav aria-label="Admin" className="subnav">
        <ul>
          {visible.map((s) => (
            <li key={s.id}>
              <Link href={`/admin/${s.id}`} aria-current={s.id === section ? 'page' : undefined}>
                {s.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      {section === 'home' && (
        <section aria-labelledby="admin-title">
          <h1 id="admin-title">Admin</h1>
          <ul className="stat-grid">
            {visible.map((s) => (
              <li key={s.id} className="stat-card">
                <h2>
                  <Link href={`/admin/${s.id}`}>{s.label}</Link>
                </h2>
                <p className="muted">{s.about}</p>
              </li>
            ))}
          </ul>
        </section>
      )}
      {section === 'keys' && <KeysSection />}
      {section === 'devices' && <DevicesSection />}
      {section === 'projects' && <ProjectsSection project={project} />}
      {section === 'sessions' && <SessionsSection />}
      {section === 'users' && <UsersSection />}
    </div>
  );
}

/** Every permission, as `resource:action`. */
export const PERMISSIONS = [
  'task:submit',
  'task:view',
  'task:cancel',
  'task:approve',
  'agent:execute',
  'project:view',
  'project:manage',
  'audit:view',
  /** Retention: archive and remove old audit rows. */
  'audit:manage',
  'user:manage',
  /** Everyone's API keys; anyone signed in manages their own. */
  'apikey:manage',
  'secret:manage',
  /** Everyone's CoderClaw devices; a user approves and revokes their own without it. */
  'device:approve',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const DEVELOPER: Permission[] = [
  'task:submit',
  'task:view',
  'task:cancel',
  'task:approve',
  'agent:execute',
  'project:view',
];

export const BUILTIN_ROLES: Record<string, { description: string; permissions: Permission[] }> = {
  ADMIN: { description: 'Everything, including users and the audit log', permissions: [...PERMISSIONS] },
  MANAGER: {
    description: 'Runs and steers work, manages projects, reads the audit log',
    permissions: [...DEVELOPER, 'project:manage', 'audit:view', 'device:approve'],
  },
  DEVELOPER: { description: 'Submits, follows, approves and cancels tasks', permissions: DEVELOPER },
  VIEWER: { description: 'Reads projects and tasks', permissions: ['task:view', 'project:view'] },
};
export const ROLE_NAMES = Object.keys(BUILTIN_ROLES);

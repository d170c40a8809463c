import { createMongoAbility, type MongoAbility } from '@casl/ability';
import type { Permission } from './permissions.ts';

/** Who is acting. Built once per request by `authenticate`. */
export interface Actor {
  userId: string;
  roleName: string;
  permissions: string[];
  /**
   * How the actor proved itself; `anonymous`: it did not (refused requests, audited with no user);
   * `device`: the secret of an approved CoderClaw device (its `/k/<secret>` base URL);
   * `github`: a signed webhook from GitHub, acting for the user its author's login is linked to;
   * `telegram`: a Telegram update from an account linked to the user (`channel` names it).
   */
  via:
    | 'session'
    | 'local'
    | 'token'
    | 'apikey'
    | 'cookie'
    | 'device'
    | 'system'
    | 'anonymous'
    | 'github'
    | 'telegram';
  /** A chat channel the action came through, and the person there: written on every audit row. */
  channel?: { name: 'telegram'; externalUserId: string };
  /** The API key used, when via is apikey. */
  apiKeyId?: string;
  /** The browser sign-in used, when via is cookie. */
  webSessionId?: string;
  sessionId?: string;
  deviceId?: string | null;
}

export type Ability = MongoAbility<[string, string]>;

export interface RequestCtx {
  actor: Actor;
  ability: Ability;
  requestId?: string;
}

/** `task:submit` → can('submit', 'task'). Conditions (own/project scope) arrive with per-project membership. */
export function abilityFor(permissions: readonly string[]): Ability {
  const rules = permissions.flatMap((p) => {
    const [subject, action] = p.split(':');
    return subject && action ? [{ action, subject }] : [];
  });
  // CASL reads the action `manage` as "any action"; here project:manage is one permission and does
  // not include project:view, so the wildcard is moved to a name no permission uses.
  return createMongoAbility<[string, string]>(rules, { anyAction: '*', anySubjectType: '*' });
}

export function makeCtx(actor: Actor, requestId?: string): RequestCtx {
  return { actor, ability: abilityFor(actor.permissions), ...(requestId ? { requestId } : {}) };
}

/** The worker and bootstrap act as the system. */
export function systemCtx(requestId?: string): RequestCtx {
  return makeCtx({ userId: 'system', roleName: 'SYSTEM', permissions: [], via: 'system' }, requestId);
}

/** Each permission's subject and action, split once (every request checks a few). */
const PARTS = new Map<Permission, [string, string]>();

export function has(ctx: RequestCtx, permission: Permission): boolean {
  let parts = PARTS.get(permission);
  if (!parts) {
    parts = permission.split(':') as [string, string];
    PARTS.set(permission, parts);
  }
  return ctx.ability.can(parts[1], parts[0]);
}

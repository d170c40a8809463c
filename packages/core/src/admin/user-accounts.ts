import type { Prisma } from '@ccl/db';
import { writeAudit } from '../audit.ts';
import { hashPassword } from '../auth/password.ts';
import { checkPasswordStrength } from '../auth/web-sessions.ts';
import { authorize } from '../authorize.ts';
import { afterUserBudgetChange } from '../budget-release.ts';
import { userSpend, usersSpend } from '../budgets.ts';
import type { RequestCtx } from '../context.ts';
import { announceCredentialChange } from '../credential-change.ts';
import type { CoreDeps, Tx } from '../deps.ts';
import { Conflict, Invalid, NotFound } from '../errors.ts';
import { LOCAL_USER_ID } from '../users.ts';
import { keepAnAdmin } from './last-admin.ts';

const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

type UserRow = {
  id: string;
  name: string | null;
  roleName: string;
  disabled: boolean;
  passwordHash: string | null;
  githubLogin: string | null;
  budgetUsdMonth: number | null;
  createdAt: Date;
};

/** `spent`: what the user's runs created this calendar month (UTC) have cost, in every project. */
export function toUserDto(u: UserRow, spent: number) {
  return {
    id: u.id,
    name: u.name,
    role: u.roleName,
    disabled: u.disabled,
    has_password: u.passwordHash !== null,
    github_login: u.githubLogin,
    budget_usd_month: u.budgetUsdMonth,
    spent_usd_month: spent,
    created_at: u.createdAt.toISOString(),
  };
}

async function requireRole(tx: Tx, name: string) {
  const role = await tx.role.findUnique({ where: { name } });
  if (!role) {
    const known = (await tx.role.findMany({ select: { name: true } })).map((r) => r.name);
    throw new Invalid(`unknown role '${name}'; roles: ${known.join(', ')}`);
  }
}

export async function listUserAccounts(deps: CoreDeps, ctx: RequestCtx) {
  await authorize(deps, ctx, 'user:manage', { resourceType: 'user' });
  const rows = await deps.prisma.user.findMany({ orderBy: { createdAt: 'asc' } });
  // One grouped read over the month's runs (indexed by user and creation time), not one per user.
  const spent = await usersSpend(
    deps.prisma,
    rows.map((u) => u.id),
  );
  return rows.map((u) => toUserDto(u, spent.get(u.id) ?? 0));
}

export async function createUserAccount(
  deps: CoreDeps,
  ctx: RequestCtx,
  input: { id: string; name?: string | undefined; role: string; password?: string | undefined },
) {
  await authorize(deps, ctx, 'user:manage', { resourceType: 'user', resourceId: input.id });
  if (!USER_ID.test(input.id)) {
    throw new Invalid(`user id '${input.id}' must be 1-128 letters, digits, dot, dash, underscore or @`);
  }
  if (input.password) checkPasswordStrength(input.password, input.id);
  const passwordHash = input.password ? await hashPassword(input.password) : null;
  return deps.prisma.$transaction(async (tx) => {
    await requireRole(tx, input.role);
    if (await tx.user.findUnique({ where: { id: input.id } }))
      throw new Conflict(`user '${input.id}' exists`);
    const user = await tx.user.create({
      data: { id: input.id, name: input.name ?? null, roleName: input.role, passwordHash },
    });
    await writeAudit(deps, tx, ctx, {
      action: 'user.create',
      resourceType: 'user',
      resourceId: user.id,
      outcome: 'ALLOWED',
      detail: { role: input.role, password_set: passwordHash !== null },
    });
    // A new user has no runs yet.
    return toUserDto(user, 0);
  });
}

/**
 * A GitHub login links one user at most: comments by that account act as them. Compared
 * lower-cased, as GitHub compares logins.
 */
async function checkGithubLogin(tx: Tx, userId: string, login: string) {
  // Two admins linking the same login at once: the second waits and then sees the first's link
  // (instead of failing on the unique index with a 500).
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`github-login:${login}`}))`;
  const holder = await tx.user.findUnique({ where: { githubLogin: login }, select: { id: true } });
  if (holder && holder.id !== userId) {
    throw new Conflict(`GitHub login '${login}' is already linked to user '${holder.id}'`);
  }
}

/**
 * Role, name, disabled, password, GitHub login and monthly budget; each change is audited, a role
 * change, a GitHub link and a budget with their before and after. A changed budget releases the
 * user's runs it lets go on (the server's deps also wake their held runs; the CLI's parked jobs
 * look again within 30 s).
 */
export async function updateUserAccount(
  deps: Pick<CoreDeps, 'prisma' | 'audit' | 'cache'> & Partial<Pick<CoreDeps, 'queue' | 'config' | 'log'>>,
  ctx: RequestCtx,
  id: string,
  input: {
    name?: string | undefined;
    role?: string | undefined;
    disabled?: boolean | undefined;
    password?: string | undefined;
    /** null unlinks. */
    github_login?: string | null | undefined;
    /** US dollars per calendar month over the user's runs; null removes the budget. */
    budget_usd_month?: number | null | undefined;
  },
) {
  await authorize(deps, ctx, 'user:manage', { resourceType: 'user', resourceId: id });
  if (id === LOCAL_USER_ID && input.password) {
    throw new Invalid("the built-in 'local' developer cannot sign in with a password");
  }
  if (input.password) checkPasswordStrength(input.password, id);
  const passwordHash = input.password ? await hashPassword(input.password) : undefined;
  const githubLogin =
    typeof input.github_login === 'string' ? input.github_login.toLowerCase() : input.github_login;
  const updated = await deps.prisma.$transaction(async (tx) => {
    const before = await tx.user.findUnique({ where: { id } });
    if (!before) throw new NotFound(`user '${id}' not found`);
    if (input.role) await requireRole(tx, input.role);
    if (githubLogin) await checkGithubLogin(tx, id, githubLogin);
    const losesAdmin =
      before.roleName === 'ADMIN' && ((input.role && input.role !== 'ADMIN') || input.disabled === true);
    if (losesAdmin) await keepAnAdmin(tx, id);
    const data: Prisma.UserUpdateInput = {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.role ? { role: { connect: { name: input.role } } } : {}),
      ...(input.disabled !== undefined ? { disabled: input.disabled } : {}),
      ...(passwordHash ? { passwordHash } : {}),
      ...(githubLogin !== undefined ? { githubLogin } : {}),
      ...(input.budget_usd_month !== undefined ? { budgetUsdMonth: input.budget_usd_month } : {}),
    };
    const user = await tx.user.update({ where: { id }, data });
    // A new password or a disabled account ends the browser sessions at once.
    if (passwordHash || input.disabled) {
      await tx.webSession.updateMany({
        where: { userId: id, revokedAt: null },
        data: { revokedAt: new Date() },
      });
    }
    // Runtime sessions are cached for a few seconds per API process: a new role or a disabled
    // account must reach them at once (delivered on commit, like a device revocation). Open event
    // streams re-check their credentials on the same notice, ended browser sessions included.
    if (input.role || input.disabled || passwordHash) {
      deps.cache?.forgetAllSessions();
      await announceCredentialChange(tx);
    }
    await writeAudit(deps, tx, ctx, {
      action: input.role && input.role !== before.roleName ? 'user.role' : 'user.update',
      resourceType: 'user',
      resourceId: id,
      outcome: 'ALLOWED',
      detail: {
        fields: Object.keys(input).filter((k) => k !== 'password'),
        ...(input.password ? { password_set: true } : {}),
        ...(input.role ? { role_from: before.roleName, role_to: input.role } : {}),
        ...(githubLogin !== undefined
          ? { github_login_from: before.githubLogin, github_login_to: githubLogin }
          : {}),
        ...(input.budget_usd_month !== undefined
          ? { budget_from: before.budgetUsdMonth, budget_to: input.budget_usd_month }
          : {}),
      },
    });
    return toUserDto(user, await userSpend(tx, id));
  });
  if (input.budget_usd_month !== undefined) await afterUserBudgetChange(deps, ctx, id);
  return updated;
}

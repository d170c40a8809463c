import { createHash, randomBytes } from 'node:crypto';
import { writeAudit } from '../audit.ts';
import { authorize } from '../authorize.ts';
import { makeCtx, type RequestCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { Invalid, NotFound } from '../errors.ts';
import { loadUserActor } from '../sessions.ts';

/** How long a link code can be redeemed. */
export const LINK_CODE_TTL_MS = 10 * 60_000;

/** A Telegram account as an update names it. */
export interface TelegramPerson {
  id: number;
  username?: string | undefined;
}

const codeHash = (code: string) => createHash('sha256').update(code).digest('hex');

/** A code is what Telegram passes through a `t.me/<bot>?start=<code>` link: [A-Za-z0-9_-], at most 64. */
export const LINK_CODE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

type LinkDeps = Pick<CoreDeps, 'prisma' | 'audit'>;

async function assertSelfOrUserManager(deps: LinkDeps, ctx: RequestCtx, userId: string) {
  if (ctx.actor.userId === userId && ctx.actor.via !== 'system') return;
  await authorize(deps, ctx, 'user:manage', { resourceType: 'user', resourceId: userId });
}

/**
 * A single-use code that binds the Telegram account which sends it to `userId`, valid 10 minutes.
 * Anyone signed in makes one for themselves; for someone else it takes user:manage (the CLI acts as
 * the system). Making a new code spends the user's earlier unused ones.
 */
export async function createTelegramLinkCode(deps: LinkDeps, ctx: RequestCtx, userId: string) {
  await assertSelfOrUserManager(deps, ctx, userId);
  const user = await deps.prisma.user.findUnique({ where: { id: userId }, select: { disabled: true } });
  if (!user) throw new NotFound(`unknown user '${userId}'`);
  if (user.disabled) throw new Invalid(`user '${userId}' is disabled`);
  const code = randomBytes(18).toString('base64url');
  const expiresAt = new Date(Date.now() + LINK_CODE_TTL_MS);
  await deps.prisma.$transaction(async (tx) => {
    await tx.telegramLinkCode.updateMany({ where: { userId, usedAt: null }, data: { usedAt: new Date() } });
    await tx.telegramLinkCode.create({ data: { codeHash: codeHash(code), userId, expiresAt } });
    await writeAudit(deps, tx, ctx, {
      action: 'telegram.link_code',
      resourceType: 'user',
      resourceId: userId,
      outcome: 'ALLOWED',
      detail: { expires_at: expiresAt.toISOString() },
    });
  });
  return { code, expiresAt };
}

/** Why a code was refused, in words the person who typed it can act on. */
export class LinkRefused extends Invalid {}

/**
 * `/start <code>` in a private chat: spends the code and binds the sender's Telegram account to the
 * code's user, replacing whatever either was linked to before. Refused codes are audited as DENIED.
 */
export async function redeemTelegramLinkCode(deps: LinkDeps, code: string, person: TelegramPerson) {
  const channelCtx = (userId: string | null) =>
    makeCtx({
      userId: userId ?? 'anonymous',
      roleName: 'NONE',
      permissions: [],
      via: userId ? 'telegram' : 'anonymous',
      channel: { name: 'telegram', externalUserId: String(person.id) },
    });
  const refuse = async (reason: string, userId: string | null) => {
    await deps.prisma.$transaction((tx) =>
      writeAudit(deps, tx, channelCtx(userId), {
        action: 'telegram.link',
        resourceType: 'user',
        resourceId: userId,
        outcome: 'DENIED',
        detail: { reason },
      }),
    );
    return new LinkRefused(reason);
  };
  if (!LINK_CODE_PATTERN.test(code)) throw await refuse('that is not a link code', null);
  const outcome = await deps.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<Array<{ user_id: string; expired: boolean; used: boolean }>>`
      SELECT user_id, expires_at <= now() AS expired, used_at IS NOT NULL AS used
      FROM telegram_link_codes WHERE code_hash = ${codeHash(code)} FOR UPDATE`;
    const row = rows[0];
    if (!row) return { refused: 'unknown link code', userId: null };
    if (row.used) return { refused: 'this link code was already used; make a new one', userId: row.user_id };
    if (row.expired) return { refused: 'this link code has expired; make a new one', userId: row.user_id };
    const user = await tx.user.findUnique({ where: { id: row.user_id }, select: { disabled: true } });
    if (!user || user.disabled) return { refused: 'the user of this code is disabled', userId: row.user_id };
    await tx.telegramLinkCode.update({ where: { codeHash: codeHash(code) }, data: { usedAt: new Date() } });
    await tx.telegramLink.deleteMany({
      where: { OR: [{ telegramUserId: BigInt(person.id) }, { userId: row.user_id }] },
    });
    await tx.telegramLink.create({
      data: { telegramUserId: BigInt(person.id), userId: row.user_id, username: person.username ?? null },
    });
    await writeAudit(deps, tx, channelCtx(row.user_id), {
      action: 'telegram.link',
      resourceType: 'user',
      resourceId: row.user_id,
      outcome: 'ALLOWED',
      detail: { telegram_username: person.username ?? null },
    });
    return { refused: null, userId: row.user_id };
  });
  if (outcome.refused) throw await refuse(outcome.refused, outcome.userId);
  return { userId: outcome.userId as string };
}

/** The link of a user, if any. */
export async function telegramLinkOf(deps: Pick<CoreDeps, 'prisma'>, userId: string) {
  const link = await deps.prisma.telegramLink.findUnique({ where: { userId } });
  return (
    link && {
      telegramUserId: link.telegramUserId.toString(),
      username: link.username,
      linkedAt: link.linkedAt,
    }
  );
}

/** Unlinks `userId` (themselves, or anyone with user:manage; from Telegram, `/unlink`). */
export async function unlinkTelegram(deps: LinkDeps, ctx: RequestCtx, userId: string): Promise<boolean> {
  await assertSelfOrUserManager(deps, ctx, userId);
  return deps.prisma.$transaction(async (tx) => {
    const removed = await tx.telegramLink.deleteMany({ where: { userId } });
    if (removed.count === 0) return false;
    await tx.telegramFollow.deleteMany({ where: { userId } });
    await writeAudit(deps, tx, ctx, {
      action: 'telegram.unlink',
      resourceType: 'user',
      resourceId: userId,
      outcome: 'ALLOWED',
    });
    return true;
  });
}

/**
 * The request context of a Telegram account: its linked user with the permissions that user holds
 * now (read on every update, never kept), or null when the account is not linked or the user is
 * disabled.
 */
export async function telegramCtx(
  deps: CoreDeps,
  telegramUserId: number,
  requestId?: string,
): Promise<RequestCtx | null> {
  const link = await deps.prisma.telegramLink.findUnique({
    where: { telegramUserId: BigInt(telegramUserId) },
  });
  if (!link) return null;
  const actor = await loadUserActor(deps, link.userId, 'telegram');
  if (!actor) return null;
  return makeCtx(
    { ...actor, channel: { name: 'telegram', externalUserId: String(telegramUserId) } },
    requestId,
  );
}

import type { DeviceDto } from '@ccl/contracts';
import type { Device, DeviceState } from '@ccl/db';
import { writeAudit } from './audit.ts';
import { has, type RequestCtx } from './context.ts';
import { announceCredentialChange } from './credential-change.ts';
import type { CoreDeps, Tx } from './deps.ts';
import { DEFAULT_DEVICE } from './device-pairing.ts';
import { newDeviceSecret } from './device-secrets.ts';
import { Forbidden, NotFound } from './errors.ts';
import { hashToken } from './users.ts';

/** The CLI manages devices with the database alone. */
type DeviceDeps = Pick<CoreDeps, 'prisma' | 'audit'> & Partial<Pick<CoreDeps, 'cache'>>;

export function toDeviceDto(d: Device): DeviceDto {
  return {
    id: d.id,
    user_id: d.userId,
    device_id: d.deviceId,
    state: d.state.toLowerCase() as DeviceDto['state'],
    requested_at: d.requestedAt.toISOString(),
    request_ip: d.requestIp,
    decided_at: d.decidedAt?.toISOString() ?? null,
    decided_by: d.decidedBy,
    last_seen_at: d.lastSeenAt?.toISOString() ?? null,
  };
}

/** The caller's own devices; everyone's with device:approve. */
export async function listDevices(
  deps: DeviceDeps,
  ctx: RequestCtx,
  opts: { state?: 'pending' | 'approved' | 'revoked' | undefined } = {},
): Promise<DeviceDto[]> {
  const rows = await deps.prisma.device.findMany({
    where: {
      ...(has(ctx, 'device:approve') ? {} : { userId: ctx.actor.userId }),
      ...(opts.state ? { state: opts.state.toUpperCase() as DeviceState } : {}),
    },
    orderBy: [{ requestedAt: 'desc' }],
  });
  return rows.map(toDeviceDto);
}

export type DeviceRef = { id: string } | { userId: string; deviceId: string };

/**
 * Another user's device is out of reach (404) without device:approve. A user may approve
 * their own devices only with their full standing: not from a runtime session (a device does
 * not vouch for another) and not with an API key narrowed to fewer permissions than their role.
 */
async function reachableDevice(deps: DeviceDeps, ctx: RequestCtx, ref: DeviceRef, action: string) {
  const where = 'id' in ref ? { id: ref.id } : { userId_deviceId: ref };
  const device = await deps.prisma.device.findUnique({
    where,
    include: { user: { include: { role: true } } },
  });
  const label = 'id' in ref ? ref.id : `'${ref.deviceId}' of user '${ref.userId}'`;
  const own = device?.userId === ctx.actor.userId;
  if (!device || (!own && !has(ctx, 'device:approve'))) {
    await deny(deps, ctx, action, device?.id ?? null, device ? 'lacks device:approve' : 'no such device');
    throw new NotFound(`device ${label} not found`);
  }
  if (action === 'device.approve') await assertHoldsOwnerPermissions(deps, ctx, device.user, device.id);
  if (action === 'device.approve' && fromDevice(ctx)) {
    // An approval hands out a device secret: a device (or its session) does not vouch for another.
    const reason =
      'a CoderClaw device or its session cannot approve devices; sign in to the board or use your API key';
    await deny(deps, ctx, action, device.id, reason);
    throw new Forbidden(reason);
  }
  if (action === 'device.approve' && own && !has(ctx, 'device:approve')) {
    if (device.user.role.permissions.some((p) => !ctx.actor.permissions.includes(p))) {
      const reason = 'this API key carries fewer permissions than your role, so it cannot approve devices';
      await deny(deps, ctx, action, device.id, reason);
      throw new Forbidden(reason);
    }
  }
  return device;
}

const fromDevice = (ctx: RequestCtx) => ctx.actor.via === 'session' || ctx.actor.via === 'device';

/**
 * An approved device acts as its owner, so someone else approves it only holding every permission
 * the owner holds: device:approve alone must not let a MANAGER make an admin's device theirs.
 */
async function assertHoldsOwnerPermissions(
  deps: DeviceDeps,
  ctx: RequestCtx,
  owner: { id: string; role: { permissions: string[] } },
  deviceRowId: string | null,
) {
  if (owner.id === ctx.actor.userId) return;
  const lacking = owner.role.permissions.filter((p) => !ctx.actor.permissions.includes(p));
  if (!lacking.length) return;
  const reason = `a device of '${owner.id}' acts with all of their permissions; the approver lacks ${lacking.join(', ')}`;
  await deny(deps, ctx, 'device.approve', deviceRowId, reason);
  throw new Forbidden(reason);
}

async function deny(deps: DeviceDeps, ctx: RequestCtx, action: string, id: string | null, reason: string) {
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action,
      resourceType: 'device',
      resourceId: id,
      outcome: 'DENIED',
      detail: { reason },
    }),
  );
}

/**
 * Approves a pairing request; by (user, device) also ahead of the device's first attempt. Answers,
 * once, the device's new secret (only its hash is kept): a CoderClaw adapter opens sessions with it
 * in its base URL (`/k/<secret>`). Approving again replaces the secret, so the old one stops working.
 */
export async function approveDevice(
  deps: DeviceDeps,
  ctx: RequestCtx,
  ref: DeviceRef,
): Promise<DeviceDto & { secret: string }> {
  if (!('id' in ref) && (ref.userId === ctx.actor.userId || has(ctx, 'device:approve'))) {
    const user = await deps.prisma.user.findUnique({ where: { id: ref.userId }, include: { role: true } });
    if (!user) throw new NotFound(`user '${ref.userId}' not found`);
    // Refused before a request row is made ahead of the device.
    await assertHoldsOwnerPermissions(deps, ctx, user, null);
    await deps.prisma.device.createMany({ data: [ref], skipDuplicates: true });
  }
  const device = await reachableDevice(deps, ctx, ref, 'device.approve');
  const secret = newDeviceSecret();
  const updated = await deps.prisma.$transaction(async (tx) => {
    const row = await tx.device.update({
      where: { id: device.id },
      data: {
        state: 'APPROVED',
        decidedAt: new Date(),
        decidedBy: ctx.actor.userId,
        secretHash: hashToken(secret),
      },
    });
    // The secret it replaces may be kept by API processes: the notice drops it.
    if (device.secretHash !== null) await announceCredentialChange(tx);
    await writeAudit(deps, tx, ctx, {
      action: 'device.approve',
      resourceType: 'device',
      resourceId: device.id,
      outcome: 'ALLOWED',
      detail: {
        user_id: device.userId,
        device_id: device.deviceId,
        was: device.state.toLowerCase(),
        secret_replaced: device.secretHash !== null,
      },
    });
    return row;
  });
  if (device.secretHash !== null) deps.cache?.forgetAllSessions();
  return { ...toDeviceDto(updated), secret };
}

/** Revokes the device, its secret and every runtime session it holds; the next request with one of them is refused. */
export async function revokeDevice(deps: DeviceDeps, ctx: RequestCtx, ref: DeviceRef): Promise<DeviceDto> {
  const device = await reachableDevice(deps, ctx, ref, 'device.revoke');
  const row = await deps.prisma.$transaction(async (tx) => {
    const row = await tx.device.update({
      where: { id: device.id },
      data: { state: 'REVOKED', decidedAt: new Date(), decidedBy: ctx.actor.userId, secretHash: null },
    });
    const hashes = await revokeSessionsOf(tx, device);
    await writeAudit(deps, tx, ctx, {
      action: 'device.revoke',
      resourceType: 'device',
      resourceId: device.id,
      outcome: 'ALLOWED',
      detail: { user_id: device.userId, device_id: device.deviceId, sessions_revoked: hashes.length },
    });
    return row;
  });
  // This process forgets at once (its sessions and the secret, which it may keep too); the NOTIFY
  // sent with the commit reaches the other API processes.
  deps.cache?.forgetAllSessions();
  return toDeviceDto(row);
}

async function revokeSessionsOf(tx: Tx, device: Device): Promise<string[]> {
  // An adapter that sent no device_id has a session without one and pairs as `default`.
  const where = {
    userId: device.userId,
    revokedAt: null,
    OR: [{ deviceId: device.deviceId }, ...(device.deviceId === DEFAULT_DEVICE ? [{ deviceId: null }] : [])],
  };
  const live = await tx.runtimeSession.findMany({ where, select: { tokenHash: true } });
  await tx.runtimeSession.updateMany({ where, data: { revokedAt: new Date() } });
  await announceCredentialChange(tx);
  return live.flatMap((s) => (s.tokenHash ? [s.tokenHash] : []));
}

import type { DeviceDto } from '@ccl/contracts';
import type { Device, DeviceState } from '@ccl/db';
import { writeAudit } from './audit.ts';
import { has, type RequestCtx } from './context.ts';
import { CHANNELS, type CoreDeps, type Tx } from './deps.ts';
import { Forbidden, NotFound } from './errors.ts';

/** The CLI manages devices with the database alone. */
type DeviceDeps = Pick<CoreDeps, 'prisma' | 'audit'> & Partial<Pick<CoreDeps, 'cache'>>;

/** The device a CoderClaw adapter without a device_id pairs as. */
export const DEFAULT_DEVICE = 'default';

/** Pairing requests are open to anyone who names a user; this many may wait per user. */
const MAX_PENDING_PER_USER = 20;

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

/**
 * Pairing: a session for (user, device) from outside the trusted loopback needs an APPROVED
 * device. The first attempt records a PENDING request for the user or an admin to decide;
 * until then, and after a revocation, the answer is 403 saying so.
 */
export async function requireApprovedDevice(
  deps: DeviceDeps,
  ctx: RequestCtx,
  input: {
    userId: string;
    deviceId?: string | undefined;
    requestIp?: string | undefined;
    devicesUrl: string;
  },
): Promise<void> {
  const { userId } = input;
  const deviceId = input.deviceId ?? DEFAULT_DEVICE;
  const key = { userId_deviceId: { userId, deviceId } };
  const found = await deps.prisma.device.findUnique({ where: key });
  if (found?.state === 'APPROVED') {
    await deps.prisma.device.update({ where: { id: found.id }, data: { lastSeenAt: new Date() } });
    return;
  }
  const state = await deps.prisma.$transaction(async (tx) => {
    let device = found;
    if (!device) {
      const pending = await tx.device.count({ where: { userId, state: 'PENDING' } });
      if (pending >= MAX_PENDING_PER_USER) return 'FULL' as const;
      // Two first attempts may race; the unique (user, device) keeps one request.
      const { count } = await tx.device.createMany({
        data: [{ userId, deviceId, requestIp: input.requestIp ?? null }],
        skipDuplicates: true,
      });
      device = await tx.device.findUniqueOrThrow({ where: key });
      if (count === 1) {
        await writeAudit(deps, tx, ctx, {
          action: 'device.request',
          resourceType: 'device',
          resourceId: device.id,
          outcome: 'ALLOWED',
          detail: { user_id: userId, device_id: deviceId, ip: input.requestIp ?? null },
        });
      }
    }
    await writeAudit(deps, tx, ctx, {
      action: 'session.create',
      resourceType: 'device',
      resourceId: device.id,
      outcome: 'DENIED',
      detail: { reason: `device ${device.state.toLowerCase()}`, device_id: deviceId },
    });
    return device.state;
  });
  if (state === 'FULL') {
    await deny(deps, ctx, 'device.request', null, `more than ${MAX_PENDING_PER_USER} pending requests`);
    throw new Forbidden(
      `user '${userId}' has ${MAX_PENDING_PER_USER} devices waiting for approval; decide on them at ${input.devicesUrl}`,
    );
  }
  if (state === 'REVOKED') throw new Forbidden(`device '${deviceId}' of user '${userId}' was revoked`);
  if (state === 'PENDING') {
    throw new Forbidden(
      `device '${deviceId}' of user '${userId}' is waiting for approval at ${input.devicesUrl}`,
    );
  }
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
  if (action === 'device.approve' && own && !has(ctx, 'device:approve')) {
    const narrowed = device.user.role.permissions.some((p) => !ctx.actor.permissions.includes(p));
    if (ctx.actor.via === 'session' || narrowed) {
      const reason =
        ctx.actor.via === 'session'
          ? 'a runtime session cannot approve devices; sign in to the board or use your API key'
          : 'this API key carries fewer permissions than your role, so it cannot approve devices';
      await deny(deps, ctx, action, device.id, reason);
      throw new Forbidden(reason);
    }
  }
  return device;
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

/** Approves a pairing request; by (user, device) also ahead of the device's first attempt. */
export async function approveDevice(deps: DeviceDeps, ctx: RequestCtx, ref: DeviceRef): Promise<DeviceDto> {
  if (!('id' in ref) && (ref.userId === ctx.actor.userId || has(ctx, 'device:approve'))) {
    const user = await deps.prisma.user.findUnique({ where: { id: ref.userId } });
    if (!user) throw new NotFound(`user '${ref.userId}' not found`);
    await deps.prisma.device.createMany({ data: [ref], skipDuplicates: true });
  }
  const device = await reachableDevice(deps, ctx, ref, 'device.approve');
  const updated = await deps.prisma.$transaction(async (tx) => {
    const row = await tx.device.update({
      where: { id: device.id },
      data: { state: 'APPROVED', decidedAt: new Date(), decidedBy: ctx.actor.userId },
    });
    await writeAudit(deps, tx, ctx, {
      action: 'device.approve',
      resourceType: 'device',
      resourceId: device.id,
      outcome: 'ALLOWED',
      detail: { user_id: device.userId, device_id: device.deviceId, was: device.state.toLowerCase() },
    });
    return row;
  });
  return toDeviceDto(updated);
}

/** Revokes the device and every runtime session it holds; the next request with one of them is refused. */
export async function revokeDevice(deps: DeviceDeps, ctx: RequestCtx, ref: DeviceRef): Promise<DeviceDto> {
  const device = await reachableDevice(deps, ctx, ref, 'device.revoke');
  const { row, hashes } = await deps.prisma.$transaction(async (tx) => {
    const row = await tx.device.update({
      where: { id: device.id },
      data: { state: 'REVOKED', decidedAt: new Date(), decidedBy: ctx.actor.userId },
    });
    const hashes = await revokeSessionsOf(tx, device);
    await writeAudit(deps, tx, ctx, {
      action: 'device.revoke',
      resourceType: 'device',
      resourceId: device.id,
      outcome: 'ALLOWED',
      detail: { user_id: device.userId, device_id: device.deviceId, sessions_revoked: hashes.length },
    });
    return { row, hashes };
  });
  // This process forgets at once; the NOTIFY sent with the commit reaches the other API processes.
  for (const hash of hashes) deps.cache?.forgetSession(hash);
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
  // Delivered on commit, to every process that caches sessions.
  await tx.$executeRaw`SELECT pg_notify(${CHANNELS.sessions}, '')`;
  return live.flatMap((s) => (s.tokenHash ? [s.tokenHash] : []));
}

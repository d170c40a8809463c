import { writeAudit } from './audit.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { Forbidden, RateLimited } from './errors.ts';

/** The CLI manages devices with the database alone. */
type PairingDeps = Pick<CoreDeps, 'prisma' | 'audit'>;

/** The device a CoderClaw adapter without a device_id pairs as. */
export const DEFAULT_DEVICE = 'default';

/**
 * Pairing requests come from callers without credentials, so anyone who knows a user's name can
 * make them: they are limited per address (this many waiting at once, whoever they name), never
 * per user, so a stranger cannot use up a user's room for their own devices.
 */
export const MAX_PENDING_PER_ADDRESS = 10;

export interface PairingRequest {
  userId: string;
  deviceId?: string | undefined;
  requestIp?: string | undefined;
  /** The board's page where devices are approved, named in the answer. */
  devicesUrl: string;
}

/**
 * A session asked for by names alone (user_id, device_id) from outside the trusted loopback. Names
 * are no credential: the answer is always a refusal. The first ask records a PENDING request for
 * the user (or an approver) to decide on; the approval hands out a base URL carrying the device's
 * secret, once, and that secret is what opens sessions (see device-secrets.ts).
 */
export async function refuseNamesAlone(
  deps: PairingDeps,
  ctx: RequestCtx,
  input: PairingRequest,
): Promise<never> {
  const { userId, devicesUrl } = input;
  const deviceId = input.deviceId ?? DEFAULT_DEVICE;
  const key = { userId_deviceId: { userId, deviceId } };
  const ip = input.requestIp ?? null;
  const state = await deps.prisma.$transaction(async (tx) => {
    let device = await tx.device.findUnique({ where: key });
    if (!device) {
      if (ip) {
        // One address's concurrent requests queue here, so the count below cannot be overrun.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`device-pairing:${ip}`}))`;
        const waiting = await tx.device.count({ where: { requestIp: ip, state: 'PENDING' } });
        if (waiting >= MAX_PENDING_PER_ADDRESS) return 'FULL' as const;
      }
      // Two first attempts may race; the unique (user, device) keeps one request.
      const { count } = await tx.device.createMany({
        data: [{ userId, deviceId, requestIp: ip }],
        skipDuplicates: true,
      });
      device = await tx.device.findUniqueOrThrow({ where: key });
      if (count === 1) {
        await writeAudit(deps, tx, ctx, {
          action: 'device.request',
          resourceType: 'device',
          resourceId: device.id,
          outcome: 'ALLOWED',
          detail: { user_id: userId, device_id: deviceId, ip },
        });
      }
    }
    await writeAudit(deps, tx, ctx, {
      action: 'session.create',
      resourceType: 'device',
      resourceId: device.id,
      outcome: 'DENIED',
      detail: {
        reason:
          device.state === 'APPROVED'
            ? 'names without the device secret'
            : `device ${device.state.toLowerCase()}`,
        device_id: deviceId,
      },
    });
    return device.state;
  });
  const device = `device '${deviceId}' of user '${userId}'`;
  switch (state) {
    case 'FULL':
      await deps.prisma.$transaction((tx) =>
        writeAudit(deps, tx, ctx, {
          action: 'device.request',
          resourceType: 'device',
          outcome: 'DENIED',
          detail: { reason: `more than ${MAX_PENDING_PER_ADDRESS} pending requests from ${ip}`, ip },
        }),
      );
      throw new RateLimited(
        `${MAX_PENDING_PER_ADDRESS} pairing requests from your address are waiting for approval; ask their users to decide on them at ${devicesUrl}, or use an API key in the base URL (/k/<key>)`,
      );
    case 'REVOKED':
      throw new Forbidden(`${device} was revoked`);
    case 'APPROVED':
      throw new Forbidden(
        `${device} is approved, but names alone open no session: use the base URL with the device's secret shown once when it was approved; approve it again at ${devicesUrl} for a new one`,
      );
    default:
      throw new Forbidden(
        `${device} is waiting for approval at ${devicesUrl}; approving it shows a base URL with the device's secret, once: use that as CoderClaw's baseUrl`,
      );
  }
}

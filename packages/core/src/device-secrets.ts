import { randomBytes } from 'node:crypto';
import { makeCtx, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { hashToken } from './users.ts';

/** Device secrets start with this, so a bearer token says which table to look in. */
export const DEVICE_SECRET_PREFIX = 'ccd_';

/** lastSeenAt is written at most this often. */
const TOUCH_EVERY_MS = 60_000;

/** 192 random bits; only their sha256 is stored (devices.secret_hash). */
export function newDeviceSecret(): string {
  return `${DEVICE_SECRET_PREFIX}${randomBytes(24).toString('base64url')}`;
}

export function isDeviceSecret(token: string): boolean {
  return token.startsWith(DEVICE_SECRET_PREFIX);
}

/**
 * The owner of an approved device, acting from it. Null when the secret is unknown (a revocation
 * clears it, a new approval replaces it), the device is not approved, or its owner is disabled.
 * A secret that authenticates is kept in the read cache like an API key (the session contract's
 * adapter sends it with every poll); a revocation, a replaced secret or a role change sends the
 * notice that drops it, so they take effect at once.
 */
export async function deviceSecretCtx(
  deps: Pick<CoreDeps, 'prisma' | 'cache'>,
  secret: string,
  requestId?: string,
): Promise<RequestCtx | null> {
  const secretHash = hashToken(secret);
  const key = `device:${secretHash}`;
  // A kept secret (every poll but the first) is answered without making any closure.
  const kept = deps.cache?.credential(key);
  const ctx = kept ?? (await loadDeviceSecret(deps, key, secretHash));
  return ctx && (requestId ? { ...ctx, requestId } : ctx);
}

function loadDeviceSecret(
  deps: Pick<CoreDeps, 'prisma' | 'cache'>,
  key: string,
  secretHash: string,
): Promise<RequestCtx | null> {
  const read = () => readDeviceSecret(deps, secretHash);
  return deps.cache ? deps.cache.loadCredential(key, read, (found) => found && { ctx: found }) : read();
}

async function readDeviceSecret(
  deps: Pick<CoreDeps, 'prisma'>,
  secretHash: string,
): Promise<RequestCtx | null> {
  const device = await deps.prisma.device.findUnique({
    where: { secretHash },
    include: { user: { include: { role: true } } },
  });
  if (device?.state !== 'APPROVED' || device.user.disabled) return null;
  const now = Date.now();
  if (!device.lastSeenAt || now - device.lastSeenAt.getTime() > TOUCH_EVERY_MS) {
    await deps.prisma.device.update({ where: { id: device.id }, data: { lastSeenAt: new Date(now) } });
  }
  return makeCtx({
    userId: device.userId,
    roleName: device.user.roleName,
    permissions: device.user.role.permissions,
    via: 'device',
    deviceId: device.deviceId,
  });
}

import { z } from 'zod';
import { isoDate } from './common.ts';

/** A CoderClaw device of a user, as the pairing flow records it. */
export const deviceSchema = z.object({
  id: z.string(),
  user_id: z.string(),
  /** The adapter's device_id; `default` when it sent none. */
  device_id: z.string(),
  state: z.enum(['pending', 'approved', 'revoked']),
  requested_at: isoDate,
  request_ip: z.string().nullable(),
  decided_at: isoDate.nullable(),
  decided_by: z.string().nullable(),
  last_seen_at: isoDate.nullable(),
});
export type DeviceDto = z.infer<typeof deviceSchema>;

/** The answer to an approval: the device, and once, the secret that opens its sessions. */
export const approvedDeviceSchema = deviceSchema.extend({
  /** Shown once; only its hash is stored. Approving again replaces it. */
  secret: z.string(),
  /** CoderClaw's baseUrl for this device: this server's address, then `/k/<secret>`. */
  base_url: z.string(),
});
export type ApprovedDeviceDto = z.infer<typeof approvedDeviceSchema>;

/** Everyone's devices for a caller with device:approve, else the caller's own. */
export const listDevicesQuerySchema = z.object({
  state: z.enum(['pending', 'approved', 'revoked']).optional(),
});

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

/** Everyone's devices for a caller with device:approve, else the caller's own. */
export const listDevicesQuerySchema = z.object({
  state: z.enum(['pending', 'approved', 'revoked']).optional(),
});

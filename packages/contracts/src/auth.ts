import { z } from 'zod';
import { isoDate } from './common.ts';

const userIdSchema = z.string().trim().min(1).max(128);
const permissionSchema = z.string().regex(/^[a-z]+:[a-z]+$/, 'permissions look like resource:action');

export const signInBodySchema = z.object({
  user_id: userIdSchema,
  password: z.string().min(1).max(1000),
});

export const meSchema = z.object({
  user_id: z.string(),
  name: z.string().nullable(),
  role: z.string(),
  permissions: z.array(z.string()),
  /** How this request was authenticated: cookie, apikey, token, session, local. */
  via: z.string(),
  /** Send it as X-CSRF-Token on changes made with the sign-in cookie. */
  csrf_token: z.string().nullable(),
  auth_mode: z.enum(['local', 'team']),
});
export type MeDto = z.infer<typeof meSchema>;

export const signInResultSchema = meSchema.extend({ expires_at: isoDate });

export const changePasswordBodySchema = z.object({
  current_password: z.string().min(1).max(1000),
  new_password: z.string().min(1).max(1000),
});

export const webSessionSchema = z.object({
  id: z.string(),
  user_id: z.string(),
  created_at: isoDate,
  last_seen_at: isoDate,
  expires_at: isoDate,
  ip: z.string().nullable(),
  user_agent: z.string().nullable(),
  current: z.boolean(),
});

export const apiKeySchema = z.object({
  id: z.string(),
  user_id: z.string(),
  name: z.string(),
  /** The key's first characters, to recognise it. */
  prefix: z.string(),
  permissions: z.array(z.string()),
  expires_at: isoDate.nullable(),
  last_used_at: isoDate.nullable(),
  created_at: isoDate,
  revoked_at: isoDate.nullable(),
});
export type ApiKeyDto = z.infer<typeof apiKeySchema>;

export const createdApiKeySchema = apiKeySchema.extend({
  /** Shown once; only its hash is stored. */
  key: z.string(),
});

export const createApiKeyBodySchema = z
  .object({
    name: z.string().trim().min(1).max(100),
    permissions: z.array(permissionSchema).max(50).optional(),
    expires_at: isoDate.optional(),
    user_id: userIdSchema.optional().describe("another user's key (needs apikey:manage)"),
  })
  .strict();

export const listApiKeysQuerySchema = z.object({
  all: z.enum(['true', 'false']).optional().describe("everyone's keys (needs apikey:manage)"),
});

export const idParamsSchema = z.object({ id: z.uuid({ message: 'id must be a UUID' }) });

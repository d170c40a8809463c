import { z } from 'zod';
import { isoDate } from './common.ts';

const password = z.string().min(1).max(1000);

export const userAccountSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  role: z.string(),
  disabled: z.boolean(),
  has_password: z.boolean(),
  created_at: isoDate,
});

export const createUserBodySchema = z
  .object({
    id: z.string().trim().min(1).max(128),
    name: z.string().trim().min(1).max(200).optional(),
    role: z.string().min(1).max(40),
    password: password.optional(),
  })
  .strict();

export const updateUserBodySchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    role: z.string().min(1).max(40).optional(),
    disabled: z.boolean().optional(),
    password: password.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one of name, role, disabled, password');

export const roleSchema = z.object({
  name: z.string(),
  description: z.string(),
  builtin: z.boolean(),
  permissions: z.array(z.string()),
  /** How many users have it. */
  users: z.number().int(),
});

export const putRoleBodySchema = z
  .object({
    description: z.string().max(500).optional(),
    permissions: z.array(z.string().max(60)).max(100),
  })
  .strict();

export const userParamsSchema = z.object({ id: z.string().min(1).max(128) });
export const roleParamsSchema = z.object({ name: z.string().min(1).max(40) });

export const projectMemberSchema = z.object({
  user_id: z.string(),
  added_by: z.string(),
  created_at: isoDate,
});

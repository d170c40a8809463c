import { z } from 'zod';
import { isoDate } from './common.ts';

const password = z.string().min(1).max(1000);

const GITHUB_LOGIN_RULE = 'must be a GitHub login: up to 39 letters, digits or single hyphens between them';

/**
 * A GitHub login as GitHub allows it: 1-39 letters, digits and single hyphens, not at either end.
 * Stored lower-cased (GitHub logins are case-insensitive).
 */
export const githubLoginSchema = z
  .string()
  .trim()
  .max(39, GITHUB_LOGIN_RULE)
  .regex(/^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$/, GITHUB_LOGIN_RULE);

/** A user's monthly budget: US dollars over their runs in every project, per calendar month (UTC). */
export const userBudgetSchema = z
  .number()
  .positive()
  .max(10_000_000)
  .describe("US dollars the user's runs may cost per calendar month (UTC)");

export const userAccountSchema = z.object({
  id: z.string(),
  name: z.string().nullable(),
  role: z.string(),
  disabled: z.boolean(),
  has_password: z.boolean(),
  /** The GitHub account whose `/clawlink` comments act as this user (lower-case); null: none. */
  github_login: z.string().nullable(),
  /** US dollars the user's runs (in every project) may cost per calendar month (UTC); null: no limit. */
  budget_usd_month: z.number().nullable(),
  /** US dollars the user's runs created this calendar month (UTC) have cost so far, in every project. */
  spent_usd_month: z.number(),
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
    /** Links the user's GitHub account (case-insensitive); null unlinks it. */
    github_login: githubLoginSchema.nullable().optional(),
    /** The user's monthly budget in US dollars; null removes it. */
    budget_usd_month: userBudgetSchema.nullable().optional(),
  })
  .strict()
  .refine(
    (b) => Object.keys(b).length > 0,
    'give at least one of name, role, disabled, password, github_login, budget_usd_month',
  );

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

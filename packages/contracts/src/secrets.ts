import { z } from 'zod';
import { projectSlugSchema } from './board.ts';
import { isoDate } from './common.ts';

export const secretNameSchema = z
  .string()
  .regex(
    /^[A-Z][A-Z0-9_]{0,63}$/,
    'secret names are upper-case letters, digits and underscores, like GITHUB_TOKEN',
  );

export const secretInfoSchema = z.object({
  name: z.string(),
  /** Which SECRETS_KEY encrypted it. The value itself is never sent back. */
  key_id: z.string(),
  created_by: z.string(),
  updated_at: isoDate,
});

export const secretParamsSchema = z.object({ slug: projectSlugSchema, name: secretNameSchema });
export const putSecretBodySchema = z.object({ value: z.string().min(1).max(10_000) }).strict();

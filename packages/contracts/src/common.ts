import { z } from 'zod';

export const EXECUTION_STATES = [
  'pending',
  'planning',
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
] as const;
export const executionStateSchema = z.enum(EXECUTION_STATES);
export type ExecutionStateName = z.infer<typeof executionStateSchema>;
export const TERMINAL_STATES: readonly ExecutionStateName[] = ['completed', 'failed', 'cancelled'];

/** Every error answer: short, human-readable, no stack. */
export const errorBodySchema = z.object({
  error: z.string().describe('machine-readable code, e.g. not_found, forbidden, invalid'),
  message: z.string().describe('what went wrong, in plain words'),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const idParamSchema = z.object({ id: z.uuid() });
/** A card or an execution: its id, or its number as people write it (`42` for `#42`). */
export const refParamSchema = z.object({
  id: z
    .string()
    .regex(
      /^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[1-9][0-9]{0,9})$/,
      {
        message: 'id must be an id or a number (42 for #42)',
      },
    ),
});
export const isoDate = z.iso.datetime({ offset: true });
export const jsonObject = z.record(z.string(), z.unknown());

/** A tool call the model got wrong (bad input, missing file, …): reported back to it, never thrown out of `run`. */
export class ToolError extends Error {
  override name = 'ToolError';
}

type Input = Record<string, unknown>;

export function requiredString(input: Input, key: string, opts: { allowEmpty?: boolean } = {}): string {
  const value = input[key];
  if (typeof value !== 'string') throw new ToolError(`"${key}" is required and must be a string`);
  if (!opts.allowEmpty && value.length === 0) throw new ToolError(`"${key}" must not be empty`);
  return value;
}

export function optionalString(input: Input, key: string): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ToolError(`"${key}" must be a string`);
  return value;
}

/**
 * Models often send numbers as strings ("10"); those are accepted, anything
 * else that is not a whole number at least `min` is an error.
 */
export function optionalInt(input: Input, key: string, min: number): number | undefined {
  const raw = input[key];
  if (raw === undefined || raw === null || raw === '') return undefined;
  const value = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ToolError(`"${key}" must be a whole number of at least ${min}`);
  }
  return value;
}

/** Like optionalInt, for values that may have a fraction (seconds). */
export function optionalPositive(input: Input, key: string): number | undefined {
  const raw = input[key];
  if (raw === undefined || raw === null || raw === '') return undefined;
  const value = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ToolError(`"${key}" must be a positive number`);
  }
  return value;
}

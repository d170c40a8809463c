/**
 * Key under which a tool call carries arguments the model sent as something other
 * than a JSON object. The call is kept (every tool call id must get a tool result,
 * or the provider rejects the next request); the toolbox should answer it with an
 * error result quoting this message so the model can resend valid arguments.
 */
export const INVALID_TOOL_ARGUMENTS = '__invalid_arguments';

/** How much of a broken arguments string we quote back; models can emit huge ones. */
const QUOTE_LIMIT = 500;

/** Parses a tool call's JSON arguments; anything but a JSON object becomes the error marker. */
export function parseToolArguments(raw: string): Record<string, unknown> {
  // Functions without parameters often stream no argument text at all.
  if (raw.trim() === '') return {};
  let problem: string;
  try {
    const value: unknown = JSON.parse(raw);
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
    problem = 'not a JSON object';
  } catch (error) {
    problem = error instanceof Error ? error.message : String(error);
  }
  const quoted = raw.length > QUOTE_LIMIT ? `${raw.slice(0, QUOTE_LIMIT)}…` : raw;
  return { [INVALID_TOOL_ARGUMENTS]: `tool arguments were not a valid JSON object (${problem}): ${quoted}` };
}

/** The error message for a call whose arguments could not be parsed, or null for a valid call. */
export function invalidToolArguments(input: Record<string, unknown>): string | null {
  const message = input[INVALID_TOOL_ARGUMENTS];
  return typeof message === 'string' ? message : null;
}

import type { ToolSpec } from '../loop/types.ts';

/** The tools' names; the loop and the approval flow refer to them. */
export const TOOL = {
  listFiles: 'list_files',
  readFile: 'read_file',
  writeFile: 'write_file',
  editFile: 'edit_file',
  searchText: 'search_text',
  runCommand: 'run_command',
  finish: 'finish',
} as const;

const PATH_NOTE = 'Relative to the workspace root (the repository).';

/** JSON Schemas written for models: short, with the limits they will meet stated up front. */
export function toolSpecs(limits: {
  commandTimeoutMs: number;
  outputCapBytes: number;
  readCapBytes: number;
}): ToolSpec[] {
  const maxTimeout = limits.commandTimeoutMs / 1000;
  return [
    {
      name: TOOL.listFiles,
      description:
        'List files and directories (directories end with "/"; .git is skipped; at most 1000 entries).',
      inputSchema: {
        type: 'object',
        properties: {
          path: {
            type: 'string',
            description: `Directory to list; default the workspace root. ${PATH_NOTE}`,
          },
          max_depth: { type: 'integer', minimum: 1, description: 'How many levels deep to go; default 3.' },
        },
        additionalProperties: false,
      },
    },
    {
      name: TOOL.readFile,
      description:
        `Read a text file with numbered lines. Use start_line/end_line for large files; ` +
        `output is capped at ${limits.readCapBytes} bytes.`,
      inputSchema: {
        type: 'object',
        properties: {
          path: { type: 'string', description: PATH_NOTE },
          start_line: {
            type: 'integer',
            minimum: 1,
            description: 'First line to show (1-based); default 1.',
          },
          end_line: {
            type: 'integer',
            minimum: 1,
            description: 'Last line to show (inclusive); default the end.',
          },
        },
        required: ['path'],
        additionalProperties: false,
      },
    },
    {
      name: TOOL.writeFile,
      description:
        'Create or overwrite a file with the given content; missing parent directories are created.',
      inputSchema: {
        type: 'object',
        properties: {
          path: { type: 'string', description: PATH_NOTE },
          content: { type: 'string', description: 'The complete new content of the file.' },
        },
        required: ['path', 'content'],
        additionalProperties: false,
      },
    },
    {
      name: TOOL.editFile,
      description:
        'Replace one exact occurrence of old_text with new_text in a file. old_text must match exactly once ' +
        '(whitespace included); add surrounding lines to make it unique.',
      inputSchema: {
        type: 'object',
        properties: {
          path: { type: 'string', description: PATH_NOTE },
          old_text: { type: 'string', description: 'The exact text to replace (without line numbers).' },
          new_text: { type: 'string', description: 'The replacement text.' },
        },
        required: ['path', 'old_text', 'new_text'],
        additionalProperties: false,
      },
    },
    {
      name: TOOL.searchText,
      description:
        'Search text files for a JavaScript regular expression (or literal text) and return "file:line: text" ' +
        'lines (at most 200; .git and binary files are skipped).',
      inputSchema: {
        type: 'object',
        properties: {
          pattern: { type: 'string', description: 'A JavaScript regular expression, or plain text.' },
          path: {
            type: 'string',
            description: `File or directory to search; default the whole workspace. ${PATH_NOTE}`,
          },
        },
        required: ['pattern'],
        additionalProperties: false,
      },
    },
    {
      name: TOOL.runCommand,
      description:
        `Run a shell command (/bin/sh -c) in the workspace root. stdout and stderr are combined, capped at ` +
        `${limits.outputCapBytes} bytes, and followed by the exit code. Stdin is empty; processes still running ` +
        `when the command ends are stopped. Time limit: ${maxTimeout} s.`,
      inputSchema: {
        type: 'object',
        properties: {
          command: { type: 'string', description: 'The command line.' },
          timeout_s: {
            type: 'number',
            exclusiveMinimum: 0,
            maximum: maxTimeout,
            description: `Seconds before the command is killed; default and maximum ${maxTimeout}.`,
          },
        },
        required: ['command'],
        additionalProperties: false,
      },
    },
    {
      name: TOOL.finish,
      description: 'Call once the task is done, with a short summary of what you changed and why.',
      inputSchema: {
        type: 'object',
        properties: { summary: { type: 'string', description: 'What was done, for the person who asked.' } },
        required: ['summary'],
        additionalProperties: false,
      },
    },
  ];
}

import { createInterface } from 'node:readline/promises';
import { makeCtx, PERMISSIONS, type RequestCtx } from '@ccl/core';

/** The CLI runs as the machine's operator: every permission, audited as `system`. */
export function operatorCtx(): RequestCtx {
  return makeCtx({ userId: 'system', roleName: 'SYSTEM', permissions: [...PERMISSIONS], via: 'system' });
}

/** One line from stdin: typed at a prompt or piped (`clawlink user passwd x < file`). */
export async function readSecretLine(prompt: string): Promise<string> {
  const tty = process.stdin.isTTY;
  if (tty) process.stdout.write(prompt);
  const rl = createInterface({ input: process.stdin, terminal: false });
  try {
    for await (const line of rl) return line.replace(/\r$/, '');
    throw new Error('no password given on stdin');
  } finally {
    rl.close();
    if (tty) process.stdout.write('\n');
  }
}

import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where goose is: `bin` as a path (absolute, or relative to the cwd) when it has a
 * slash, else `bin` (default "goose") looked up on PATH. Null when there is no
 * executable file there.
 */
export async function findGooseBinary(bin?: string): Promise<string | null> {
  const name = bin?.trim() || 'goose';
  if (isAbsolute(name) || name.includes('/')) {
    const path = resolve(name);
    return (await isExecutableFile(path)) ? path : null;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

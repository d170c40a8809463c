import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ToolError } from './tool-input.ts';

export interface Located {
  /** The path with every symlink resolved (for paths that do not exist yet: of their nearest existing parent). */
  real: string;
  /** The path resolved against the workspace without following symlinks. */
  lexical: string;
  /** True when `real` is the workspace or lies below it. */
  inside: boolean;
  /** How to name the path back to the model: relative to the workspace when inside it. */
  display: string;
}

/**
 * Decides where a path given by the model really points. Everything is judged on
 * the fully resolved path, so `../x`, an absolute path elsewhere and a symlink at
 * any component that points outside are all seen as outside, and refused: file
 * tools work inside the workspace only. A hard link cannot be judged by its path;
 * the file tools refuse any file with more than one link when they open it
 * (file-tools.ts).
 *
 * Checks are synchronous because `needsApproval` was. The check and the file
 * operation are not atomic, but nothing else runs in the workspace meanwhile: a
 * sandboxed command's processes all end with the command (its PID namespace goes),
 * and file tools open the resolved path without following a final symlink.
 */
export class PathGuard {
  private rootReal: string | undefined;

  constructor(private readonly root: string) {}

  /** The workspace's own real path (resolved once: /tmp may itself be a symlink). */
  get realRoot(): string {
    this.rootReal ??= realpathSync(this.root);
    return this.rootReal;
  }

  locate(path: string): Located {
    if (path.includes('\0')) throw new ToolError('path must not contain NUL characters');
    const root = this.realRoot;
    const lexical = resolve(root, path);
    const real = realResolve(lexical, 0);
    const inside = isWithin(root, real);
    const display = inside ? relative(root, real).split(sep).join('/') || '.' : real;
    return { real, lexical, inside, display };
  }

  /** For reading and listing: the path must really be inside the workspace. */
  forRead(path: string): Located {
    const loc = this.locate(path);
    if (!loc.inside) throw new ToolError(this.outsideMessage(path, loc));
    return loc;
  }

  /**
   * For writing: inside the workspace only, and not into `.git`, which holds the
   * hooks and config git runs later.
   */
  forWrite(path: string): Located {
    const loc = this.forRead(path);
    if (loc.display === '.git' || loc.display.startsWith('.git/')) {
      throw new ToolError(
        `refusing to write ${path}: the .git directory is managed by git, not by file tools`,
      );
    }
    return loc;
  }

  private lexicallyInside(loc: Located): boolean {
    return isWithin(this.realRoot, loc.lexical) || isWithin(resolve(this.root), loc.lexical);
  }

  private outsideMessage(path: string, loc: Located): string {
    if (this.lexicallyInside(loc)) {
      return `path ${path} points outside the workspace through a symlink (to ${loc.real}); access refused`;
    }
    if (isAbsolute(path)) return `path ${path} is outside the workspace; use a path inside the workspace`;
    return `path ${path} climbs out of the workspace with ".."; use a path inside the workspace`;
  }
}

function isWithin(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/**
 * realpath for paths that may not exist yet (a file about to be written): the
 * nearest existing parent is resolved and the rest appended. A dangling symlink
 * is followed to its target, since writing through it would create that target.
 */
function realResolve(abs: string, hops: number): string {
  try {
    return realpathSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new ToolError(`too many levels of symbolic links at ${abs}`);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
  }
  let isLink = false;
  try {
    isLink = lstatSync(abs).isSymbolicLink();
  } catch {
    // Does not exist at all: resolve the parent instead.
  }
  if (isLink) {
    if (hops >= 40) throw new ToolError(`too many levels of symbolic links at ${abs}`);
    return realResolve(resolve(dirname(abs), readlinkSync(abs)), hops + 1);
  }
  const parent = dirname(abs);
  if (parent === abs) return abs;
  return join(realResolve(parent, hops), basename(abs));
}

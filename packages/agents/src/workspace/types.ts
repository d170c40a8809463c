/** An execution's own working directory: a git checkout (or a fresh repo) the agent may change. */
export interface Workspace {
  readonly dir: string;
  /** Files changed since the workspace was created (added, modified, deleted), and the unified diff. */
  diff(): Promise<{ files: string[]; unified: string }>;
  /** Removes the directory. */
  dispose(): Promise<void>;
}

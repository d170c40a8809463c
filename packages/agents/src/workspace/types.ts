/** An execution's own working directory: a git checkout (or a fresh repo) the agent may change. */
export interface Workspace {
  /** The directory; a workspace without a repository to start from is written when this is first read. */
  readonly dir: string;
  /** Files changed since the workspace was created (added, modified, deleted), and the unified diff. */
  diff(): Promise<{ files: string[]; unified: string }>;
  /** Removes the directory. */
  dispose(): Promise<void>;
}

export {
  type CreateWorkspaceOptions,
  createWorkspace,
  type GitWorkspace,
  openWorkspace,
  workspaceDir,
} from './create-workspace.ts';
export { minimalEnv } from './env.ts';
export { FreshRepoTemplate } from './fresh-repo.ts';
export { GitError } from './git.ts';
export { NETWORK_MODES, type NetworkPolicy, narrowNetwork, networkPolicyOf } from './network-policy.ts';
export { processGroupAlive } from './process-group.ts';
export {
  checkRepoUrl,
  isPublicAddress,
  type RepoPolicy,
  RepoRefused,
  type RepoTarget,
} from './repo-guard.ts';
export {
  createSandbox,
  type Sandbox,
  type SandboxOptions,
  type SandboxStatus,
  SandboxUnavailable,
} from './sandbox.ts';
export { type ShadowGit, withShadowGit } from './shadow-git.ts';
export { TOOL } from './tool-specs.ts';
export {
  createToolbox,
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_OUTPUT_CAP_BYTES,
  DEFAULT_READ_CAP_BYTES,
  type Toolbox,
  type ToolboxOptions,
  type ToolLimits,
  type ToolResult,
} from './toolbox.ts';
export type { Workspace } from './types.ts';
export { packWorkspace, unpackWorkspace } from './workspace-archive.ts';

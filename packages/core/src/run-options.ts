import { narrowNetwork } from '@ccl/agents';
import type { Config } from '@ccl/config';
import {
  APPROVAL_MODES,
  type ApprovalMode,
  projectSettingsSchema,
  RUN_OPTION_KEYS,
  type RunGithub,
  type RunOptions,
  runOptionsSchema,
  type SubmitTaskBody,
  submitContextSchema,
  THINKING_LEVELS,
} from '@ccl/contracts';
import { z } from 'zod';
import { Invalid } from './errors.ts';
import { INBOX } from './projects.ts';

type SubmitContext = SubmitTaskBody['context'];

/** The server's limits: ceilings for every project and task. */
export type ServerLimits = Pick<Config, 'MAX_TURNS' | 'MAX_TOKENS' | 'MAX_COST_USD'>;

/** Stored settings as written through projectSettingsSchema; keys it no longer knows are dropped. */
const storedSettingsSchema = z.object(projectSettingsSchema.shape);
type ProjectSettings = z.infer<typeof storedSettingsSchema>;

/** A project's stored settings; ones that no longer parse fail closed rather than lose a ceiling. */
export function parseProjectSettings(slug: string, settings: unknown): ProjectSettings {
  const parsed = storedSettingsSchema.safeParse(settings ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new Invalid(
    `project '${slug}' has invalid settings (${issue?.path.join('.')}: ${issue?.message}); fix them with PATCH /api/projects/${slug}`,
  );
}

/** The stricter of two approval modes (later in APPROVAL_MODES is stricter). */
function stricter(a: ApprovalMode, b: ApprovalMode | undefined): ApprovalMode {
  return b !== undefined && APPROVAL_MODES.indexOf(b) > APPROVAL_MODES.indexOf(a) ? b : a;
}

const lowest = (ceiling: number, ...asked: Array<number | undefined>) =>
  Math.min(ceiling, ...asked.filter((v): v is number => v !== undefined));

/**
 * A task's run options, parsed once at submit (and for each re-run): the task's context under
 * its project's settings and the server's limits. Approval, approval_by_submitter, the limits and
 * the network are ceilings the task can only tighten; repo, ref and model are project defaults the
 * task overrides.
 */
export function resolveRunOptions(input: {
  context: SubmitContext;
  project: { slug: string; settings: unknown };
  skill: string | null;
  server: ServerLimits;
}): RunOptions {
  const { context: task, server } = input;
  const project = parseProjectSettings(input.project.slug, input.project.settings);
  const model = task.model || project.model;
  const repo = task.repo || project.repo;
  const ref = task.ref || project.ref;
  const thinking = THINKING_LEVELS.find((t) => t === task.thinking);
  const github = runGithub(project.github, task.create_pr);
  return {
    project: input.project.slug,
    approval: stricter(stricter('none', project.approval), task.approval),
    approval_by_submitter: project.approval_by_submitter !== false && task.approval_by_submitter !== false,
    max_turns: lowest(server.MAX_TURNS, project.max_turns, task.max_turns),
    max_tokens: lowest(server.MAX_TOKENS, project.max_tokens, task.max_tokens),
    max_cost_usd: lowest(server.MAX_COST_USD, project.max_cost_usd, task.max_cost_usd),
    // The project's alone (a task cannot turn its cost ceiling into a question); absent means fail.
    ...(project.on_limit === 'ask' ? { on_limit: 'ask' as const } : {}),
    ...narrowNetwork(project, task),
    ...(model ? { model } : {}),
    // An unknown level is ignored, as the providers' adapters always did.
    ...(thinking ? { thinking } : {}),
    ...(input.skill ? { skill: input.skill } : {}),
    ...(repo ? { repo } : {}),
    ...(ref ? { ref } : {}),
    ...(task.echo ? { echo: task.echo } : {}),
    ...(task.openhands ? { openhands: task.openhands } : {}),
    ...(github ? { github } : {}),
  };
}

/**
 * A linked project's delivery: its pull_requests setting, which `context.create_pr` overrides
 * (false: no PR; true: a PR, through approval when the project asks for one).
 */
function runGithub(linked: ProjectSettings['github'], createPr: boolean | undefined): RunGithub | undefined {
  if (!linked) return undefined;
  const setting = linked.pull_requests ?? 'auto';
  const pullRequests = createPr === false ? 'off' : createPr === true && setting === 'off' ? 'auto' : setting;
  return {
    repo: linked.repo,
    ...(linked.base ? { base: linked.base } : {}),
    pull_requests: pullRequests,
    draft: linked.draft === true,
  };
}

/**
 * The execution's stored context: the caller's own keys (description, parentTaskId, metadata),
 * with every run option replaced by its resolved value.
 */
export function contextToStore(context: SubmitContext, options: RunOptions): Record<string, unknown> {
  const extra = Object.fromEntries(
    Object.entries(context).filter(
      ([key]) => key !== 'create_pr' && !(RUN_OPTION_KEYS as readonly string[]).includes(key),
    ),
  );
  return { ...extra, ...options };
}

/**
 * The run options of a stored execution, for the worker and the approval check. An execution
 * submitted before run options were stored has its project's settings already merged into its
 * context (the network narrowed by them): it gets the server's limits as ceilings.
 */
export function storedRunOptions(stored: unknown, server: ServerLimits): RunOptions {
  const parsed = runOptionsSchema.safeParse(stored);
  if (parsed.success) return parsed.data;
  const legacy = submitContextSchema.safeParse(stored ?? {});
  if (!legacy.success) {
    const issue = legacy.error.issues[0];
    throw new Invalid(`the execution's context is invalid: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const { network, network_allow } = legacy.data;
  return resolveRunOptions({
    context: legacy.data,
    project: { slug: legacy.data.project ?? INBOX, settings: { network, network_allow } },
    skill: legacy.data.skill ?? null,
    server,
  });
}

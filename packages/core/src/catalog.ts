import type { AgentInfoDto, SkillInfoDto } from '@ccl/contracts';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { toSkillDto } from './skills.ts';

export async function listAgents(deps: CoreDeps, ctx: RequestCtx): Promise<AgentInfoDto[]> {
  await authorize(deps, ctx, 'agent:execute', { resourceType: 'agent' });
  await deps.agents.refresh();
  return deps.agents.list().map((a) => ({
    agent_type: a.agentType,
    name: a.name,
    description: a.description,
    available: a.available,
    capabilities: a.capabilities,
    metadata: { ...a.metadata, ...(a.reason ? { reason: a.reason } : {}) },
  }));
}

export async function listSkills(deps: CoreDeps, ctx: RequestCtx): Promise<SkillInfoDto[]> {
  await authorize(deps, ctx, 'agent:execute', { resourceType: 'skill' });
  return deps.skills.list().map(toSkillDto);
}

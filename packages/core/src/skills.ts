import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SkillInfoDto } from '@ccl/contracts';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** A skill is a folder with a SKILL.md whose YAML front matter describes it; the body is the instructions. */
export interface Skill {
  id: string;
  name: string;
  description: string | null;
  requiredPermissions: string[];
  /** Agent types it suits; empty = any. */
  agents: string[];
  instructions: string;
  source: 'builtin' | 'custom';
  path: string;
}

const frontMatterSchema = z.object({
  name: z.string().min(1).max(200),
  description: z.string().max(2000).optional(),
  required_permissions: z.array(z.string()).optional(),
  agents: z.array(z.string()).optional(),
});

export interface SkillRegistry {
  list(): Skill[];
  get(id: string): Skill | undefined;
  /** Problems found while loading (bad front matter…), for `doctor` and logs. */
  problems: string[];
}

const FRONT_MATTER = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/;

export function parseSkillFile(id: string, text: string): Omit<Skill, 'source' | 'path'> {
  const match = FRONT_MATTER.exec(text);
  if (!match) throw new Error('SKILL.md must start with a --- front matter block');
  const meta = frontMatterSchema.parse(parseYaml(match[1] ?? ''));
  return {
    id,
    name: meta.name,
    description: meta.description ?? null,
    requiredPermissions: meta.required_permissions ?? [],
    agents: meta.agents ?? [],
    instructions: (match[2] ?? '').trim(),
  };
}

async function loadDir(dir: string, source: Skill['source'], into: Map<string, Skill>, problems: string[]) {
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${dir}: ${(err as Error).message}`);
    else if (source === 'custom') problems.push(`SKILLS_DIR ${dir} does not exist`);
    return;
  }
  for (const name of entries.sort()) {
    const path = join(dir, name, 'SKILL.md');
    try {
      const text = await readFile(path, 'utf8');
      // A custom skill with a built-in's id replaces it, so teams can adapt the defaults.
      into.set(name, { ...parseSkillFile(name, text), source, path });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      problems.push(`${path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}

export async function loadSkills(opts: {
  builtinDir: string;
  customDir?: string | undefined;
}): Promise<SkillRegistry> {
  const skills = new Map<string, Skill>();
  const problems: string[] = [];
  await loadDir(opts.builtinDir, 'builtin', skills, problems);
  if (opts.customDir) await loadDir(opts.customDir, 'custom', skills, problems);
  return { list: () => [...skills.values()], get: (id) => skills.get(id), problems };
}

export function toSkillDto(s: Skill): SkillInfoDto {
  return {
    skill_id: s.id,
    name: s.name,
    description: s.description,
    required_permissions: s.requiredPermissions,
    metadata: { agents: s.agents, source: s.source },
  };
}

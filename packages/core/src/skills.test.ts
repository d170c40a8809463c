import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadSkills } from './skills.ts';

const builtinDir = fileURLToPath(new URL('../../../skills', import.meta.url));

describe('skill registry', () => {
  const dirs: string[] = [];
  afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('loads the built-in skills from SKILL.md front matter', async () => {
    const registry = await loadSkills({ builtinDir });
    expect(registry.problems).toEqual([]);
    const review = registry.get('code-review');
    expect(review).toMatchObject({
      name: 'Code review',
      source: 'builtin',
      requiredPermissions: ['task:submit'],
    });
    expect(review?.instructions).toMatch(/diff/);
  });

  it('adds SKILLS_DIR skills, lets them override built-ins, and reports broken ones', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'skills-'));
    dirs.push(dir);
    await mkdir(join(dir, 'deploy'));
    await writeFile(
      join(dir, 'deploy', 'SKILL.md'),
      '---\nname: Deploy\ndescription: Ship it\nrequired_permissions: [task:submit]\nagents: [claude]\n---\nSteps.\n',
    );
    await mkdir(join(dir, 'code-review'));
    await writeFile(join(dir, 'code-review', 'SKILL.md'), '---\nname: Team review\n---\nOur way.\n');
    await mkdir(join(dir, 'broken'));
    await writeFile(join(dir, 'broken', 'SKILL.md'), 'no front matter here');
    const registry = await loadSkills({ builtinDir, customDir: dir });
    expect(registry.get('deploy')).toMatchObject({ agents: ['claude'], source: 'custom' });
    expect(registry.get('code-review')?.name).toBe('Team review');
    expect(registry.get('broken')).toBeUndefined();
    expect(registry.problems.join('\n')).toMatch(/broken.*front matter/);
  });

  it('reports a SKILLS_DIR that does not exist', async () => {
    const registry = await loadSkills({ builtinDir, customDir: '/nonexistent/skills' });
    expect(registry.problems).toEqual(['SKILLS_DIR /nonexistent/skills does not exist']);
  });
});

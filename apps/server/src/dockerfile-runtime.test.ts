// The container image must carry every program the product starts: a missing `git` once
// made every task in a container fail. This reads the Dockerfile's final stage and the
// product's sources (no container engine needed) and fails when they disagree.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './test-support/run-cli.ts';

/** Each program product code starts, and the Debian package of the final stage that provides it. */
const PROVIDERS: Record<string, { pkg: string; why: string }> = {
  git: { pkg: 'git', why: 'every workspace: clone, diff, commit' },
  bwrap: { pkg: 'bubblewrap', why: 'the sandbox around agent commands' },
  sh: { pkg: 'dash', why: "run_command's shell (/bin/sh)" },
  id: { pkg: 'coreutils', why: "the embedded PostgreSQL's user lookup" },
  true: { pkg: 'coreutils', why: 'the sandbox start-up probe (/bin/true)' },
  tar: { pkg: 'tar', why: "a parked run's workspace, packed and unpacked (tar -z runs gzip)" },
};
/** Essential packages of Debian that node:20-bookworm-slim always has. */
const BASE_IMAGE = new Set(['dash', 'coreutils', 'bash', 'tar', 'gzip']);
/** Started only when an operator points a setting at them; documented, not shipped. */
const EXTERNAL = new Set(['goose']);

function productSources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!['node_modules', 'generated', 'test-support', 'dist'].includes(entry.name))
        productSources(path, out);
    } else if (/\.ts$/.test(entry.name) && !/\.test\.ts$|test-helpers\.ts$/.test(entry.name)) {
      out.push(path);
    }
  }
  return out;
}

/** Program names in spawn/execFile calls with a literal first argument, and absolute /usr/bin, /bin paths. */
function spawnedPrograms(): Map<string, string> {
  const dirs = [join(REPO_ROOT, 'apps', 'server', 'src')];
  for (const pkg of readdirSync(join(REPO_ROOT, 'packages'))) {
    if (pkg !== 'testing') dirs.push(join(REPO_ROOT, 'packages', pkg, 'src'));
  }
  const found = new Map<string, string>();
  const call = /\b(?:spawn|spawnSync|execFile|execFileSync)\)?\(\s*'([^']+)'/g;
  const absolute = /'(?:\/usr)?(?:\/local)?\/s?bin\/([a-z0-9_.-]+)'/g;
  for (const file of dirs.flatMap((dir) => productSources(dir))) {
    const text = readFileSync(file, 'utf8');
    for (const re of [call, absolute]) {
      for (const match of text.matchAll(re)) {
        const name = (match[1] as string).split('/').pop() as string;
        if (!found.has(name)) found.set(name, relative(REPO_ROOT, file));
      }
    }
  }
  return found;
}

/** The final stage of the Dockerfile, its packages installed with apt-get, and its entrypoint. */
function finalStage() {
  const text = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const stage = `FROM ${stages.at(-1)}`;
  const packages = new Set<string>();
  for (const match of stage.matchAll(/apt-get install ([^&\n]+)/g)) {
    for (const word of (match[1] as string).split(/\s+/))
      if (word && !word.startsWith('-')) packages.add(word);
  }
  const entrypoint = /^ENTRYPOINT (.+)$/m.exec(stage)?.[1];
  return { stage, packages, entrypoint: entrypoint ? (JSON.parse(entrypoint) as string[]) : [] };
}

describe('the Dockerfile final stage', () => {
  const { stage, packages, entrypoint } = finalStage();

  it('installs every program the product spawns', () => {
    const spawned = spawnedPrograms();
    // The scan must see the known call sites, or it proves nothing.
    expect([...spawned.keys()]).toEqual(expect.arrayContaining(['git', 'bwrap', 'sh', 'id']));
    const missing: string[] = [];
    for (const [program, file] of spawned) {
      if (EXTERNAL.has(program)) continue;
      const provider = PROVIDERS[program];
      if (!provider) {
        missing.push(
          `${program} (spawned in ${file}): add its Debian package to the Dockerfile and to PROVIDERS`,
        );
      } else if (!packages.has(provider.pkg) && !BASE_IMAGE.has(provider.pkg)) {
        missing.push(`${program} (${provider.why}; spawned in ${file}): apt-get install ${provider.pkg}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('has CA certificates for HTTPS to model providers and GitHub', () => {
    expect(packages.has('ca-certificates')).toBe(true);
  });

  it('runs the bundled server as an unprivileged user, with what it reads at run time', () => {
    expect(entrypoint).toEqual(['node', 'apps/server/dist/cli.mjs']);
    expect(stage).toMatch(/^USER clawlink$/m);
    for (const path of ['apps/server/dist', 'apps/web/dist', 'prisma', 'skills']) {
      expect(stage).toMatch(new RegExp(`^COPY --from=build /app/${path} ${path}$`, 'm'));
    }
  });
});

describe('the compose file', () => {
  it('builds this Dockerfile for the api and the workers', () => {
    const compose = readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8');
    expect(compose).toMatch(/^\s+build: \.$/m);
    expect(compose).toMatch(/command: \["start", "--role", "api"\]/);
    expect(compose).toMatch(/command: \["start", "--role", "worker"\]/);
  });
});

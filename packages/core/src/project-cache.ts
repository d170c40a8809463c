import type { Prisma } from '@ccl/db';
import type { CoreDeps } from './deps.ts';
import { TtlMap } from './ttl-map.ts';

/** What a new run needs of its project: settings, secret names, and who is in it (empty: team-wide). */
export interface ProjectForRunRead {
  settings: Prisma.JsonValue;
  secrets: string[];
  /** The members' user ids; a project with none is reached by everyone with the permissions. */
  members: string[];
}

/**
 * Every submit reads its project (settings, secret names, members), so an API process keeps that
 * read per slug. The database says when one changed: triggers on projects, project_members and
 * project_secrets send CHANNELS.projects with the change's commit, whoever made it (this process,
 * another one, the CLI), and every kept read is dropped then, as on a LISTEN gap (ReadCache.forgetAll).
 * The TTL only bounds what a notice lost some other way could leave behind. A read that a notice
 * overtook is answered but not kept, and a read that starts after one never joins an older one.
 */
export class ProjectCache {
  private readonly kept: TtlMap<ProjectForRunRead>;
  private readonly loading = new Map<string, Promise<ProjectForRunRead | null>>();
  private epoch = 0;

  constructor(ttlMs = 60_000, max = 1_000) {
    this.kept = new TtlMap(ttlMs, max);
  }

  get(slug: string): ProjectForRunRead | undefined {
    return this.kept.get(slug);
  }

  /** A miss: `read` (null: no such project, which is never kept: the first submit creates it). */
  load(slug: string, read: () => Promise<ProjectForRunRead | null>): Promise<ProjectForRunRead | null> {
    const epoch = this.epoch;
    const key = `${epoch}:${slug}`;
    const running = this.loading.get(key);
    if (running) return running;
    const started = read()
      .then((found) => {
        if (found && epoch === this.epoch) this.kept.set(slug, found);
        return found;
      })
      .finally(() => this.loading.delete(key));
    this.loading.set(key, started);
    return started;
  }

  /** A project, its members or its secrets changed somewhere (or notices may have been lost). */
  forget(): void {
    this.epoch++;
    this.kept.clear();
  }
}

/**
 * After a write of a project, its members or its secrets: this process's next submit reads it
 * again at once; other processes hear the triggers' notice (CHANNELS.projects).
 */
export function projectChanged(deps: Partial<Pick<CoreDeps, 'cache'>>): void {
  deps.cache?.projects.forget();
}

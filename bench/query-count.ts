// Diagnostic preload (node --import bench/query-count.ts): counts the SQL statements this process
// sends through `pg` (Prisma's driver adapter and raw queries alike), by statement, and writes them
// to $BENCH_COUNT_QUERIES/queries-<pid>.json when the process exits. It wraps every query, so a run
// with it is for reading the statement mix, not for timing.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

type Query = (this: unknown, config: unknown, ...rest: unknown[]) => unknown;

const dir = process.env.BENCH_COUNT_QUERIES;
if (dir) {
  // The copy of pg that Prisma's adapter loads (packages/db's dependency).
  const fromDb = createRequire(new URL('../packages/db/package.json', import.meta.url));
  const pg = createRequire(fromDb.resolve('@prisma/adapter-pg'))('pg') as {
    Client: { prototype: { query: Query } };
  };
  const counts = new Map<string, number>();
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: unknown, config: unknown, ...rest: unknown[]) {
    const text = typeof config === 'string' ? config : ((config as { text?: string })?.text ?? '');
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 120);
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return query.call(this, config, ...rest);
  };
  process.on('exit', () => {
    const sorted = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
    writeFileSync(join(dir, `queries-${process.pid}.json`), JSON.stringify(sorted, null, 1));
  });
}

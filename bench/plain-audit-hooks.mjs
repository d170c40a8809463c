// Bench only (node --import tsx --import bench/plain-audit-hooks.mjs …): every import of
// packages/core/src/audit.ts gets bench/plain-audit.ts instead, which re-exports that module with
// writeAudit replaced by a plain insert. Imported on the main thread it registers itself as the
// module hooks; on the hooks thread it only provides `resolve`.
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

const original = new URL('../packages/core/src/audit.ts', import.meta.url).href;
const replacement = new URL('./plain-audit.ts', import.meta.url).href;

if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  // plain-audit.ts itself re-exports the original.
  if (resolved.url === original && context.parentURL !== replacement)
    return { ...resolved, url: replacement };
  return resolved;
}

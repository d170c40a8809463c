import { writeAudit } from '../audit.ts';
import { authorize } from '../authorize.ts';
import type { RequestCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { Conflict, NotFound } from '../errors.ts';
import { projectChanged } from '../project-cache.ts';
import { type Keyring, open, seal } from './keyring.ts';

/** What the API shows of a secret: never its value. */
export interface SecretInfo {
  name: string;
  key_id: string;
  created_by: string;
  updated_at: string;
}

const scopeOf = (projectId: string, name: string) => `project:${projectId}:${name}`;

function keyringOf(deps: Pick<CoreDeps, 'secrets'>): Keyring {
  if (!deps.secrets) {
    throw new Conflict(
      'this server has no SECRETS_KEY configured, so it cannot store secrets; an admin sets it',
    );
  }
  return deps.secrets;
}

async function projectOf(deps: CoreDeps, slug: string) {
  const project = await deps.prisma.project.findUnique({ where: { slug } });
  if (!project) throw new NotFound(`project '${slug}' not found`);
  return project;
}

export async function listProjectSecrets(
  deps: CoreDeps,
  ctx: RequestCtx,
  slug: string,
): Promise<SecretInfo[]> {
  await authorize(deps, ctx, 'secret:manage', { resourceType: 'project', resourceId: slug });
  const project = await projectOf(deps, slug);
  const rows = await deps.prisma.projectSecret.findMany({
    where: { projectId: project.id },
    orderBy: { name: 'asc' },
    select: { name: true, keyId: true, createdBy: true, updatedAt: true },
  });
  return rows.map((r) => ({
    name: r.name,
    key_id: r.keyId,
    created_by: r.createdBy,
    updated_at: r.updatedAt.toISOString(),
  }));
}

/** Creates or replaces a secret; the audit row names it, never its value. */
export async function putProjectSecret(
  deps: CoreDeps,
  ctx: RequestCtx,
  input: { slug: string; name: string; value: string },
): Promise<SecretInfo> {
  await authorize(deps, ctx, 'secret:manage', { resourceType: 'project', resourceId: input.slug });
  const keyring = keyringOf(deps);
  const project = await projectOf(deps, input.slug);
  const sealed = seal(keyring, scopeOf(project.id, input.name), input.value);
  const data = {
    keyId: sealed.keyId,
    iv: Buffer.from(sealed.iv),
    ciphertext: Buffer.from(sealed.ciphertext),
    tag: Buffer.from(sealed.tag),
    createdBy: ctx.actor.userId,
  };
  const row = await deps.prisma.$transaction(async (tx) => {
    const saved = await tx.projectSecret.upsert({
      where: { projectId_name: { projectId: project.id, name: input.name } },
      create: { projectId: project.id, name: input.name, ...data },
      update: data,
    });
    await writeAudit(deps, tx, ctx, {
      action: 'secret.put',
      resourceType: 'project',
      resourceId: project.id,
      outcome: 'ALLOWED',
      detail: { project: input.slug, name: input.name, key_id: sealed.keyId },
    });
    return saved;
  });
  projectChanged(deps);
  return {
    name: row.name,
    key_id: row.keyId,
    created_by: row.createdBy,
    updated_at: row.updatedAt.toISOString(),
  };
}

export async function deleteProjectSecret(deps: CoreDeps, ctx: RequestCtx, slug: string, name: string) {
  await authorize(deps, ctx, 'secret:manage', { resourceType: 'project', resourceId: slug });
  const project = await projectOf(deps, slug);
  await deps.prisma.$transaction(async (tx) => {
    const { count } = await tx.projectSecret.deleteMany({ where: { projectId: project.id, name } });
    if (count === 0) throw new NotFound(`project '${slug}' has no secret ${name}`);
    await writeAudit(deps, tx, ctx, {
      action: 'secret.delete',
      resourceType: 'project',
      resourceId: project.id,
      outcome: 'ALLOWED',
      detail: { project: slug, name },
    });
  });
  projectChanged(deps);
}

/** The worker's view: a project's secrets in clear, for the runner of one execution only. */
export async function openProjectSecrets(
  deps: Pick<CoreDeps, 'prisma' | 'secrets'>,
  slug: string,
): Promise<Record<string, string>> {
  if (!deps.secrets) return {};
  const rows = await deps.prisma.projectSecret.findMany({ where: { project: { slug } } });
  const out: Record<string, string> = {};
  for (const r of rows) out[r.name] = open(deps.secrets, scopeOf(r.projectId, r.name), r);
  return out;
}

/** `clawlink secrets rotate`: re-encrypts every secret not under the current key. */
export async function rotateSecrets(deps: Pick<CoreDeps, 'prisma' | 'secrets' | 'audit'>, ctx: RequestCtx) {
  const keyring = keyringOf(deps);
  const stale = await deps.prisma.projectSecret.findMany({ where: { keyId: { not: keyring.current.id } } });
  for (const r of stale) {
    const scope = scopeOf(r.projectId, r.name);
    const sealed = seal(keyring, scope, open(keyring, scope, r));
    await deps.prisma.$transaction(async (tx) => {
      await tx.projectSecret.update({
        where: { id: r.id },
        data: {
          keyId: sealed.keyId,
          iv: Buffer.from(sealed.iv),
          ciphertext: Buffer.from(sealed.ciphertext),
          tag: Buffer.from(sealed.tag),
        },
      });
      await writeAudit(deps, tx, ctx, {
        action: 'secret.rotate',
        resourceType: 'project',
        resourceId: r.projectId,
        outcome: 'ALLOWED',
        detail: { name: r.name, from: r.keyId, to: sealed.keyId },
      });
    });
  }
  return { rotated: stale.length, keyId: keyring.current.id };
}

import { randomBytes } from 'node:crypto';
import type { FakeGitHubAppConfig } from './github-app-auth.ts';
import { DOCS, notFound, ok, type Route, route } from './github-route-kit.ts';
import { actorJson } from './github-state.ts';
import { actorFor, type GitHubStore } from './github-store.ts';

export interface IssuedInstallationToken {
  token: string;
  installationId: number;
  expiresAt: Date;
}

const INSTALLATION_PERMISSIONS = {
  contents: 'write',
  pull_requests: 'write',
  issues: 'write',
  metadata: 'read',
};

/** `/user` and the GitHub App endpoints (app JWT in, installation tokens out). */
export function appRoutes(deps: {
  app: FakeGitHubAppConfig | undefined;
  store: GitHubStore;
  tokenTtlMs(): number;
  issued(token: IssuedInstallationToken): void;
}): Route[] {
  const { app, store } = deps;
  const installationId = app?.installationId;
  const firstOwner = () => [...store.repos.values()][0]?.owner ?? 'fake-owner';
  const installationJson = (owner: string) => ({
    id: installationId,
    app_id: app?.id,
    app_slug: 'fake-app',
    account: actorJson(actorFor(owner)),
    target_type: 'User',
    repository_selection: 'all',
    permissions: INSTALLATION_PERMISSIONS,
    access_tokens_url: `${store.api}/app/installations/${installationId}/access_tokens`,
    html_url: `https://github.test/settings/installations/${installationId}`,
  });

  return [
    route('GET', '/user', 'user', (ctx) => {
      if (ctx.actor.type === 'Bot') {
        return {
          status: 403,
          body: { message: 'Resource not accessible by integration', documentation_url: DOCS },
        };
      }
      return ok({ ...actorJson(ctx.actor), name: 'Fake User', email: null });
    }),
    route('GET', '/app', 'jwt', () =>
      ok({ id: app?.id, slug: 'fake-app', name: 'Fake App', owner: actorJson(actorFor(firstOwner())) }),
    ),
    route('GET', '/app/installations', 'jwt', () => ok([installationJson(firstOwner())])),
    route('GET', '/app/installations/(\\d+)', 'jwt', (ctx) =>
      Number(ctx.params[0]) === installationId ? ok(installationJson(firstOwner())) : notFound(),
    ),
    route('POST', '/app/installations/(\\d+)/access_tokens', 'jwt', (ctx) => {
      if (installationId === undefined || Number(ctx.params[0]) !== installationId) return notFound();
      const token = `ghs_${randomBytes(18).toString('hex')}`;
      const expiresAt = new Date(Date.now() + deps.tokenTtlMs());
      deps.issued({ token, installationId, expiresAt });
      const permissions = (ctx.body.permissions as object | undefined) ?? INSTALLATION_PERMISSIONS;
      const expires_at = expiresAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
      return ok({ token, expires_at, permissions, repository_selection: 'all' }, 201);
    }),
    route('GET', '/repos/installation', 'jwt', (ctx) => ok(installationJson(ctx.repo.owner))),
  ];
}

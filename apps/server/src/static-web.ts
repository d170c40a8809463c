import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { AppInstance } from './app.ts';
import type { PageFallback } from './errors.ts';
import { open } from './permission-matrix.ts';

export const WEB_DIST = fileURLToPath(new URL('../../web/dist', import.meta.url));

/** Paths the SPA fallback must never shadow. */
const SERVER_PATHS = /^\/(api|docs|healthz|readyz)(\/|$|\?)/;

/**
 * Serves the board (apps/web, built by `npm start`/`turbo build`) at the root:
 * hashed assets with a year's cache, index.html never cached, and the SPA's own
 * routes falling back to index.html. Without a build the root leads to the API docs.
 */
export async function registerWeb(
  app: AppInstance,
  setPageFallback: (f: PageFallback) => void,
  distDir = WEB_DIST,
): Promise<boolean> {
  if (!existsSync(`${distDir}/index.html`)) return false;
  await app.register(fastifyStatic, {
    root: distDir,
    // Only reply.sendFile: the routes below decide what is served (and what falls back).
    serve: false,
    // Our own header below; send's default (public, max-age=0) would replace it.
    cacheControl: false,
    setHeaders: (res, path) => {
      res.setHeader(
        'cache-control',
        path.includes('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
  const sendIndex = (reply: {
    header: (k: string, v: string) => unknown;
    sendFile: (f: string) => unknown;
  }) => {
    reply.header('cache-control', 'no-cache');
    return reply.sendFile('index.html');
  };
  app.get(
    '/',
    {
      config: { access: open('the board application shell; its data comes from the API') },
      schema: { operationId: 'board', hide: true },
    },
    (_request, reply) => sendIndex(reply),
  );
  app.get(
    '/assets/*',
    {
      config: { access: open('the board’s static, content-hashed assets') },
      schema: { operationId: 'boardAssets', hide: true },
    },
    (request, reply) => {
      const file = (request.params as { '*': string })['*'];
      return reply.sendFile(`assets/${file}`);
    },
  );
  // errors.ts owns the not-found handler (JSON 404); unmatched page loads outside the server's
  // own paths get the SPA shell from it instead.
  setPageFallback((request, reply) => {
    const accepts = request.headers.accept ?? '';
    if (request.method !== 'GET' || SERVER_PATHS.test(request.url) || !accepts.includes('text/html')) {
      return false;
    }
    sendIndex(reply);
    return true;
  });
  return true;
}

import type { FastifyRequest } from 'fastify';

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * `path` on the address the caller reached (scheme and Host as a trusted proxy forwards them, see
 * TRUST_PROXY), for links the server hands out; a malformed Host gets the path alone.
 */
export function publicUrl(request: FastifyRequest, path: string): string {
  return HOST.test(request.host) ? `${request.protocol}://${request.host}${path}` : path;
}

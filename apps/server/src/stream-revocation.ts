import type { ServerResponse } from 'node:http';
import type { CoreDeps, RequestCtx } from '@ccl/core';
import type { FastifyRequest } from 'fastify';
import { credentialCheck } from './auth.ts';
import type { EventHub } from './event-hub.ts';

/**
 * Ends an event stream once the credential it was opened with no longer holds (key, browser
 * session or device revoked, owner disabled, role changed), however long the stream has been open.
 * A revocation in any process is announced on CHANNELS.sessions without saying whose; each open
 * stream then re-checks its own credential, one check at a time, a burst of notices coalesced. A
 * check that fails (the database gone) ends the stream too: the client reconnects and proves
 * itself again. Returns the function that stops watching, for when the stream closes.
 */
export function endOnRevocation(
  app: { deps: CoreDeps; hub: EventHub },
  request: FastifyRequest,
  ctx: RequestCtx,
  res: ServerResponse,
  close: () => void,
): () => void {
  const stillValid = credentialCheck(app.deps, request, ctx);
  let checking = false;
  let again = false;
  const end = () => {
    res.write(
      `event: revoked\ndata: ${JSON.stringify({ message: 'the credential of this stream was revoked' })}\n\n`,
    );
    close();
  };
  const check = async () => {
    if (checking) {
      again = true;
      return;
    }
    checking = true;
    try {
      do {
        again = false;
        if (!(await stillValid())) return end();
      } while (again);
    } catch (err) {
      request.log.warn({ err }, 'event stream: credential check failed; ending the stream');
      close();
    } finally {
      checking = false;
    }
  };
  return app.hub.onRevocation(() => void check());
}

import {
  approvedDeviceSchema,
  deviceSchema,
  errorBodySchema,
  idParamsSchema,
  listDevicesQuerySchema,
} from '@ccl/contracts';
import { approveDevice, listDevices, revokeDevice } from '@ccl/core';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { actorOf, signedIn } from '../permission-matrix.ts';
import { publicUrl } from '../public-url.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const tags = ['devices (CoderClaw pairing)'];

/** Paired CoderClaw devices: a user decides on their own, device:approve on everyone's. */
export async function deviceRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.get(
    '/api/devices',
    {
      config: { access: signedIn('own CoderClaw devices; everyone’s need device:approve') },
      schema: {
        operationId: 'listDevices',
        tags,
        summary: 'Your CoderClaw devices (everyone’s with device:approve); ?state=pending for requests',
        querystring: listDevicesQuerySchema,
        response: { 200: z.array(deviceSchema), ...errors },
      },
    },
    async (request) => listDevices(deps, actorOf(request), { state: request.query.state }),
  );

  app.post(
    '/api/devices/:id/approve',
    {
      config: {
        access: signedIn(
          'own devices (not from a runtime session or a narrowed key); another user’s need device:approve and every permission of their owner',
        ),
      },
      schema: {
        operationId: 'approveDevice',
        tags,
        summary:
          'Approve a device; answers, once, the base URL with its secret that its CoderClaw adapter uses',
        description:
          'The secret is shown only in this answer (its hash is stored). Approving an approved device again ' +
          'replaces its secret: the old base URL stops working.',
        params: idParamsSchema,
        response: { 200: approvedDeviceSchema, ...errors },
      },
    },
    async (request, reply) => {
      const approved = await approveDevice(deps, actorOf(request), { id: request.params.id });
      reply.header('cache-control', 'no-store');
      return { ...approved, base_url: publicUrl(request, `/k/${approved.secret}`) };
    },
  );

  app.post(
    '/api/devices/:id/revoke',
    {
      config: { access: signedIn('own devices; another user’s need device:approve') },
      schema: {
        operationId: 'revokeDevice',
        tags,
        summary: 'Revoke a device and end its runtime sessions at once',
        params: idParamsSchema,
        response: { 200: deviceSchema, ...errors },
      },
    },
    async (request) => revokeDevice(deps, actorOf(request), { id: request.params.id }),
  );
}

import { deviceSchema, errorBodySchema, idParamsSchema, listDevicesQuerySchema } from '@ccl/contracts';
import { approveDevice, listDevices, revokeDevice } from '@ccl/core';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { requestCtx } from '../auth.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const tags = ['devices (CoderClaw pairing)'];

/** Paired CoderClaw devices: a user decides on their own, device:approve on everyone's. */
export async function deviceRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.get(
    '/api/devices',
    {
      schema: {
        operationId: 'listDevices',
        tags,
        summary: 'Your CoderClaw devices (everyone’s with device:approve); ?state=pending for requests',
        querystring: listDevicesQuerySchema,
        response: { 200: z.array(deviceSchema), ...errors },
      },
    },
    async (request) => listDevices(deps, await requestCtx(deps, request), { state: request.query.state }),
  );

  app.post(
    '/api/devices/:id/approve',
    {
      schema: {
        operationId: 'approveDevice',
        tags,
        summary: 'Approve a device: its CoderClaw adapter gets sessions from now on',
        params: idParamsSchema,
        response: { 200: deviceSchema, ...errors },
      },
    },
    async (request) => approveDevice(deps, await requestCtx(deps, request), { id: request.params.id }),
  );

  app.post(
    '/api/devices/:id/revoke',
    {
      schema: {
        operationId: 'revokeDevice',
        tags,
        summary: 'Revoke a device and end its runtime sessions at once',
        params: idParamsSchema,
        response: { 200: deviceSchema, ...errors },
      },
    },
    async (request) => revokeDevice(deps, await requestCtx(deps, request), { id: request.params.id }),
  );
}

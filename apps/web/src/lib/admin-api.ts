import type {
  ApiKeyDto,
  ApprovedDeviceDto,
  createdApiKeySchema,
  DeviceDto,
  ProjectDto,
  roleSchema,
  secretInfoSchema,
  userAccountSchema,
  webSessionSchema,
} from '@ccl/contracts';
import { api, query } from './api.ts';

/** A contract schema's parsed type, without the board depending on zod itself. */
type Infer<S extends { _output: unknown }> = S['_output'];

export type CreatedApiKeyDto = Infer<typeof createdApiKeySchema>;
export type SecretInfoDto = Infer<typeof secretInfoSchema>;
export type WebSessionDto = Infer<typeof webSessionSchema>;
export type UserAccountDto = Infer<typeof userAccountSchema>;
export type RoleDto = Infer<typeof roleSchema>;
export type ProjectSettings = ProjectDto['settings'];

export const keys = {
  list: (all: boolean) => api.get<ApiKeyDto[]>(`/api/keys${query({ all: all ? 'true' : undefined })}`),
  create: (body: { name: string; permissions: string[]; expires_at?: string }) =>
    api.post<CreatedApiKeyDto>('/api/keys', body),
  revoke: (id: string) => api.post<ApiKeyDto>(`/api/keys/${id}/revoke`),
};

export const devices = {
  list: () => api.get<DeviceDto[]>('/api/devices'),
  /** Answers, once, the base URL with the device's secret; approving again replaces it. */
  approve: (id: string) => api.post<ApprovedDeviceDto>(`/api/devices/${id}/approve`),
  revoke: (id: string) => api.post<DeviceDto>(`/api/devices/${id}/revoke`),
};

const slugPath = (slug: string) => `/api/projects/${encodeURIComponent(slug)}`;

export const projects = {
  list: () => api.get<ProjectDto[]>('/api/projects'),
  saveSettings: (slug: string, settings: ProjectSettings) =>
    api.patch<ProjectDto>(slugPath(slug), { settings }),
  secrets: (slug: string) => api.get<SecretInfoDto[]>(`${slugPath(slug)}/secrets`),
  putSecret: (slug: string, name: string, value: string) =>
    api.put<SecretInfoDto>(`${slugPath(slug)}/secrets/${name}`, { value }),
  deleteSecret: (slug: string, name: string) => api.delete(`${slugPath(slug)}/secrets/${name}`),
};

export const sessions = {
  list: () => api.get<WebSessionDto[]>('/api/auth/sessions'),
  revoke: (id: string) => api.post(`/api/auth/sessions/${id}/revoke`),
  changePassword: (current_password: string, new_password: string) =>
    api.post('/api/auth/password', { current_password, new_password }),
};

export const users = {
  list: () => api.get<UserAccountDto[]>('/api/users'),
  create: (body: { id: string; name?: string; role: string; password?: string }) =>
    api.post<UserAccountDto>('/api/users', body),
  update: (
    id: string,
    body: {
      name?: string;
      role?: string;
      disabled?: boolean;
      password?: string;
      github_login?: string | null;
      /**
       * US dollars per calendar month; null removes the budget. Text that is not a number goes as
       * typed, so the API's own validation says what is wrong with it.
       */
      budget_usd_month?: number | string | null;
    },
  ) => api.patch<UserAccountDto>(`/api/users/${encodeURIComponent(id)}`, body),
  roles: () => api.get<RoleDto[]>('/api/roles'),
  putRole: (name: string, body: { description?: string; permissions: string[] }) =>
    api.put<RoleDto>(`/api/roles/${encodeURIComponent(name)}`, body),
};

import { describe, expect, it } from 'vitest';
import { boardPath, loginPath, parseRoute, safeNext } from './router.ts';

describe('routes', () => {
  it('maps the SPA paths to pages', () => {
    expect(parseRoute('/')).toEqual({ page: 'board', project: null });
    expect(parseRoute('/projects/my%20app')).toEqual({ page: 'board', project: 'my app' });
    expect(parseRoute('/tasks/new', '?project=demo')).toEqual({ page: 'new', project: 'demo' });
    expect(parseRoute('/tasks/abc')).toEqual({ page: 'task', id: 'abc' });
    expect(parseRoute('/audit/')).toEqual({ page: 'audit' });
    expect(parseRoute('/account')).toEqual({ page: 'account' });
    expect(parseRoute('/account/x')).toEqual({ page: 'not_found', path: '/account/x' });
    expect(parseRoute('/nope/x')).toEqual({ page: 'not_found', path: '/nope/x' });
    expect(boardPath('a b')).toBe('/projects/a%20b');
    expect(boardPath(null)).toBe('/');
  });

  it('maps the sign-in and admin paths', () => {
    expect(parseRoute('/login', '?next=%2Ftasks%2Fabc')).toEqual({ page: 'login', next: '/tasks/abc' });
    expect(parseRoute('/admin')).toEqual({ page: 'admin', section: 'home', project: null });
    expect(parseRoute('/admin/devices')).toEqual({ page: 'admin', section: 'devices', project: null });
    expect(parseRoute('/admin/projects', '?project=demo')).toEqual({
      page: 'admin',
      section: 'projects',
      project: 'demo',
    });
    expect(parseRoute('/admin/nope')).toEqual({ page: 'not_found', path: '/admin/nope' });
    expect(loginPath('/admin/keys?x=1')).toBe('/login?next=%2Fadmin%2Fkeys%3Fx%3D1');
  });

  it('sends a sign-in only back to a path of our own', () => {
    for (const bad of [
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      'javascript:alert(1)',
      '/login',
    ]) {
      expect(safeNext(bad), bad).toBe('/');
    }
    expect(safeNext(null)).toBe('/');
    expect(safeNext('/projects/demo?x=1')).toBe('/projects/demo?x=1');
  });
});

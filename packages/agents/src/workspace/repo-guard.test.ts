import { describe, expect, it } from 'vitest';
import { checkRepoUrl, gitGuardConfig, isPublicAddress, type RepoPolicy } from './repo-guard.ts';

const TEAM: RepoPolicy = { allowLocal: false, allowPrivate: [] };
const LOCAL: RepoPolicy = { allowLocal: true, allowPrivate: [] };
// Offline tests: names resolve through this table, as DNS would answer.
const DNS: Record<string, string[]> = {
  'github.com': ['140.82.121.4'],
  'rebind.example': ['93.184.216.34', '10.0.0.7'],
  'internal.example': ['192.168.1.20'],
  'v6.example': ['2606:4700::1111'],
};
const lookup = async (host: string) => {
  const answers = DNS[host];
  if (!answers) throw new Error('ENOTFOUND');
  return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};

describe('repository URL guard', () => {
  it.each([
    ['https://github.com/acme/app.git', 'github.com', '140.82.121.4'],
    ['ssh://git@github.com/acme/app.git', 'github.com', '140.82.121.4'],
    ['git@github.com:acme/app.git', 'github.com', '140.82.121.4'],
    ['https://github.com:8443/acme/app.git', 'github.com', '140.82.121.4'],
    ['https://v6.example/a.git', 'v6.example', '2606:4700::1111'],
  ])('accepts %s', async (url, host, pin) => {
    const target = await checkRepoUrl(url, TEAM, { lookup });
    expect(target).toMatchObject({ kind: 'remote', host, pin });
  });

  it.each([
    ['http://127.0.0.1:8000/x.git', /loopback or private/],
    ['http://localhost/x.git', /does not resolve|loopback or private/],
    ['https://10.1.2.3/x.git', /loopback or private/],
    ['https://169.254.169.254/latest/meta-data', /loopback or private/],
    ['https://[::1]/x.git', /loopback or private/],
    ['https://[::ffff:127.0.0.1]/x.git', /loopback or private/],
    ['https://[fd00::1]/x.git', /loopback or private/],
    ['git@internal.example:a/b.git', /loopback or private/],
    ['https://rebind.example/a.git', /loopback or private/],
    ['https://nowhere.example/a.git', /does not resolve/],
    ['ext::sh -c touch% /tmp/pwned', /transport helper/],
    ['fd::17/repo', /transport helper/],
    ['ftp://github.com/a.git', /https, http, ssh or git/],
    ['--upload-pack=touch /tmp/x', /cannot start with/],
    ['/srv/repos/app', /local repository paths are not allowed/],
    ['file:///etc', /local repository paths are not allowed/],
    ['../other', /local repository paths are not allowed/],
    ['just words', /neither a URL/],
  ])('refuses %s on a team server', async (url, why) => {
    await expect(checkRepoUrl(url, TEAM, { lookup })).rejects.toThrow(why);
  });

  it('allows local paths when the policy does', async () => {
    await expect(checkRepoUrl('/srv/repos/app', LOCAL, { lookup })).resolves.toEqual({ kind: 'local' });
    await expect(checkRepoUrl('file:///srv/repos/app', LOCAL, { lookup })).resolves.toEqual({
      kind: 'local',
    });
  });

  it('allows private hosts an admin listed, by name, address or range', async () => {
    const policy = { allowLocal: false, allowPrivate: ['internal.example', '10.0.0.0/8', '127.0.0.1'] };
    await expect(checkRepoUrl('git@internal.example:a/b.git', policy, { lookup })).resolves.toMatchObject({
      host: 'internal.example',
    });
    await expect(checkRepoUrl('https://rebind.example/a.git', policy, { lookup })).resolves.toMatchObject({
      pin: '93.184.216.34',
    });
    await expect(checkRepoUrl('http://127.0.0.1:3000/a.git', policy, { lookup })).resolves.toMatchObject({
      port: 3000,
    });
    await expect(checkRepoUrl('http://127.0.0.2/a.git', policy, { lookup })).rejects.toThrow(/private/);
  });

  it('pins git to the checked address and turns off transports and redirects', async () => {
    const target = await checkRepoUrl('https://github.com/acme/app.git', TEAM, { lookup });
    const args = gitGuardConfig(target, TEAM);
    expect(args).toContain('http.curloptResolve=github.com:443:140.82.121.4');
    expect(args).toContain('protocol.allow=never');
    expect(args).toContain('protocol.file.allow=never');
    expect(args).toContain('http.followRedirects=false');
    const v6 = gitGuardConfig(await checkRepoUrl('https://v6.example/a.git', TEAM, { lookup }), TEAM);
    expect(v6).toContain('http.curloptResolve=v6.example:443:[2606:4700::1111]');
  });

  it('classifies addresses', () => {
    expect(isPublicAddress('8.8.8.8')).toBe(true);
    expect(isPublicAddress('172.20.0.1')).toBe(false);
    expect(isPublicAddress('100.64.0.1')).toBe(false);
    expect(isPublicAddress('::ffff:8.8.8.8')).toBe(true);
    expect(isPublicAddress('fe80::1')).toBe(false);
  });
});

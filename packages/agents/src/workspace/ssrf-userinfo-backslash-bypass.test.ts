import { networkInterfaces } from 'node:os';
import { describe, expect, it } from 'vitest';
import { checkRepoUrl, cloneUrl, gitGuardConfig, isPublicAddress, type RepoPolicy } from './repo-guard.ts';

/**
 * Issue 17, item 3. `http://192.0.2.2\@127.0.0.1:8300/x` passed the guard as 192.0.2.2 (the WHATWG
 * parser reads `\` as a path separator) while git's curl connected to 127.0.0.1 (it reads
 * `192.0.2.2\` as a user name); and 192.0.2.2, this machine's own address in a documentation range,
 * counted as public. No packet leaves this machine: every host below is an IP literal, loopback, or
 * answered by the table `lookup` reads.
 */
const TEAM: RepoPolicy = { allowLocal: false, allowPrivate: [] };
const DNS: Record<string, string[]> = {
  'github.com': ['140.82.121.4'],
  'docs.example': ['203.0.113.10'],
  'self.example': ['8.8.4.4'],
};
const lookup = async (host: string) => {
  const answers = DNS[host];
  if (!answers) throw new Error('ENOTFOUND');
  return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
};
const check = (url: string, policy: RepoPolicy = TEAM, ownAddresses?: string[]) =>
  checkRepoUrl(url, policy, { lookup, ...(ownAddresses ? { ownAddresses } : {}) });

/** This machine's own addresses, as the guard reads them. */
const ownAddresses = Object.values(networkInterfaces())
  .flat()
  .flatMap((i) => (i ? [i.address] : []));

describe('SSRF guard: one parser, no userinfo, no backslash (issue 17 item 3)', () => {
  it.each([
    ['http://192.0.2.2\\@127.0.0.1:8300/x'],
    ['http://140.82.121.4\\@127.0.0.1/x.git'],
    ['https://github.com\\@127.0.0.1/x.git'],
    ['ssh://git@github.com\\@127.0.0.1/x.git'],
    ['git@github.com:acme\\app.git'],
  ])('refuses a backslash anywhere: %s', async (url) => {
    await expect(check(url)).rejects.toThrow(/backslash/);
  });

  it.each([
    ['https://token@github.com/acme/app.git'],
    ['https://user:secret@github.com/acme/app.git'],
    ['http://140.82.121.4@127.0.0.1:8300/x'],
    ['git://me@github.com/acme/app.git'],
    ['ssh://git:secret@github.com/acme/app.git'],
  ])('refuses credentials or a user name in an http(s) or git URL: %s', async (url) => {
    await expect(check(url)).rejects.toThrow(/user name or password/);
  });

  it.each([
    ['ssh://-oProxyCommand@github.com/a.git', /user name or password/],
    ['-oProxyCommand@github.com:a.git', /cannot start with/],
    ['git@-oProxyCommand:a.git', /invalid host/],
    ['ssh://git@github.com/-oProxyCommand', /repository path/],
    ['ssh://git@git$(id)hub.com/a.git', /invalid host/],
  ])('refuses ssh parts that would read as options or shell: %s', async (url, why) => {
    await expect(check(url)).rejects.toThrow(why);
  });

  it('keeps the ssh login user, and answers the normalised URL it checked', async () => {
    await expect(check('ssh://git@github.com/acme/app.git')).resolves.toMatchObject({
      url: 'ssh://git@github.com/acme/app.git',
      host: 'github.com',
      pin: '140.82.121.4',
    });
    await expect(check('git@github.com:acme/app.git')).resolves.toMatchObject({
      url: 'git@github.com:acme/app.git',
      pin: '140.82.121.4',
    });
    await expect(check('HTTPS://GitHub.COM:443/acme/./x/../app.git#readme')).resolves.toMatchObject({
      url: 'https://github.com/acme/app.git',
      port: 443,
    });
  });

  it.each([
    // Documentation ranges (RFC 5737, RFC 3849, RFC 9637).
    'http://192.0.2.2/x',
    'http://198.51.100.7/x',
    'http://203.0.113.9/x',
    'https://[2001:db8::1]/x',
    'https://[3fff::1]/x',
    // Reserved and special-purpose ranges.
    'http://0.1.2.3/x',
    'http://100.64.0.1/x',
    'http://192.0.0.8/x',
    'http://192.88.99.1/x',
    'http://198.18.0.1/x',
    'http://198.19.255.254/x',
    'http://240.0.0.1/x',
    'http://255.255.255.255/x',
    'http://224.0.0.251/x',
    'http://239.255.255.250/x',
    'https://[ff02::1]/x',
    'https://[::]/x',
    'https://[100::1]/x',
    'https://[2002:7f00:1::1]/x',
    'https://[2001::1]/x',
    'https://[fec0::1]/x',
    'https://[::ffff:7f00:1]/x',
    'https://[::127.0.0.1]/x',
    // Other spellings of loopback the URL parser normalises.
    'http://2130706433/x',
    'http://0x7f.0.0.1/x',
    'http://0177.0.0.1/x',
    // A name that resolves into a documentation range.
    'https://docs.example/a.git',
  ])('treats documentation and reserved ranges as private: %s', async (url) => {
    await expect(check(url)).rejects.toThrow(/loopback or private/);
  });

  it("treats the server's own interface addresses as private", async () => {
    expect(ownAddresses.length).toBeGreaterThan(0);
    for (const address of ownAddresses) {
      const host = address.includes(':') ? `[${address.split('%')[0]}]` : address;
      await expect(check(`http://${host}:8300/x`), address).rejects.toThrow(/loopback or private/);
    }
    // A server whose own address is public: its address, and a name resolving to it, are refused.
    await expect(check('https://8.8.4.4/a.git', TEAM, ['8.8.4.4'])).rejects.toThrow(/loopback or private/);
    await expect(check('https://self.example/a.git', TEAM, ['8.8.4.4'])).rejects.toThrow(
      /loopback or private/,
    );
    await expect(check('https://8.8.4.4/a.git', TEAM, [])).resolves.toMatchObject({ host: '8.8.4.4' });
  });

  it('classifies documentation, reserved and own addresses as not public', () => {
    for (const a of [
      '192.0.2.2',
      '198.51.100.1',
      '203.0.113.1',
      '2001:db8::2',
      '240.1.2.3',
      '::ffff:c000:202',
    ])
      expect(isPublicAddress(a), a).toBe(false);
    expect(isPublicAddress('8.8.4.4', ['8.8.4.4'])).toBe(false);
    expect(isPublicAddress('8.8.4.4')).toBe(true);
    expect(isPublicAddress('2606:4700::1111')).toBe(true);
  });

  it('pins an allowed host name too, and pins ssh through ssh itself', async () => {
    const policy = { allowLocal: false, allowPrivate: ['localhost', '127.0.0.0/8'] };
    const local = await checkRepoUrl('http://localhost:8300/a.git', policy, {
      lookup: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    expect(gitGuardConfig(local, policy)).toContain('http.curloptResolve=localhost:8300:127.0.0.1');
    const ssh = await check('git@github.com:acme/app.git');
    expect(gitGuardConfig(ssh, TEAM)).toContain(
      'core.sshCommand=ssh -o Hostname=140.82.121.4 -o HostKeyAlias=github.com',
    );
    // git's own protocol has no resolve option: it is given the checked address instead of the name.
    const git = await check('git://github.com/acme/app.git');
    if (git.kind !== 'remote' || ssh.kind !== 'remote') throw new Error('expected network URLs');
    expect(cloneUrl(git)).toBe('git://140.82.121.4/acme/app.git');
    expect(cloneUrl(ssh)).toBe('git@github.com:acme/app.git');
  });
});

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeFindings, type SecretFinding, scanDiff } from './secret-scan.ts';

// Token-shaped values are generated, so this file holds none a scanner (ours or GitHub's) would flag.
function randomChars(length: number, alphabet: string, seed: number): string {
  let out = '';
  for (let i = 0; out.length < length; i++) {
    for (const byte of createHash('sha256').update(`${seed}:${i}`).digest()) {
      if (out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWabcdefghijklmnopqrstuvw0123456789';
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVW0123456789';
const B64 = `${ALNUM}+/`;

const values = {
  ghp: `ghp_${randomChars(36, ALNUM, 1)}`,
  ghs: `ghs_${randomChars(36, ALNUM, 2)}`,
  pat: `github_pat_${randomChars(22, ALNUM, 3)}_${randomChars(59, ALNUM, 4)}`,
  akia: `AKIA${randomChars(16, UPPER, 5)}`,
  awsSecret: randomChars(40, B64, 6),
  slackToken: `xoxb-${randomChars(12, '0123456789', 7)}-${randomChars(24, ALNUM, 8)}`,
  slackHook: `https://hooks.slack.com/services/T${randomChars(8, UPPER, 9)}/B${randomChars(8, UPPER, 10)}/${randomChars(24, ALNUM, 11)}`,
  openai: `sk-${randomChars(48, ALNUM, 12)}`,
  openaiProject: `sk-proj-${randomChars(40, ALNUM, 13)}_${randomChars(40, ALNUM, 14)}`,
  anthropic: `sk-ant-api03-${randomChars(90, ALNUM, 15)}-${randomChars(6, ALNUM, 16)}`,
  entropy: randomChars(32, B64, 17),
  envPassword: randomChars(24, ALNUM, 18),
  projectSecret: 'correct-horse-battery-staple',
};

/** Built, so this file does not itself look like it holds a key. */
const pemHeader = (label: string) => `-----BEGIN ${label} KEY-----`;

/** A diff adding `content` as line `line` of `file`, between two context lines. */
function addedAt(file: string, line: number, content: string): string {
  return [
    `diff --git a/${file} b/${file}`,
    'index 1111111..2222222 100644',
    `--- a/${file}`,
    `+++ b/${file}`,
    `@@ -${line - 1},2 +${line - 1},3 @@`,
    ' before',
    `+${content}`,
    ' after',
    '',
  ].join('\n');
}

describe('scanDiff finds each kind on the added line', () => {
  const cases: [string, string, string][] = [
    ['secret value', 'src/a.ts', 'const pass = "prefix correct-horse-battery-staple suffix";'],
    ['GitHub token', '.env', `export GITHUB_TOKEN=${values.ghp}`],
    ['GitHub token', 'ci.yml', `token: ${values.ghs}`],
    ['GitHub token', 'src/b.ts', `const t = '${values.pat}';`],
    ['AWS access key', '.aws/credentials', `aws_access_key_id = ${values.akia}`],
    ['AWS secret key', '.aws/credentials', `aws_secret_access_key = ${values.awsSecret}`],
    ['Slack token', 'deploy/.env', `SLACK_BOT=${values.slackToken}`],
    ['Slack webhook', 'notify.yml', `hook: "${values.slackHook}"`],
    ['OpenAI key', '.env.local', `OPENAI=${values.openai}`],
    ['OpenAI key', 'app.py', `client = OpenAI(api="${values.openaiProject}")`],
    ['Anthropic key', '.env', `ANTHROPIC=${values.anthropic}`],
    ['private key', 'certs/server.pem', pemHeader('RSA PRIVATE')],
    ['private key', 'id_ed25519', pemHeader('OPENSSH PRIVATE')],
    ['private key', 'key.pem', pemHeader('PRIVATE')],
    [
      'high-entropy value assigned to signingSecret',
      'src/c.ts',
      `const signingSecret = "${values.entropy}";`,
    ],
    ['high-entropy value assigned to apiKey', 'settings.json', `  "apiKey": "${values.entropy}",`],
    ['high-entropy value assigned to DB_PASSWORD', '.env', `DB_PASSWORD=${values.envPassword}`],
  ];
  it.each(cases)('%s in %s', (kind, file, content) => {
    const findings = scanDiff(addedAt(file, 12, content), [values.projectSecret]);
    expect(findings).toEqual([{ file, line: 12, kind }]);
  });
});

describe('scanDiff', () => {
  it('tracks files and new-file line numbers across hunks, and ignores removed and context lines', () => {
    const diff = [
      'diff --git a/src/config.ts b/src/config.ts',
      'index 1111111..2222222 100644',
      '--- a/src/config.ts',
      '+++ b/src/config.ts',
      '@@ -10,4 +10,6 @@ export const config = {',
      '   port: 8000,',
      `-  token: '${values.ghp}',`,
      `+  token: '${values.ghs}',`,
      `+  aws: '${values.akia}',`,
      `   old: '${values.openai}',`,
      '+++ b/not-a-header',
      ' };',
      '@@ -40,3 +42,4 @@ function f() {',
      ' a',
      ` b ${values.anthropic}`,
      `+  hook: '${values.slackHook}',`,
      ' c',
      'diff --git a/.env b/.env',
      'new file mode 100644',
      'index 0000000..3333333',
      '--- /dev/null',
      '+++ b/.env',
      '@@ -0,0 +1,3 @@',
      '+PORT=8000',
      '+HOST=0.0.0.0',
      `+OPENAI_API_KEY=${values.openai}`,
      'diff --git a/gone.txt b/gone.txt',
      'deleted file mode 100644',
      '--- a/gone.txt',
      '+++ /dev/null',
      '@@ -1,2 +0,0 @@',
      `-${values.pat}`,
      `-${values.projectSecret}`,
      '',
    ].join('\n');
    expect(scanDiff(diff, [values.projectSecret])).toEqual([
      { file: 'src/config.ts', line: 11, kind: 'GitHub token' },
      { file: 'src/config.ts', line: 12, kind: 'AWS access key' },
      { file: 'src/config.ts', line: 44, kind: 'Slack webhook' },
      { file: '.env', line: 3, kind: 'OpenAI key' },
    ]);
  });

  it('reports one finding per line, the first kind that matches', () => {
    const findings = scanDiff(addedAt('x.ts', 5, `${values.projectSecret} ${values.ghp} ${values.akia}`), [
      values.projectSecret,
    ]);
    expect(findings).toEqual([{ file: 'x.ts', line: 5, kind: 'secret value' }]);
  });

  it('ignores known secrets shorter than 8 characters', () => {
    expect(scanDiff(addedAt('x.ts', 5, 'const port = 8000;'), ['8000', 'const'])).toEqual([]);
  });

  it('finds a line of a multi-line secret (a PEM body added line by line)', () => {
    const body = randomChars(64, B64, 30);
    const pem = `${pemHeader('EC PRIVATE')}\n${body}\n-----END EC PRIVATE KEY-----`;
    expect(scanDiff(addedAt('k.txt', 3, body), [pem])).toEqual([
      { file: 'k.txt', line: 3, kind: 'secret value' },
    ]);
  });

  it('never puts the value in a finding or in the description', () => {
    const lines = Object.values(values).map((v, i) => addedAt(`f${i}.txt`, 2, `secret_token = "${v}"`));
    const findings = scanDiff(lines.join(''), [values.projectSecret]);
    expect(findings).toHaveLength(Object.keys(values).length);
    const text = JSON.stringify(findings) + describeFindings(findings);
    for (const v of Object.values(values)) expect(text).not.toContain(v);
  });

  it('does not flag placeholders, lockfiles or ordinary code', () => {
    const harmless = [
      `      resolution: {integrity: sha512-${randomChars(86, B64, 40)}==}`,
      `    "integrity": "sha512-${randomChars(86, B64, 41)}==",`,
      "  '@octokit/auth-token@6.0.0':",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell placeholder, meant literally
      'GITHUB_TOKEN=${GITHUB_TOKEN}',
      'api_key: <your-api-key-goes-here>',
      'password = "changeme-changeme-changeme"',
      'token: process.env.GITHUB_TOKEN_FOR_TESTS',
      'SECRET_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      "apiKey: 'your_api_key_here_12345678'",
      'aws_access_key_id = AKIAIOSFODNN7EXAMPLE',
      'const token = session.accessTokenFromDatabase;',
      '  password: hashedPasswordFromDatabase,',
      'const apiKey = crypto.randomBytes(32).toString("hex");',
      "const keyboardLayout = 'qwerty';",
      'const tokenUrl = "https://github.com/login/oauth/access_token";',
      `commit: ${randomChars(40, '0123456789abcdef', 42)}`,
      'const mask = "sk-learning-path-for-everyone";',
      'const task = "risk-assessment-for-the-new-quarter-2025";',
      'key_file: /etc/ssl/private/server-2025.key',
      'function verifyToken(token: string): boolean {',
    ];
    for (const line of harmless) expect(scanDiff(addedAt('f.txt', 2, line), []), line).toEqual([]);
  });
});

describe('describeFindings', () => {
  it('lists file:line (kind)', () => {
    const findings: SecretFinding[] = [
      { file: 'src/config.ts', line: 12, kind: 'GitHub token' },
      { file: '.env', line: 3, kind: 'AWS access key' },
    ];
    expect(describeFindings(findings)).toBe(
      'possible secrets in the diff: src/config.ts:12 (GitHub token), .env:3 (AWS access key)',
    );
  });

  it('lists at most ten and counts the rest', () => {
    const findings = Array.from({ length: 13 }, (_, i) => ({
      file: 'a.ts',
      line: i + 1,
      kind: 'OpenAI key',
    }));
    const text = describeFindings(findings);
    expect(text).toContain('a.ts:10 (OpenAI key) and 3 more');
    expect(text).not.toContain('a.ts:11');
  });
});

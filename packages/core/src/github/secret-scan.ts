/** Where a diff adds something that looks like a credential. Never carries the value itself. */
export interface SecretFinding {
  file: string;
  /** Line number in the new version of the file. */
  line: number;
  kind: string;
}

interface Pattern {
  kind: string;
  re: RegExp;
  /** Extra check on the match, for shapes that ordinary text can also take. */
  accept?: (match: string) => boolean;
}

// Lookbehinds instead of \b: `_` is a word character, and MY_ghp_… still holds a token.
const PATTERNS: readonly Pattern[] = [
  { kind: 'private key', re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/ },
  {
    kind: 'GitHub token',
    re: /(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/,
  },
  { kind: 'AWS access key', re: /(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])/ },
  {
    kind: 'AWS secret key',
    re: /aws_?secret_?access_?key["']?\s*(?::=|=>|[:=])\s*["']?[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])/i,
  },
  {
    kind: 'Slack webhook',
    re: /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9]+\/[A-Za-z0-9]+\/[A-Za-z0-9]{8,}/,
  },
  { kind: 'Slack token', re: /(?<![A-Za-z0-9])xox[baprs]-[A-Za-z0-9-]{10,}/ },
  { kind: 'Anthropic key', re: /(?<![A-Za-z0-9])sk-ant-[A-Za-z0-9_-]{20,}/ },
  {
    kind: 'OpenAI key',
    re: /(?<![A-Za-z0-9-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/,
    // Keys mix letters and digits; a long kebab-case word after "sk-" does not.
    accept: (m) => /\d/.test(m) && /[A-Za-z]/.test(m.slice(3)),
  },
];

/** Documentation's stand-ins: AKIAIOSFODNN7EXAMPLE, …/XXXXXXXXXXXXXXXX. */
const EXAMPLE_VALUE = /x{6,}|EXAMPLE/i;

/**
 * `name = "value"`, `name: value`, `"name": "value"`, `name := value`, `name => value`. The name
 * must look like it holds a credential; other names (e.g. a lockfile's `integrity`) are skipped
 * whatever their value.
 */
const ASSIGNMENT =
  /(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]{0,60}?(?:key|secret|token|passw(?:or)?d|credential)[A-Za-z0-9_.-]{0,60}?)["']?\s*(?::=|=>|[:=])\s*(?:(["'`])([^"'`\s]*)\2|([^\s"'`,;(){}[\]]+))/gi;
/** Names that hold something about a credential (where it lives, what kind it is), not the credential. */
const DESCRIPTIVE_NAME =
  /(?:url|uri|endpoint|path|file|dir|name|type|header|prefix|suffix|env|var|length|size|count|format|field|id|ids)$/i;
const PLACEHOLDER =
  /^\$|^<.*>$|^%.*%$|^\{\{.*\}\}$|x{4,}|\*{4,}|changeme|change[-_]me|your[-_]|example|placeholder|dummy|redacted|process\.env|import\.meta\.env|os\.environ|getenv/i;
const MIN_ENTROPY_LENGTH = 20;
const MIN_ENTROPY_BITS = 3.5;

/**
 * Scans the added lines of a unified git diff for credentials: the project's own secret values
 * (shorter than 8 characters ignored), well-known token shapes, and random-looking values assigned
 * to credential-like names.
 */
export function scanDiff(unifiedDiff: string, knownSecrets: readonly string[]): SecretFinding[] {
  const needles = secretNeedles(knownSecrets);
  const findings: SecretFinding[] = [];
  let file = '';
  let newLine = 0;
  let oldLeft = 0;
  let newLeft = 0;
  for (const raw of unifiedDiff.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    // Inside a hunk the counts decide, so an added line that reads "++ x" is not taken for a header.
    if (oldLeft > 0 || newLeft > 0) {
      const mark = line[0];
      if (mark === '+') {
        const kind = classify(line.slice(1), needles);
        if (kind) findings.push({ file, line: newLine, kind });
        newLine++;
        newLeft--;
      } else if (mark === '-') {
        oldLeft--;
      } else if (mark === ' ' || line === '') {
        newLine++;
        newLeft--;
        oldLeft--;
      }
      continue;
    }
    if (line.startsWith('diff --git ')) {
      file = '';
    } else if (line.startsWith('+++ ')) {
      file = headerPath(line.slice(4));
    } else if (line.startsWith('@@ ')) {
      const hunk = /^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/.exec(line);
      if (hunk) {
        oldLeft = Number(hunk[1] ?? 1);
        newLine = Number(hunk[2]);
        newLeft = Number(hunk[3] ?? 1);
      }
    }
  }
  return findings;
}

function headerPath(raw: string): string {
  let path = raw.split('\t')[0] ?? raw;
  if (path.startsWith('"') && path.endsWith('"')) path = path.slice(1, -1);
  if (path === '/dev/null') return '';
  return path.startsWith('b/') ? path.slice(2) : path;
}

/** Each secret whole, plus the lines of multi-line ones (a PEM body is added line by line). */
function secretNeedles(knownSecrets: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const secret of knownSecrets) {
    const whole = secret.trim();
    if (whole.length >= 8) needles.add(whole);
    if (whole.includes('\n')) {
      for (const part of whole.split('\n')) {
        const p = part.trim();
        if (p.length >= 16 && !p.startsWith('-----')) needles.add(p);
      }
    }
  }
  return [...needles];
}

function classify(content: string, needles: readonly string[]): string | undefined {
  if (needles.some((n) => content.includes(n))) return 'secret value';
  for (const { kind, re, accept } of PATTERNS) {
    const m = re.exec(content);
    if (m && !EXAMPLE_VALUE.test(m[0]) && (!accept || accept(m[0]))) return kind;
  }
  for (const m of content.matchAll(ASSIGNMENT)) {
    const name = m[1] ?? '';
    const quoted = m[3];
    const value = quoted ?? m[4] ?? '';
    if (DESCRIPTIVE_NAME.test(name) || !looksRandom(value, quoted === undefined)) continue;
    return `high-entropy value assigned to ${name}`;
  }
  return undefined;
}

function looksRandom(value: string, unquoted: boolean): boolean {
  if (value.length < MIN_ENTROPY_LENGTH || PLACEHOLDER.test(value)) return false;
  if (value.includes('://') || /^(?:\.{0,2}\/|~\/)/.test(value)) return false;
  // Unquoted, a digit-free word chain is code (`token = session.accessToken`), not a secret.
  if (unquoted && /^[A-Za-z_$][\w$.]*$/.test(value) && !/\d/.test(value)) return false;
  return entropy(value) >= MIN_ENTROPY_BITS;
}

/** Shannon entropy in bits per character. */
function entropy(value: string): number {
  const chars = [...value];
  const counts = new Map<string, number>();
  for (const ch of chars) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

const LISTED = 10;

/** "possible secrets in the diff: src/config.ts:12 (GitHub token), .env:3 (AWS access key)". */
export function describeFindings(findings: readonly SecretFinding[]): string {
  if (findings.length === 0) return 'no possible secrets in the diff';
  const listed = findings.slice(0, LISTED).map((f) => `${f.file}:${f.line} (${f.kind})`);
  const more = findings.length > LISTED ? ` and ${findings.length - LISTED} more` : '';
  return `possible secrets in the diff: ${listed.join(', ')}${more}`;
}

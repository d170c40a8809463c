import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { envSchema, loadConfig } from './index.ts';

const root = (file: string) =>
  readFileSync(fileURLToPath(new URL(`../../../${file}`, import.meta.url)), 'utf8');

describe('configuration', () => {
  it('documents every variable in .env.example and docs/configuration.md', () => {
    const example = root('.env.example');
    const docs = root('docs/configuration.md');
    for (const key of Object.keys(envSchema.shape)) {
      expect(example, key).toMatch(new RegExp(`^#? ?${key}=`, 'm'));
      expect(docs, key).toContain(`\`${key}\``);
    }
  });

  it('accepts .env.example as it is', () => {
    const env = Object.fromEntries(
      root('.env.example')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(() => loadConfig(env)).not.toThrow();
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ PORT: 'x', MODEL_PRICES: 'nope', DEFAULT_AGENT: 'skynet' })).toThrow(
      /PORT[\s\S]*DEFAULT_AGENT[\s\S]*MODEL_PRICES|PORT[\s\S]*MODEL_PRICES[\s\S]*DEFAULT_AGENT/,
    );
  });
});

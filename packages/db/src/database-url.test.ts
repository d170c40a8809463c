import { describe, expect, it } from 'vitest';
import { databaseNameFromUrl, databaseUrlFor, redactUrl } from './database-url.ts';

describe('database URLs', () => {
  const url = 'postgresql://app:s3cret@db.example:5433/clawlink?sslmode=require';

  it('reads and replaces the database name, keeping everything else', () => {
    expect(databaseNameFromUrl(url)).toBe('clawlink');
    expect(databaseUrlFor(url, 'ccl test')).toBe(
      'postgresql://app:s3cret@db.example:5433/ccl%20test?sslmode=require',
    );
    expect(databaseNameFromUrl(databaseUrlFor(url, 'ccl test'))).toBe('ccl test');
    expect(() => databaseNameFromUrl('postgresql://app:s3cret@db.example')).toThrow(
      'names no database: postgresql://app:***@db.example',
    );
  });

  it('hides the password', () => {
    expect(redactUrl(url)).toBe('postgresql://app:***@db.example:5433/clawlink?sslmode=require');
    expect(redactUrl('not a url')).toBe('<unparseable database url>');
  });
});

import type { Config } from '@ccl/config';
import { type DestinationStream, type Logger, pino } from 'pino';

/** Secrets never reach the log: headers and known secret fields are redacted wherever they appear. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.LOG_LEVEL,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        '*.token',
        '*.password',
        '*.apiKey',
        '*.ANTHROPIC_API_KEY',
        '*.OPENAI_API_KEY',
        '*.OPENHANDS_API_KEY',
      ],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

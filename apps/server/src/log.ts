import type { Config } from '@ccl/config';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

/** Secrets never reach the log: headers and known secret fields are redacted wherever they appear. */
const OPTIONS: LoggerOptions = {
  redact: {
    // `*.x` matches one level down only, so each name is listed at the top level too.
    paths: [
      'req.headers.authorization',
      'req.headers.cookie',
      'req.headers["x-hub-signature-256"]',
      ...[
        'token',
        'password',
        'apiKey',
        'ANTHROPIC_API_KEY',
        'OPENAI_API_KEY',
        'OPENHANDS_API_KEY',
        'GITHUB_TOKEN',
        'GITHUB_APP_PRIVATE_KEY',
        'GITHUB_WEBHOOK_SECRET',
        'TELEGRAM_BOT_TOKEN',
        'TELEGRAM_WEBHOOK_SECRET',
        'METRICS_TOKEN',
      ].flatMap((name) => [name, `*.${name}`]),
    ],
    censor: '[redacted]',
  },
};

/** A JSON logger, to stdout or to `destination`. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL'>, destination?: DestinationStream): Logger {
  const options = { ...OPTIONS, level: config.LOG_LEVEL };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * The process's logger: readable lines for a person at a terminal, JSON for everything
 * else (a pipe, a file, a log collector) and whenever LOG_FORMAT=json. pino-pretty is
 * loaded only for a terminal.
 */
export async function createProcessLogger(
  config: Pick<Config, 'LOG_LEVEL' | 'LOG_FORMAT'>,
  isTTY = process.stdout.isTTY === true,
): Promise<Logger> {
  const pretty = config.LOG_FORMAT === 'pretty' || (config.LOG_FORMAT === 'auto' && isTTY);
  if (!pretty) return createLogger(config);
  const { default: PinoPretty } = await import('pino-pretty');
  // Synchronous, in this thread: a worker-thread transport would lose the last lines on exit.
  const stream = PinoPretty({
    sync: true,
    colorize: isTTY,
    translateTime: 'HH:MM:ss',
    ignore: 'pid,hostname',
  });
  return createLogger(config, stream);
}

import { type FastifyBaseLogger, type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/** Whether a line at `level` would be written; true for a logger that cannot tell. */
function levelEnabled(logger: FastifyBaseLogger, level: Level): boolean {
  const check = (logger as Partial<Logger>).isLevelEnabled;
  return typeof check === 'function' ? check.call(logger, level) : true;
}

/**
 * `request.log`: the request's child logger, made on the first line actually written. Fastify
 * makes a child per request up front; for the polls that write nothing that was a pino child
 * (bindings serialized, prototype chain built) for every request.
 */
class RequestLogger {
  #child: FastifyBaseLogger | undefined;
  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level() {
    return this.#child?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.real().level = level;
  }

  private real(): FastifyBaseLogger {
    this.#child ??= this.parent.child(this.bindings, this.options);
    return this.#child;
  }

  isLevelEnabled(level: Level): boolean {
    // A route's own logLevel comes in the child's options: then only the child can tell.
    return levelEnabled(this.#child ?? (this.options.level ? this.real() : this.parent), level);
  }

  private write(level: Level, args: unknown[]): void {
    if (!this.isLevelEnabled(level)) return;
    (this.real()[level] as (...a: unknown[]) => void)(...args);
  }

  fatal(...args: unknown[]) {
    this.write('fatal', args);
  }
  error(...args: unknown[]) {
    this.write('error', args);
  }
  warn(...args: unknown[]) {
    this.write('warn', args);
  }
  info(...args: unknown[]) {
    this.write('info', args);
  }
  debug(...args: unknown[]) {
    this.write('debug', args);
  }
  trace(...args: unknown[]) {
    this.write('trace', args);
  }
  silent() {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real().child(bindings, options);
  }
}

export const lazyChildLogger = (
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger => new RequestLogger(logger, bindings, options) as unknown as FastifyBaseLogger;

/** Health probes: logged at debug when they succeed. */
const PROBE = /^\/(?:healthz|readyz)(?:$|\?)/;
/**
 * CoderClaw's state poll (once a second per running task): logged at debug, failed ones too. It
 * carries no credential, so a flood of made-up task ids would otherwise be a flood of log lines.
 */
const STATE_POLL = /^\/api\/runtime\/tasks\/[^/?]+\/state(?:$|\?)/;

/** Answers not worth an info line: successful probes and polls, and polls refused as unknown. */
function routine(url: string, status: number): boolean {
  if (status >= 500) return false;
  if (STATE_POLL.test(url)) return true;
  return status < 400 && PROBE.test(url);
}
/** A runtime session id is a credential; CoderClaw sends it in the query string. */
const SESSION_ID = /([?&]session_id=)[^&#]*/g;

/**
 * One line per request, when it has been answered: method, URL (session ids redacted), client,
 * status and time. Fastify's default is two lines (incoming, completed) at info for every request,
 * polls and probes included, and logs the URL with its session id.
 */
export class AccessLog extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    const level = error ? 'error' : routine(request.url, reply.statusCode) ? 'debug' : 'info';
    if (!levelEnabled(reply.log, level)) return;
    const url = request.url.includes('session_id=')
      ? request.url.replace(SESSION_ID, '$1[redacted]')
      : request.url;
    reply.log[level](
      {
        // fastify's req serializer logs `ip` as remoteAddress.
        req: { method: request.method, url, ip: request.ip },
        res: { statusCode: reply.statusCode },
        responseTime: reply.elapsedTime,
        ...(error ? { err: error } : {}),
      },
      error ? 'request errored' : 'request completed',
    );
  }
}

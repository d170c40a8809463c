/** Domain errors; each transport maps them in one place (HTTP codes, bot replies). */
export class DomainError extends Error {
  constructor(
    readonly code:
      | 'not_found'
      | 'forbidden'
      | 'unauthorized'
      | 'conflict'
      | 'invalid_state'
      | 'invalid'
      | 'rate_limited'
      | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFound extends DomainError {
  constructor(message: string) {
    super('not_found', message);
  }
}
export class Forbidden extends DomainError {
  constructor(message: string) {
    super('forbidden', message);
  }
}
export class Unauthorized extends DomainError {
  constructor(message: string) {
    super('unauthorized', message);
  }
}
export class Conflict extends DomainError {
  constructor(message: string) {
    super('conflict', message);
  }
}
export class InvalidState extends DomainError {
  constructor(message: string) {
    super('invalid_state', message);
  }
}
export class Invalid extends DomainError {
  constructor(message: string) {
    super('invalid', message);
  }
}

export class RateLimited extends DomainError {
  constructor(message: string) {
    super('rate_limited', message);
  }
}

/** A dependency (the queue, the database) is down: the request can be sent again in a moment. */
export class Unavailable extends DomainError {
  constructor(
    message: string,
    readonly retryAfterS = 5,
  ) {
    super('unavailable', message);
  }
}

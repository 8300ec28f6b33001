// Ganeti's error vocabulary, defined once. Opcode failures travel in job
// results as [className, [message, ecode]]; request-time problems become
// HTTP errors in rapi/errors.ts, the single place that maps them.

export const ECODES = [
  'resolver_error', 'insufficient_resources', 'temp_insufficient_resources',
  'wrong_input', 'wrong_state', 'unknown_entity', 'already_exists',
  'resource_not_unique', 'internal_error', 'environment_error',
] as const;
export type Ecode = (typeof ECODES)[number];

/** Base of errors that Ganeti serialises into a job's opresult. */
export class GanetiError extends Error {
  /** The Python class name the official client turns back into an exception. */
  readonly className: string = 'GenericError';
  constructor(message: string, readonly ecode?: Ecode) {
    super(message);
  }
  /** Ganeti's wire encoding: ["OpPrereqError", ["msg", "ecode"]]. */
  toResult(): [string, unknown[]] {
    return [this.className, this.ecode ? [this.message, this.ecode] : [this.message]];
  }
}

export class OpPrereqError extends GanetiError {
  override readonly className = 'OpPrereqError';
}
export class OpExecError extends GanetiError {
  override readonly className = 'OpExecError';
}
export class HypervisorError extends GanetiError {
  override readonly className = 'HypervisorError';
}
export class TagError extends GanetiError {
  override readonly className = 'TagError';
}
/** What network.AddressPool raises. */
export class AddressPoolError extends GanetiError {
  override readonly className = 'AddressPoolError';
}
/** What WConfd's IP reservations raise. */
export class ReservationError extends GanetiError {
  override readonly className = 'ReservationError';
}
/** What objects' CheckParameterSyntax raise; some LUs let it escape into the job result. */
export class ConfigurationError extends GanetiError {
  override readonly className = 'ConfigurationError';
}

/** A request Ganeti refuses before a job exists (HTTP 400). */
export class ParameterError extends Error {}
/** A request naming a static parameter in its body (HTTP 400 in Ganeti). */
export class ObjectNotFound extends Error {}
/** The queue refuses new jobs (HTTP 503 in Ganeti). */
export class QueueUnavailable extends Error {}
export class TypeEnforcementError extends GanetiError {
  override readonly className = 'TypeEnforcementError';
}

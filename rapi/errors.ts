// HTTP errors in Ganeti's wire format, and the one function that maps every
// error thrown below the HTTP layer to a status code.
import { ObjectNotFound, ParameterError, QueueUnavailable, GanetiError } from '../jobs/errors.ts';

/** Python 3.11 BaseHTTPRequestHandler.responses: Ganeti's `explain` texts. */
const REASONS: Record<number, [string, string]> = {
  400: ['Bad Request', 'Bad request syntax or unsupported method'],
  401: ['Unauthorized', 'No permission -- see authorization schemes'],
  403: ['Forbidden', 'Request forbidden -- authorization will not help'],
  404: ['Not Found', 'Nothing matches the given URI'],
  413: ['Request Entity Too Large', 'Entity is too large'],
  415: ['Unsupported Media Type', 'Entity body in unsupported format'],
  500: ['Internal Server Error', 'Server got itself in trouble'],
  501: ['Not Implemented', 'Server does not support this operation'],
  502: ['Bad Gateway', 'Invalid responses from another server/proxy'],
  503: ['Service Unavailable', 'The server cannot process the request due to a high load'],
  504: ['Gateway Timeout', 'The gateway server did not receive a timely response'],
};

export class HttpError extends Error {
  constructor(readonly code: number, message?: string, readonly headers: Record<string, string> = {}) {
    super(message ?? REASONS[code]?.[0] ?? 'Error');
  }
  get explain(): string {
    return REASONS[this.code]?.[1] ?? '';
  }
  /** The JSON body Ganeti sends, message HTML-escaped like Python's html.escape. */
  body(): string {
    return JSON.stringify({ code: this.code, message: htmlEscape(this.message), explain: this.explain }) + '\n';
  }
}

export const badRequest = (msg: string) => new HttpError(400, msg);
export const notFound = (msg?: string) => new HttpError(404, msg);
export const unauthorized = () =>
  new HttpError(401, undefined, { 'WWW-Authenticate': 'Basic realm="Ganeti Remote API"' });
export const forbidden = (msg?: string) => new HttpError(403, msg);
export const notImplemented = (msg: string) => new HttpError(501, msg);

export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
}

/** Every error reaching the HTTP layer passes through here. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof ParameterError) return new HttpError(400, err.message);
  if (err instanceof ObjectNotFound) return new HttpError(404, err.message || undefined);
  if (err instanceof QueueUnavailable) return new HttpError(503, err.message);
  if (err instanceof GanetiError) return new HttpError(err.ecode === 'unknown_entity' ? 404 : 400, err.message);
  const e = err as { code?: string; message?: string };
  if (e && (e.code === 'ECONNREFUSED' || /Connection is closed|max retries/i.test(e.message ?? ''))) {
    return new HttpError(502, 'Job queue unreachable');
  }
  return new HttpError(500, e?.message ?? String(err));
}

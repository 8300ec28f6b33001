// Request bodies the Ganeti way: read for every method (GET /wait and DELETE
// carry bodies), JSON only, size-limited.
import type { IncomingMessage } from 'node:http';
import { HttpError, badRequest } from './errors.ts';

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, `Request body exceeds the limit of ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `Request body exceeds the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** undefined for an empty body; 415 for non-JSON media types; 400 for bad JSON. */
export function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (raw.length === 0) return undefined;
  // Ganeti demands exactly application/json; parameters such as charset are
  // accepted here (decisions.md), everything else is 415.
  const media = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (media !== 'application/json') throw new HttpError(415);
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest('Unable to parse JSON data');
  }
}

// The RAPI HTTP application: routing from the resource table, then Ganeti's
// order of checks (404 → 501 → auth → body → parameters), every error in
// Ganeti's JSON shape.
import Koa from 'koa';
import Router from '@koa/router';
import { HttpError, notFound, notImplemented, toHttpError, badRequest } from './errors.ts';
import { readBody, parseBody } from './body.ts';
import { authorize } from './auth.ts';
import { RapiRequest } from './request.ts';
import { METHODS, RawBody, type Method, type Resource } from './resource.ts';
import type { Services } from './services.ts';
import type { UsersFile } from './users.ts';
import type { TokenStore } from './tokens.ts';

/** connector.py's item patterns: names, job ids, disk indices. */
const ITEM: Record<string, RegExp> = { job_id: /^\d+$/, disk_index: /^\d+$/ };
const NAME = /^[\w.-]+$/;

const routerPath = (p: string) => p.replace(/\[(\w+)\]/g, ':$1');

export interface ServerOptions {
  svc: Services;
  users: UsersFile;
  /** Bearer tokens; without it only Basic credentials work. */
  tokens?: TokenStore;
  resources: Resource[];
  version: string;
}

export function createApp(o: ServerOptions): Koa {
  const app = new Koa();
  app.silent = true;
  const router = new Router({ strict: true });

  app.use(async (ctx, next) => {
    ctx.set('Server', `rapid/${o.version}`);
    try {
      if (ctx.req.httpVersion === '1.1' && !ctx.get('host')) throw badRequest('Missing Host header');
      await next();
      if (ctx.body === undefined && ctx.status === 404) throw notFound();
    } catch (err) {
      const e = toHttpError(err);
      if (e.code >= 500 && !(err instanceof HttpError)) console.error(`rapid: ${ctx.method} ${ctx.url}:`, err);
      ctx.status = e.code;
      ctx.body = e.body();
      // Exactly Ganeti's header: koa would append "; charset=utf-8".
      ctx.set('Content-Type', 'application/json');
      for (const [k, v] of Object.entries(e.headers)) ctx.set(k, v);
    }
  });

  for (const r of o.resources) {
    router.all(routerPath(r.path), async (ctx) => {
      const params = ctx.params as Record<string, string>;
      for (const [k, v] of Object.entries(params)) {
        if (!(ITEM[k] ?? NAME).test(v)) throw notFound();
      }
      const def = (METHODS as readonly string[]).includes(ctx.method) ? r.methods[ctx.method as Method] : undefined;
      if (!def) throw notImplemented(`Method ${ctx.method} is unsupported for path ${ctx.url}`);
      const user = await authorize(ctx.get('authorization') || undefined, { resource: r.name, method: ctx.method as Method, access: def.access },
        { requireAuth: o.svc.settings.requireAuth, users: o.users, tokens: o.tokens });
      const body = parseBody(await readBody(ctx.req, o.svc.settings.maxBodyBytes), ctx.get('content-type') || undefined);
      const req = new RapiRequest(ctx.method, ctx.path, params, new URLSearchParams(ctx.querystring), body, user);
      const result = await def.handle({ req, svc: o.svc, name: r.name });
      ctx.status = 200;
      ctx.body = result instanceof RawBody ? result.bytes : `${JSON.stringify(result ?? null)}\n`;
      ctx.set('Content-Type', result instanceof RawBody ? result.contentType : 'application/json');
    });
  }
  app.use(router.routes());
  return app;
}

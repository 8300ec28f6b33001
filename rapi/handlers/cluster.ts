// Cluster-wide reads: /, /version, /2, /2/features, /2/info, /2/os.
import { RawJson, read, resource, type Call, type Resource } from '../resource.ts';
import { tagMethods } from './common.ts';
import { clusterInfo } from '../views.ts';

/** Ganeti's four feature strings; the official client needs all of them. */
export const FEATURES = ['instance-create-reqv1', 'instance-reinstall-reqv1', 'node-evac-res1', 'node-migrate-reqv1'];

export const root = read(() => null);
export const version = read(() => 2);
/**
 * rapid's extensions, after Ganeti's four (decisions.md: clients test
 * membership only). rapid-rbac-v1: RBAC users-file options and bearer tokens.
 */
export const EXTENSION_FEATURES = ['rapid-rbac-v1'];
export const features = read(() => [...FEATURES, ...EXTENSION_FEATURES]);
/** /2/info only changes with the config: serve the bytes made for the current serial. */
let infoCache: { serial: number; body: RawJson } | undefined;
export const info = read((c) => {
  const { cfg } = c.svc;
  if (infoCache?.serial !== cfg.serial) infoCache = { serial: cfg.serial, body: new RawJson(JSON.stringify(clusterInfo(cfg, c.svc.rapidVersion))) };
  return infoCache.body;
});

/**
 * /2/os: Ganeti runs OP_OS_DIAGNOSE and lists each OS with its variants
 * (cli.CalculateOSNames). rapid asks the nodes' workers directly, no job.
 */
export const osList = read(async (c: Call) => {
  const names = new Set<string>();
  for (const os of await c.svc.osList()) {
    if (os.variants.length) for (const v of os.variants) names.add(`${os.name}+${v}`);
    else names.add(os.name);
  }
  return [...names];
});

export const resources: Resource[] = [
  resource('/', { GET: root }, 'root'),
  resource('/version', { GET: version }, 'version'),
  resource('/2', { GET: root }, '2'),
  resource('/2/features', { GET: features }),
  resource('/2/info', { GET: info }),
  resource('/2/os', { GET: osList }),
  resource('/2/tags', tagMethods('cluster')),
];

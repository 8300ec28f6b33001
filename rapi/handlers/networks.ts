// (being written) Resources of this family; see rapi/resources.ts.
import type { Resource } from '../resource.ts';

export const resources: Resource[] = [];

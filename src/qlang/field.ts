// The query language's fields (objects.QueryFieldDefinition) and per-value
// result statuses (constants.RS_*): shared by /2/query and job filter rules.

/** constants.QFT_*. */
export type FieldKind = 'unknown' | 'text' | 'bool' | 'number' | 'float' | 'unit' | 'timestamp' | 'other';

export interface FieldDef {
  readonly name: string;
  readonly title: string;
  readonly kind: FieldKind;
  readonly doc: string;
}

export const RS_NORMAL = 0;
export const RS_UNKNOWN = 1;

/** A value a getter cannot give, and why (RS_NODATA, RS_UNAVAIL, RS_OFFLINE). */
export class Abnormal {
  static readonly NODATA = new Abnormal(2);
  static readonly UNAVAIL = new Abnormal(3);
  static readonly OFFLINE = new Abnormal(4);
  private constructor(readonly status: 2 | 3 | 4) {}
}

export interface Field<R> {
  readonly def: FieldDef;
  /** The row's value, or an Abnormal. */
  readonly get: (row: R) => unknown;
  /** QFF_HOSTNAME: `==` also matches leading name components. */
  readonly hostname?: boolean;
  /** QFF_SPLIT_TIMESTAMP: a [seconds, microseconds] pair compared as one number. */
  readonly timestamp?: boolean;
}

export type FieldTable<R> = ReadonlyMap<string, Field<R>>;


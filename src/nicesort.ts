// Ganeti's natural sort (utils NiceSort / Haskell niceSort): digit runs
// compare as numbers and sort before non-digit runs.

const CHUNKS = /\d+|\D+/g;
const isDigits = (x: string): boolean => x.charCodeAt(0) >= 48 && x.charCodeAt(0) <= 57;

function compareChunk(a: string, b: string): number {
  const da = isDigits(a);
  const db = isDigits(b);
  if (da !== db) return da ? -1 : 1;
  if (da) {
    // Compare as integers of any size: strip zeros, then length, then digits.
    const na = a.replace(/^0+/, '');
    const nb = b.replace(/^0+/, '');
    if (na.length !== nb.length) return na.length - nb.length;
    return na < nb ? -1 : na > nb ? 1 : 0;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareNice(a: string[], b: string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareChunk(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

export function niceSort(names: Iterable<string>): string[] {
  const keyed = [...names].map((name) => ({ name, key: name.match(CHUNKS) ?? [] }));
  keyed.sort((x, y) => compareNice(x.key, y.key));
  return keyed.map((k) => k.name);
}

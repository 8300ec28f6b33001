// IP addresses and networks, parsed as strictly as Python's ipaddress
// module: what Ganeti's opcode checks and network pools accept.

/** IPv4Address(): four decimal octets, no leading zeros; null when invalid. */
export function ipv4ToInt(text: string): number | null {
  const octets = text.split('.');
  if (octets.length !== 4) return null;
  let value = 0;
  for (const octet of octets) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(octet) || Number(octet) > 255) return null;
    value = value * 256 + Number(octet);
  }
  return value;
}

/** IPv6Address() without scope id: hextets, one '::', optional IPv4 tail. */
function ipv6ToBigInt(text: string): bigint | null {
  const parts = text.split(':');
  if (parts.length < 3) return null;
  if (parts[parts.length - 1].includes('.')) {
    const v4 = ipv4ToInt(parts.pop()!);
    if (v4 === null) return null;
    parts.push((v4 >>> 16).toString(16), (v4 & 0xffff).toString(16));
  }
  if (parts.length > 9) return null;
  const inner = parts.slice(1, -1);
  const skips = inner.filter((p) => p === '').length;
  if (skips > 1) return null;
  let hi: string[];
  let lo: string[];
  if (skips === 1) {
    const skip = inner.indexOf('') + 1;
    hi = parts.slice(0, skip);
    lo = parts.slice(skip + 1);
    // An empty endpoint is only allowed as half of a leading/trailing '::'.
    if (hi[0] === '') { if (hi.length !== 1) return null; hi = []; }
    if (lo[lo.length - 1] === '') { if (lo.length !== 1) return null; lo = []; }
    if (hi.length + lo.length > 7) return null;
  } else {
    if (parts.length !== 8) return null;
    hi = parts;
    lo = [];
  }
  if (![...hi, ...lo].every((h) => /^[0-9a-fA-F]{1,4}$/.test(h))) return null;
  const hextets = [...hi, ...Array<string>(8 - hi.length - lo.length).fill('0'), ...lo];
  return hextets.reduce((acc, h) => (acc << 16n) | BigInt(parseInt(h, 16)), 0n);
}

/** IPv6Address() with the optional "%scope" suffix. */
export function parseIPv6(text: string): bigint | null {
  const [addr, ...scope] = text.split('%');
  if (scope.length > 1 || (scope.length === 1 && scope[0] === '')) return null;
  return ipv6ToBigInt(addr);
}

/** Prefix length of a contiguous netmask, or null. */
function maskToPrefix(mask: bigint, bits: number): number | null {
  for (let prefix = 0; prefix <= bits; prefix++) {
    if (mask === prefixToMask(prefix, bits)) return prefix;
  }
  return null;
}

function prefixToMask(prefix: number, bits: number): bigint {
  return ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

interface Family { bits: number; parse(text: string): bigint | null; dottedMasks: boolean }
const IPV4: Family = {
  bits: 32,
  parse: (t) => { const v = ipv4ToInt(t); return v === null ? null : BigInt(v); },
  dottedMasks: true,
};
const IPV6: Family = { bits: 128, parse: parseIPv6, dottedMasks: false };

/** A prefix length, or for IPv4 a dotted netmask or hostmask, as ipaddress accepts. */
function parsePrefix(text: string, family: Family): number | null {
  if (/^[0-9]+$/.test(text)) {
    const prefix = Number(text);
    return prefix <= family.bits ? prefix : null;
  }
  if (!family.dottedMasks) return null;
  const mask = family.parse(text);
  if (mask === null) return null;
  const all = prefixToMask(family.bits, family.bits);
  return maskToPrefix(mask, family.bits) ?? maskToPrefix(mask ^ all, family.bits);
}

/**
 * IPv4Network()/IPv6Network() in strict mode. Ganeti only catches
 * AddressValueError, so a bad prefix or host bits set there escape as a 500;
 * here they are plain validation failures.
 */
function isNetwork(text: string, family: Family): boolean {
  const pieces = text.split('/');
  if (pieces.length > 2) return false;
  const address = family.parse(pieces[0]);
  const prefix = pieces.length === 2 ? parsePrefix(pieces[1], family) : family.bits;
  if (address === null || prefix === null) return false;
  return (address & prefixToMask(prefix, family.bits)) === address;
}

/** IPv4Network() in strict mode. */
export const isIPv4Network = (text: string): boolean => isNetwork(text, IPV4);
/** IPv6Network() in strict mode. */
export const isIPv6Network = (text: string): boolean => isNetwork(text, IPV6);

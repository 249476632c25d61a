/**
 * Textual IP address checks (no I/O, no node:net): used to pick the SDP address type
 * (IP4 / IP6) of an address written into a c=, o= or a=rtcp line.
 */

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX16 = /^[0-9a-fA-F]{1,4}$/;

export function isIPv4(address: string): boolean {
  return address.length <= 15 && IPV4.test(address);
}

export function isIPv6(address: string): boolean {
  if (address.length < 2 || address.length > 45) return false;
  let text = address;
  let groupsNeeded = 8;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return false;
  // Embedded IPv4 tail, e.g. ::ffff:192.0.2.1
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return false;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const doubleAt = text.indexOf('::');
  if (doubleAt >= 0 && text.indexOf('::', doubleAt + 1) >= 0) return false;
  if (doubleAt < 0) {
    const groups = text.split(':');
    return groups.length === groupsNeeded && groups.every((g) => HEX16.test(g));
  }
  const head = text.slice(0, doubleAt);
  const rest = text.slice(doubleAt + 2);
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === '' ? [] : rest.split(':');
  if (![...headGroups, ...restGroups].every((g) => HEX16.test(g))) return false;
  groupsNeeded -= 1; // '::' stands for at least one group
  return headGroups.length + restGroups.length <= groupsNeeded;
}

/** SDP address type for an address: IP6 for an IPv6 literal, otherwise IP4 (also for FQDNs). */
export function addressTypeOf(address: string): 'IP4' | 'IP6' {
  return isIPv6(address) ? 'IP6' : 'IP4';
}

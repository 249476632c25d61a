/**
 * Typed readers and writers of single SDP line values. Readers return `undefined` for a value
 * that does not follow the grammar; they never throw.
 */
import type { Attribute, Candidate, Connection, Direction, Fingerprint, Fmtp, MediaDescription, Origin, Rtcp, Rtpmap, Setup } from './types';

const DIGITS = /^\d+$/;
const PORT = /^\d{1,5}$/;
const ICE_CHARS = /^[A-Za-z0-9+/]{1,32}$/;
const TOKEN = /^[!#$%&'*+\-.^_`{|}~A-Za-z0-9]+$/;
const HEX_PAIRS = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*$/;

/** Splits a value into its space-separated fields (runs of spaces count as one separator). */
export function fieldsOf(value: string): string[] {
  const out: string[] = [];
  for (const f of value.split(' ')) if (f !== '') out.push(f);
  return out;
}

export function parsePort(text: string): number | undefined {
  if (!PORT.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseSmallInt(text: string, max: number): number | undefined {
  if (!DIGITS.test(text) || text.length > 10) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

// ---- o= -------------------------------------------------------------------------------

export function parseOrigin(value: string): Origin | undefined {
  const f = fieldsOf(value);
  if (f.length !== 6) return undefined;
  const [username, sessionId, version, netType, addrType, address] = f as [string, string, string, string, string, string];
  if (!DIGITS.test(version) || version.length > 64) return undefined;
  return { username, sessionId, sessionVersion: BigInt(version), netType, addrType, address };
}

export function formatOrigin(o: Origin): string {
  return `${o.username} ${o.sessionId} ${o.sessionVersion.toString()} ${o.netType} ${o.addrType} ${o.address}`;
}

// ---- c= -------------------------------------------------------------------------------

export function parseConnection(value: string): Connection | undefined {
  const f = fieldsOf(value);
  if (f.length !== 3) return undefined;
  const [netType, addrType, full] = f as [string, string, string];
  const parts = full.split('/');
  const address = parts[0] ?? '';
  if (address === '') return undefined;
  if (addrType === 'IP4' && parts.length > 1) {
    if (parts.length > 3) return undefined;
    const ttl = parseSmallInt(parts[1] ?? '', 255);
    if (ttl === undefined) return undefined;
    if (parts.length === 2) return { netType, addrType, address, ttl };
    const n = parseSmallInt(parts[2] ?? '', 0xffffffff);
    if (n === undefined || n < 1) return undefined;
    return { netType, addrType, address, ttl, numberOfAddresses: n };
  }
  if (addrType === 'IP6' && parts.length > 1) {
    if (parts.length > 2) return undefined;
    const n = parseSmallInt(parts[1] ?? '', 0xffffffff);
    if (n === undefined || n < 1) return undefined;
    return { netType, addrType, address, numberOfAddresses: n };
  }
  // Other address types: the address is opaque.
  return { netType, addrType, address: full };
}

export function formatConnection(c: Connection): string {
  let address = c.address;
  if (c.ttl !== undefined) address += `/${c.ttl}`;
  if (c.numberOfAddresses !== undefined) address += `/${c.numberOfAddresses}`;
  return `${c.netType} ${c.addrType} ${address}`;
}

// ---- m= -------------------------------------------------------------------------------

export function parseMediaDescription(value: string): MediaDescription | undefined {
  const f = fieldsOf(value);
  if (f.length < 3) return undefined;
  const [media, portText, proto] = f as [string, string, string];
  const slash = portText.indexOf('/');
  const port = parsePort(slash < 0 ? portText : portText.slice(0, slash));
  if (port === undefined) return undefined;
  const formats = f.slice(3);
  if (slash < 0) return { media, port, proto, formats };
  const numberOfPorts = parseSmallInt(portText.slice(slash + 1), 65535);
  if (numberOfPorts === undefined || numberOfPorts < 1) return undefined;
  return { media, port, numberOfPorts, proto, formats };
}

export function formatMediaDescription(m: MediaDescription): string {
  const port = m.numberOfPorts === undefined ? `${m.port}` : `${m.port}/${m.numberOfPorts}`;
  return [m.media, port, m.proto, ...m.formats].join(' ');
}

// ---- a= -------------------------------------------------------------------------------

export function parseAttribute(value: string): Attribute {
  const colon = value.indexOf(':');
  return colon < 0 ? { name: value } : { name: value.slice(0, colon), value: value.slice(colon + 1) };
}

export function formatAttribute(a: Attribute): string {
  return a.value === undefined ? a.name : `${a.name}:${a.value}`;
}

export function parseRtpmap(value: string): Rtpmap | undefined {
  const f = fieldsOf(value);
  if (f.length !== 2) return undefined;
  const payloadType = parseSmallInt(f[0] ?? '', 127);
  if (payloadType === undefined) return undefined;
  const enc = (f[1] ?? '').split('/');
  if (enc.length < 2 || enc.length > 3 || enc[0] === '') return undefined;
  const clockRate = parseSmallInt(enc[1] ?? '', 0xffffffff);
  if (clockRate === undefined) return undefined;
  const encodingName = enc[0] ?? '';
  if (enc.length === 2) return { payloadType, encodingName, clockRate };
  if (enc[2] === '') return undefined;
  return { payloadType, encodingName, clockRate, encodingParameters: enc[2] ?? '' };
}

export function formatRtpmap(r: Rtpmap): string {
  const tail = r.encodingParameters === undefined ? '' : `/${r.encodingParameters}`;
  return `${r.payloadType} ${r.encodingName}/${r.clockRate}${tail}`;
}

export function parseFmtp(value: string): Fmtp | undefined {
  const space = value.indexOf(' ');
  if (space <= 0) return undefined;
  const format = value.slice(0, space);
  const parameters = value.slice(space + 1).trim();
  const pairs: [string, string][] = [];
  for (const part of parameters.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    pairs.push(eq < 0 ? [p, ''] : [p.slice(0, eq).trim(), p.slice(eq + 1).trim()]);
  }
  return { format, parameters, pairs };
}

export function parseRtcp(value: string): Rtcp | undefined {
  const f = fieldsOf(value);
  if (f.length !== 1 && f.length !== 4) return undefined;
  const port = parsePort(f[0] ?? '');
  if (port === undefined) return undefined;
  if (f.length === 1) return { port };
  return { port, netType: f[1] ?? '', addrType: f[2] ?? '', address: f[3] ?? '' };
}

export function formatRtcp(r: Rtcp): string {
  if (r.address === undefined) return `${r.port}`;
  return `${r.port} ${r.netType ?? 'IN'} ${r.addrType ?? 'IP4'} ${r.address}`;
}

export function parseCandidate(value: string): Candidate | undefined {
  const f = fieldsOf(value);
  if (f.length < 8 || f[6] !== 'typ') return undefined;
  const [foundation, componentText, transport, priorityText, address, portText, , type] = f as [string, string, string, string, string, string, string, string];
  if (!ICE_CHARS.test(foundation)) return undefined;
  if (!/^\d{1,3}$/.test(componentText)) return undefined;
  const component = Number(componentText);
  if (component < 1 || component > 256) return undefined;
  if (!TOKEN.test(transport) || !TOKEN.test(type)) return undefined;
  const priority = parseSmallInt(priorityText, 0xffffffff);
  const port = parsePort(portText);
  if (priority === undefined || port === undefined || address === '') return undefined;
  const rest = f.slice(8);
  if (rest.length % 2 !== 0) return undefined;
  let relatedAddress: string | undefined;
  let relatedPort: number | undefined;
  const extensions: [string, string][] = [];
  for (let i = 0; i < rest.length; i += 2) {
    const name = rest[i] ?? '';
    const v = rest[i + 1] ?? '';
    if (name === 'raddr' && relatedAddress === undefined && extensions.length === 0) relatedAddress = v;
    else if (name === 'rport' && relatedPort === undefined && extensions.length === 0) {
      relatedPort = parsePort(v);
      if (relatedPort === undefined) return undefined;
    } else extensions.push([name, v]);
  }
  const c: Candidate = { foundation, component, transport, priority, address, port, type, extensions };
  return {
    ...c,
    ...(relatedAddress !== undefined ? { relatedAddress } : {}),
    ...(relatedPort !== undefined ? { relatedPort } : {}),
  };
}

export function formatCandidate(c: Candidate): string {
  let s = `${c.foundation} ${c.component} ${c.transport} ${c.priority} ${c.address} ${c.port} typ ${c.type}`;
  if (c.relatedAddress !== undefined) s += ` raddr ${c.relatedAddress}`;
  if (c.relatedPort !== undefined) s += ` rport ${c.relatedPort}`;
  for (const [name, v] of c.extensions) s += ` ${name} ${v}`;
  return s;
}

export function parseFingerprint(value: string): Fingerprint | undefined {
  const f = fieldsOf(value);
  if (f.length !== 2) return undefined;
  const [hashFunction, fingerprint] = f as [string, string];
  if (!TOKEN.test(hashFunction) || !HEX_PAIRS.test(fingerprint)) return undefined;
  return { hashFunction, fingerprint };
}

export function parseSetup(value: string): Setup | undefined {
  const v = value.trim();
  return v === 'active' || v === 'passive' || v === 'actpass' || v === 'holdconn' ? v : undefined;
}

export function isDirection(name: string): name is Direction {
  return name === 'sendrecv' || name === 'sendonly' || name === 'recvonly' || name === 'inactive';
}

/**
 * Typed views of a parsed session description. Accessors never throw: a line that does not
 * follow its grammar is skipped (list accessors) or yields `undefined`.
 */
import {
  isDirection,
  parseAttribute,
  parseCandidate,
  parseConnection,
  parseFingerprint,
  parseFmtp,
  parseMediaDescription,
  parseOrigin,
  parseRtcp,
  parseRtpmap,
  parseSetup,
} from './fields';
import type {
  Attribute,
  Candidate,
  Connection,
  Direction,
  Fingerprint,
  Fmtp,
  IceCredentials,
  MediaDescription,
  MediaSection,
  Origin,
  Rtcp,
  Rtpmap,
  SdpLine,
  SessionDescription,
  Setup,
} from './types';

export function getOrigin(sdp: SessionDescription): Origin | undefined {
  const o = sdp.session.find((l) => l.type === 'o');
  return o === undefined ? undefined : parseOrigin(o.value);
}

export function getSessionName(sdp: SessionDescription): string | undefined {
  return sdp.session.find((l) => l.type === 's')?.value;
}

/** The session-level c= line, if any. */
export function getSessionConnection(sdp: SessionDescription): Connection | undefined {
  const c = sdp.session.find((l) => l.type === 'c');
  return c === undefined ? undefined : parseConnection(c.value);
}

/** The media-level c= lines of a media section (more than one only for layered multicast). */
export function getMediaConnections(section: MediaSection): Connection[] {
  const out: Connection[] = [];
  for (const l of section.lines) {
    if (l.type !== 'c') continue;
    const c = parseConnection(l.value);
    if (c !== undefined) out.push(c);
  }
  return out;
}

/** The connection that applies to media section `index`: its own c= line, else the session's. */
export function getEffectiveConnection(sdp: SessionDescription, index: number): Connection | undefined {
  const section = sdp.media[index];
  if (section === undefined) return undefined;
  return getMediaConnections(section)[0] ?? getSessionConnection(sdp);
}

export function getMediaDescription(section: MediaSection): MediaDescription | undefined {
  const m = section.lines[0];
  return m === undefined || m.type !== 'm' ? undefined : parseMediaDescription(m.value);
}

/** All a= lines of a list of lines (session-level or a media section's), in order. */
export function getAttributes(lines: readonly SdpLine[], name?: string): Attribute[] {
  const out: Attribute[] = [];
  for (const l of lines) {
    if (l.type !== 'a') continue;
    const a = parseAttribute(l.value);
    if (name === undefined || a.name === name) out.push(a);
  }
  return out;
}

/** The value of the first a=<name> line ('' for a flag), or undefined when there is none. */
export function getAttribute(lines: readonly SdpLine[], name: string): string | undefined {
  for (const l of lines) {
    if (l.type !== 'a') continue;
    const a = parseAttribute(l.value);
    if (a.name === name) return a.value ?? '';
  }
  return undefined;
}

export function hasAttribute(lines: readonly SdpLine[], name: string): boolean {
  return getAttribute(lines, name) !== undefined;
}

function collect<T>(lines: readonly SdpLine[], name: string, read: (v: string) => T | undefined): T[] {
  const out: T[] = [];
  for (const a of getAttributes(lines, name)) {
    if (a.value === undefined) continue;
    const t = read(a.value);
    if (t !== undefined) out.push(t);
  }
  return out;
}

export function getRtpmaps(section: MediaSection): Rtpmap[] {
  return collect(section.lines, 'rtpmap', parseRtpmap);
}

export function getFmtps(section: MediaSection): Fmtp[] {
  return collect(section.lines, 'fmtp', parseFmtp);
}

export function getRtcp(section: MediaSection): Rtcp | undefined {
  return collect(section.lines, 'rtcp', parseRtcp)[0];
}

export function hasRtcpMux(section: MediaSection): boolean {
  return hasAttribute(section.lines, 'rtcp-mux');
}

export function getCandidates(section: MediaSection): Candidate[] {
  return collect(section.lines, 'candidate', parseCandidate);
}

/** ICE credentials of media section `index`: media-level a=ice-ufrag/pwd, else session-level. */
export function getIceCredentials(sdp: SessionDescription, index: number): IceCredentials | undefined {
  const section = sdp.media[index];
  if (section === undefined) return undefined;
  const ufrag = getAttribute(section.lines, 'ice-ufrag') ?? getAttribute(sdp.session, 'ice-ufrag');
  const pwd = getAttribute(section.lines, 'ice-pwd') ?? getAttribute(sdp.session, 'ice-pwd');
  return ufrag === undefined || pwd === undefined ? undefined : { ufrag, pwd };
}

/** Fingerprints of media section `index`: media-level ones, else session-level ones. */
export function getFingerprints(sdp: SessionDescription, index: number): Fingerprint[] {
  const section = sdp.media[index];
  if (section === undefined) return [];
  const own = collect(section.lines, 'fingerprint', parseFingerprint);
  return own.length > 0 ? own : collect(sdp.session, 'fingerprint', parseFingerprint);
}

/** a=setup of media section `index` (media level, else session level). */
export function getSetup(sdp: SessionDescription, index: number): Setup | undefined {
  const section = sdp.media[index];
  if (section === undefined) return undefined;
  const v = getAttribute(section.lines, 'setup') ?? getAttribute(sdp.session, 'setup');
  return v === undefined ? undefined : parseSetup(v);
}

function directionOf(lines: readonly SdpLine[]): Direction | undefined {
  for (const l of lines) if (l.type === 'a' && isDirection(l.value)) return l.value;
  return undefined;
}

/** Direction of media section `index` (RFC 3264): media level, else session level, else sendrecv. */
export function getDirection(sdp: SessionDescription, index: number): Direction {
  const section = sdp.media[index];
  return (section && directionOf(section.lines)) ?? directionOf(sdp.session) ?? 'sendrecv';
}

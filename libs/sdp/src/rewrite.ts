/**
 * The rewrites a media relay applies to an offer or answer. Each returns a new session
 * description and leaves its argument untouched; an index out of range is ignored.
 */
import { addressTypeOf } from './address';
import {
  formatAttribute,
  formatCandidate,
  formatConnection,
  formatMediaDescription,
  formatOrigin,
  formatRtcp,
  isDirection,
  parseAttribute,
  parseConnection,
  parseMediaDescription,
  parseOrigin,
  parseRtcp,
} from './fields';
import type { Candidate, Direction, MediaSection, SdpLine, SessionDescription } from './types';

/** Where a media stream should be sent instead: the relay's address and ports for it. */
export interface MediaTarget {
  readonly address: string;
  readonly port: number;
  /**
   * The RTCP port. Default: `port` with a=rtcp-mux, else `port + 1`. When it differs from
   * what the peer would infer and the section has no a=rtcp, an a=rtcp line is added (RFC 3605).
   */
  readonly rtcpPort?: number;
}

function connectionLine(address: string, netType = 'IN'): SdpLine {
  return { type: 'c', value: formatConnection({ netType, addrType: addressTypeOf(address), address }) };
}

/** 0.0.0.0 or :: in c= is the RFC 2543 / RFC 3264 way of putting a stream on hold: keep it. */
function isUnspecified(address: string): boolean {
  return address === '0.0.0.0' || /^(0{0,4}:){2,7}0{0,4}$/.test(address);
}

function rewriteSection(section: MediaSection, t: MediaTarget, insertConnection: boolean, keepConnection: boolean): MediaSection {
  const lines: SdpLine[] = [];
  const first = section.lines[0];
  const m = first === undefined ? undefined : parseMediaDescription(first.value);
  if (first === undefined || m === undefined) return section;
  const rtcpMux = section.lines.some((l) => l.type === 'a' && l.value === 'rtcp-mux');
  const rtcpPort = t.rtcpPort ?? (rtcpMux ? t.port : t.port + 1);
  lines.push({ type: 'm', value: formatMediaDescription({ ...m, port: m.port === 0 ? 0 : t.port }) });
  let wroteConnection = false;
  let sawRtcp = false;
  for (let i = 1; i < section.lines.length; i++) {
    const l = section.lines[i];
    if (insertConnection && !wroteConnection && l.type !== 'i') {
      lines.push(connectionLine(t.address));
      wroteConnection = true;
    }
    if (l.type === 'c' && !keepConnection) {
      if (wroteConnection) continue; // further c= lines (layered multicast) collapse into one
      const old = parseConnection(l.value);
      lines.push(connectionLine(t.address, old?.netType));
      wroteConnection = true;
      continue;
    }
    if (l.type === 'a' && l.value.startsWith('rtcp:')) {
      const r = parseRtcp(l.value.slice(5));
      if (r !== undefined) {
        sawRtcp = true;
        const value =
          r.address === undefined || keepConnection
            ? formatRtcp({ ...r, port: rtcpPort })
            : formatRtcp({ port: rtcpPort, netType: r.netType ?? 'IN', addrType: addressTypeOf(t.address), address: t.address });
        lines.push({ type: 'a', value: `rtcp:${value}` });
        continue;
      }
    }
    lines.push(l);
  }
  if (insertConnection && !wroteConnection) lines.push(connectionLine(t.address));
  const implied = rtcpMux ? t.port : t.port + 1;
  if (!sawRtcp && t.rtcpPort !== undefined && t.rtcpPort !== implied && m.port !== 0) {
    lines.push({ type: 'a', value: `rtcp:${formatRtcp({ port: t.rtcpPort })}` });
  }
  return { lines };
}

/**
 * Points media streams at a relay: `targets[i]` (if given) replaces the address and port of
 * media section i. The m= port (a rejected stream, port 0, stays 0), the c= line and a=rtcp
 * are rewritten. A session-level c= line is rewritten when every media section that relies on
 * it goes to the same address; otherwise the rewritten sections get their own c= line and
 * the session-level one keeps serving the others. Address types follow the new address.
 * A stream held with the unspecified address (c=IN IP4 0.0.0.0) keeps it.
 */
export function relayMedia(sdp: SessionDescription, targets: readonly (MediaTarget | undefined)[]): SessionDescription {
  const sessionIdx = sdp.session.findIndex((l) => l.type === 'c');
  const sessionConnection = sessionIdx >= 0 ? parseConnection((sdp.session[sessionIdx]).value) : undefined;
  const sessionHeld = sessionConnection !== undefined && isUnspecified(sessionConnection.address);
  const own = sdp.media.map((s) => {
    const l = s.lines.find((x) => x.type === 'c');
    return l === undefined ? undefined : parseConnection(l.value);
  });
  const held = own.map((c) => (c === undefined ? sessionHeld : isUnspecified(c.address)));
  const dependents = sdp.media.map((_, i) => i).filter((i) => own[i] === undefined);
  const firstTarget = targets.find((t, i) => t !== undefined && i < sdp.media.length);
  let sessionAddress: string | undefined;
  if (sessionConnection !== undefined && !sessionHeld && firstTarget !== undefined) {
    if (dependents.length === 0) sessionAddress = firstTarget.address; // unused by any stream: hide it too
    else {
      const first = targets[dependents[0]];
      if (first !== undefined && dependents.every((i) => targets[i]?.address === first.address)) sessionAddress = first.address;
    }
  }
  let session = sdp.session;
  if (sessionAddress !== undefined) {
    session = sdp.session.map((l, i) => (i === sessionIdx ? connectionLine(sessionAddress, sessionConnection?.netType) : l));
  }
  const media = sdp.media.map((s, i) => {
    const t = targets[i];
    if (t === undefined) return s;
    const keep = held[i] === true;
    const insert = own[i] === undefined && sessionAddress === undefined && !keep;
    return rewriteSection(s, t, insert, keep);
  });
  return { session, media };
}

/** Points one media section at a relay; see `relayMedia`. */
export function setMediaTarget(sdp: SessionDescription, index: number, target: MediaTarget): SessionDescription {
  const targets: (MediaTarget | undefined)[] = sdp.media.map(() => undefined);
  if (index < 0 || index >= targets.length) return sdp;
  targets[index] = target;
  return relayMedia(sdp, targets);
}

const ICE_ATTRIBUTES = new Set(['candidate', 'remote-candidates', 'ice-ufrag', 'ice-pwd', 'ice-options', 'ice-lite', 'ice-mismatch', 'ice-pacing', 'end-of-candidates']);

function withoutIce(lines: readonly SdpLine[]): SdpLine[] {
  return lines.filter((l) => l.type !== 'a' || !ICE_ATTRIBUTES.has(parseAttribute(l.value).name));
}

/**
 * Removes ICE from a description (for a peer that will talk to the relay only): candidates,
 * remote-candidates, ice-ufrag, ice-pwd, ice-options, ice-lite, ice-mismatch, ice-pacing and
 * end-of-candidates, at session and media level.
 */
export function stripIce(sdp: SessionDescription): SessionDescription {
  return { session: withoutIce(sdp.session), media: sdp.media.map((s) => ({ lines: withoutIce(s.lines) })) };
}

/** RFC 8445 section 5.1.2.2 recommended type preferences. */
export const CANDIDATE_TYPE_PREFERENCE = { host: 126, prflx: 110, srflx: 100, relay: 0 } as const;

/**
 * RFC 8445 section 5.1.2.1:
 * priority = 2^24 * type preference + 2^8 * local preference + (256 - component ID).
 */
export function candidatePriority(typePreference: number, localPreference: number, component: number): number {
  return typePreference * 0x1000000 + localPreference * 0x100 + (256 - component);
}

export interface RelayCandidateSpec {
  /** Relayed transport address (the media engine's address and port). */
  readonly address: string;
  readonly port: number;
  /** raddr/rport: the related (mapped) address the relayed address was allocated for. */
  readonly relatedAddress: string;
  readonly relatedPort: number;
  /** 1 = RTP, 2 = RTCP. */
  readonly component: number;
  /** Default: derived from the relayed address (same relay address, same foundation). */
  readonly foundation?: string;
  /** Default UDP. */
  readonly transport?: string;
  /** 0..65535, default 65535 (one relay address). */
  readonly localPreference?: number;
}

/** 32-bit FNV-1a of a string (foundations: same relay address and transport, same foundation). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A `typ relay` candidate with its RFC 8445 priority (type preference 0). */
export function relayCandidate(spec: RelayCandidateSpec): Candidate {
  const foundation = spec.foundation ?? `r${fnv1a(`${spec.transport ?? 'UDP'} ${spec.address}`).toString(16)}`;
  return {
    foundation,
    component: spec.component,
    transport: spec.transport ?? 'UDP',
    priority: candidatePriority(CANDIDATE_TYPE_PREFERENCE.relay, spec.localPreference ?? 65535, spec.component),
    address: spec.address,
    port: spec.port,
    type: 'relay',
    relatedAddress: spec.relatedAddress,
    relatedPort: spec.relatedPort,
    extensions: [],
  };
}

/** Adds an a=candidate line to media section `index`, after its last candidate (before a=end-of-candidates). */
export function addCandidate(sdp: SessionDescription, index: number, candidate: Candidate): SessionDescription {
  const section = sdp.media[index];
  if (section === undefined) return sdp;
  const line: SdpLine = { type: 'a', value: formatAttribute({ name: 'candidate', value: formatCandidate(candidate) }) };
  let at = -1;
  let endOfCandidates = -1;
  section.lines.forEach((l, i) => {
    if (l.type !== 'a') return;
    if (l.value.startsWith('candidate:')) at = i + 1;
    else if (l.value === 'end-of-candidates' && endOfCandidates < 0) endOfCandidates = i;
  });
  if (at < 0) at = endOfCandidates >= 0 ? endOfCandidates : section.lines.length;
  const lines = [...section.lines.slice(0, at), line, ...section.lines.slice(at)];
  return { session: sdp.session, media: sdp.media.map((s, i) => (i === index ? { lines } : s)) };
}

/**
 * Adds relay candidates for media section `index`: component 1 (RTP) and, unless the section
 * has a=rtcp-mux, component 2 (RTCP) at `rtcpPort` (default port + 1) related to
 * `relatedRtcpPort` (default relatedPort + 1).
 */
export function addRelayCandidates(
  sdp: SessionDescription,
  index: number,
  spec: Omit<RelayCandidateSpec, 'component'> & { readonly rtcpPort?: number; readonly relatedRtcpPort?: number },
): SessionDescription {
  const section = sdp.media[index];
  if (section === undefined) return sdp;
  let out = addCandidate(sdp, index, relayCandidate({ ...spec, component: 1 }));
  if (!section.lines.some((l) => l.type === 'a' && l.value === 'rtcp-mux')) {
    out = addCandidate(
      out,
      index,
      relayCandidate({ ...spec, component: 2, port: spec.rtcpPort ?? spec.port + 1, relatedPort: spec.relatedRtcpPort ?? spec.relatedPort + 1 }),
    );
  }
  return out;
}

function mapOrigin(sdp: SessionDescription, f: (o: NonNullable<ReturnType<typeof parseOrigin>>) => string): SessionDescription {
  let done = false;
  const session = sdp.session.map((l) => {
    if (done || l.type !== 'o') return l;
    done = true;
    const o = parseOrigin(l.value);
    return o === undefined ? l : { type: 'o', value: f(o) };
  });
  return { session, media: sdp.media };
}

/** Increments the o= session version (as a new offer or answer from the same origin must). */
export function bumpOriginVersion(sdp: SessionDescription): SessionDescription {
  return mapOrigin(sdp, (o) => formatOrigin({ ...o, sessionVersion: o.sessionVersion + 1n }));
}

/** Replaces the o= unicast address (topology hiding), with its address type. */
export function setOriginAddress(sdp: SessionDescription, address: string): SessionDescription {
  return mapOrigin(sdp, (o) => formatOrigin({ ...o, addrType: addressTypeOf(address), address }));
}

/** Sets the direction attribute of media section `index`, replacing its own direction line or adding one. */
export function setDirection(sdp: SessionDescription, index: number, direction: Direction): SessionDescription {
  const section = sdp.media[index];
  if (section === undefined) return sdp;
  let replaced = false;
  const lines: SdpLine[] = [];
  for (const l of section.lines) {
    if (l.type === 'a' && isDirection(l.value)) {
      if (!replaced) lines.push({ type: 'a', value: direction });
      replaced = true;
      continue;
    }
    lines.push(l);
  }
  if (!replaced) lines.push({ type: 'a', value: direction });
  return { session: sdp.session, media: sdp.media.map((s, i) => (i === index ? { lines } : s)) };
}

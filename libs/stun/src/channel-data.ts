/**
 * ChannelData messages (RFC 8656 section 12.4), demultiplexing of a shared port (RFC 7983),
 * and cutting STUN / ChannelData frames out of a TCP or TLS byte stream (RFC 8656 section 12.5).
 */
import { CHANNEL_MAX, CHANNEL_MIN, HEADER_LENGTH, MAGIC_COOKIE } from './constants';

/** Highest channel number accepted: CHANNEL_MAX (RFC 8656) or CHANNEL_MAX_RFC5766 for older clients. */
export type ChannelMax = number;
import { Result, ok, fail } from './result';

export interface ChannelData {
  channel: number;
  /** Application data: a view into the received buffer. */
  data: Buffer;
}

export const isValidChannelNumber = (n: number, max: ChannelMax = CHANNEL_MAX): boolean =>
  Number.isInteger(n) && n >= CHANNEL_MIN && n <= max;

/**
 * Decodes one ChannelData message. Over UDP the datagram may carry padding after the data
 * (ignored); a length that runs past the datagram is an error.
 */
export function decodeChannelData(buf: Buffer, maxChannel: ChannelMax = CHANNEL_MAX): Result<ChannelData> {
  if (buf.length < 4) return fail('TRUNCATED', 'shorter than a ChannelData header');
  const channel = buf.readUInt16BE(0);
  if (!isValidChannelNumber(channel, maxChannel)) return fail('BAD_CHANNEL', 'channel number out of range');
  const len = buf.readUInt16BE(2);
  if (4 + len > buf.length) return fail('TRUNCATED', 'ChannelData length runs past the datagram');
  return ok({ channel, data: buf.subarray(4, 4 + len) });
}

/** The 4-byte ChannelData header, for a multi-buffer send of [header, data]. */
export function channelDataHeader(channel: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(4);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(length, 2);
  return h;
}

/** Padding needed after ChannelData over a stream transport (to a multiple of 4). */
export const channelDataPadding = (length: number): number => (4 - (length & 3)) & 3;

/** A whole ChannelData message in one buffer; `stream` adds the padding TCP/TLS needs. */
export function encodeChannelData(channel: number, data: Buffer, stream = false): Buffer {
  const pad = stream ? channelDataPadding(data.length) : 0;
  const out = Buffer.alloc(4 + data.length + pad);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  out.set(data, 4);
  return out;
}

export type PacketKind = 'stun' | 'stun-classic' | 'channel-data' | 'dtls' | 'rtp' | 'other';

/**
 * What arrived on a demultiplexed port, by its first bytes (RFC 7983 / RFC 8656):
 * 0-3 STUN (with or without the magic cookie), 20-63 DTLS, 64-79 ChannelData (64-127 with the RFC 5766
 * channel range), 128-191 RTP/RTCP.
 * A cheap check; the decoder has the last word.
 */
export function classifyPacket(buf: Buffer): PacketKind {
  if (buf.length === 0) return 'other';
  const b = buf[0];
  if (b <= 3) {
    if (buf.length < HEADER_LENGTH) return 'other';
    return buf.readUInt32BE(4) === MAGIC_COOKIE ? 'stun' : 'stun-classic';
  }
  if (b >= 64 && b <= 127) return buf.length >= 4 ? 'channel-data' : 'other';
  if (b >= 20 && b <= 63) return 'dtls';
  if (b >= 128 && b <= 191) return 'rtp';
  return 'other';
}

export type FrameLength = { kind: 'stun' | 'channel-data'; length: number } | { kind: 'need-more' } | { kind: 'invalid' };

/**
 * Length of the next frame at the head of a TURN stream: a STUN message (20 + length) or a
 * ChannelData message padded to 4. Needs 4 bytes; 'invalid' means the stream is not TURN.
 */
export function nextFrameLength(buf: Buffer, maxFrame = 65_535 + HEADER_LENGTH, maxChannel: ChannelMax = CHANNEL_MAX): FrameLength {
  if (buf.length < 4) return { kind: 'need-more' };
  const b = buf[0];
  const len = buf.readUInt16BE(2);
  if (b <= 3) {
    if ((len & 3) !== 0 || len + HEADER_LENGTH > maxFrame) return { kind: 'invalid' };
    return { kind: 'stun', length: HEADER_LENGTH + len };
  }
  if (b >= 64 && b <= 127) {
    const channel = buf.readUInt16BE(0);
    if (!isValidChannelNumber(channel, maxChannel)) return { kind: 'invalid' };
    return { kind: 'channel-data', length: 4 + len + channelDataPadding(len) };
  }
  return { kind: 'invalid' };
}

/**
 * Cuts frames out of a byte stream; pure (the app feeds it chunks). Bounded: one frame at most
 * maxFrame bytes, and the buffered tail never exceeds it.
 */
export class StreamFramer {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  private failed = false;

  constructor(
    private readonly maxFrame = 65_535 + HEADER_LENGTH,
    private readonly maxChannel: ChannelMax = CHANNEL_MAX,
  ) {}

  get broken(): boolean {
    return this.failed;
  }

  /**
   * Feeds a chunk and returns the complete frames it finishes (each a Buffer holding exactly one
   * STUN message or one padded ChannelData message). After an invalid frame the framer is broken
   * and returns nothing more: the app should close the connection.
   */
  push(chunk: Buffer): Buffer[] {
    if (this.failed) return [];
    let buf: Buffer;
    if (this.pendingLength === 0) buf = chunk;
    else {
      this.pending.push(chunk);
      buf = Buffer.concat(this.pending, this.pendingLength + chunk.length);
      this.pending = [];
      this.pendingLength = 0;
    }
    const frames: Buffer[] = [];
    let at = 0;
    while (at < buf.length) {
      const rest = buf.subarray(at);
      const f = nextFrameLength(rest, this.maxFrame, this.maxChannel);
      if (f.kind === 'invalid') {
        this.failed = true;
        return frames;
      }
      if (f.kind === 'need-more' || rest.length < f.length) break;
      frames.push(rest.subarray(0, f.length));
      at += f.length;
    }
    if (at < buf.length) {
      const tail = buf.subarray(at);
      this.pending.push(tail);
      this.pendingLength = tail.length;
    }
    return frames;
  }
}

// What every transport's handlers share: the engine, limits, metrics, logs, authentication, and
// encoding with a cache so a broadcast is encoded once however many participants receive it.
import type { Engine } from '../core/engine.js';
import { type LiveReviewError } from '../core/errors.js';
import type { Outbound } from '../core/model.js';
import { SessionMessage } from '../gen/codereview/v1/codereview.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Authenticator, Recheckable } from './auth.js';
import { outboundToSeedWire, outboundToWire, type WelcomeExtras } from './codec.js';
import { encodeAck, encodeEditEvent } from './hot-encoders.js';
import { RecentEncodings } from './recent-encodings.js';
import type { OutboundLimits, OutboundObserver } from './outbound-queue.js';

export interface TransportLimits extends OutboundLimits {
  maxMessageBytes: number;
  /** Unprocessed messages per stream before it stops reading (HTTP/2 flow control then pushes back). */
  maxInflight: number;
  /** Time allowed between opening a session stream and its join message. */
  joinTimeoutMs: number;
  /** A session stream ends (resumable) after this long; 0: never. */
  maxStreamDurationMs: number;
  /** Ask for a fresh token this long before the stream's token expires. */
  refreshAheadMs: number;
}

export interface TransportContext {
  engine: Engine;
  limits: TransportLimits;
  metrics: Metrics;
  logger: Logger;
  encoders: Encoders;
  /** The same messages as length-prefixed frames, for the gRPC streaming methods
   * (framed-encoders.ts). */
  framedEncoders: Encoders;
  auth: Authenticator;
  /** Live streams, re-checked every --auth-recheck-ms. */
  liveStreams: Set<Recheckable>;
}

export interface Encoders {
  /** SessionMessage bytes, kept for the last few message objects: every recipient of a broadcast
   * gets the same object, one after another, so it is encoded once (recent-encodings.ts). */
  session(msg: Outbound): Buffer;
  /** For clients that join with the capability "ops_only": edits carry their operations and the
   * first changed line's number, not the changed lines' text (the client has the text: a keystroke
   * on a long line stays a few bytes). Other messages are the `session` bytes. */
  opsOnly(msg: Outbound): Buffer;
  /** What a seed client receives (seed payloads only, edits without operations), cached like
   * `session`; undefined for what the seed's vocabulary lacks (never sent). */
  seed(msg: Outbound): Buffer | undefined;
  /** SubscribeResponse{message = 1} bytes: the SessionMessage bytes behind a field-1 header, with no
   * second encoding of the message itself. */
  subscribe(msg: Outbound): Buffer;
}

const toBuffer = (u8: Uint8Array) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);

export function createEncoders(extras: WelcomeExtras): Encoders {
  const sessionCache = new RecentEncodings<Buffer>();
  const subscribeCache = new RecentEncodings<Buffer>();
  const generic = (msg: Outbound) =>
    toBuffer(SessionMessage.encode(outboundToWire(msg, extras, Date.now())).finish());
  const session = (msg: Outbound): Buffer => {
    // An ack has one recipient: nothing to cache.
    if (msg.type === 'ack') return encodeAck(msg.sessionId, msg.ack, Date.now()) ?? generic(msg);
    let bytes = sessionCache.get(msg);
    if (!bytes) {
      bytes = (msg.type === 'event' && encodeEditEvent(msg.event, true)) || generic(msg);
      sessionCache.set(msg, bytes);
    }
    return bytes;
  };
  const opsOnlyCache = new RecentEncodings<Buffer>();
  const opsOnly = (msg: Outbound): Buffer => {
    if (msg.type !== 'event' || msg.event.change.kind !== 'edit') return session(msg);
    let bytes = opsOnlyCache.get(msg);
    if (!bytes) {
      bytes = encodeEditEvent(msg.event, false);
      if (!bytes) {
        const wire = outboundToWire(msg, extras, Date.now());
        if (wire.payload?.$case === 'edit') wire.payload.value.content = '';
        bytes = toBuffer(SessionMessage.encode(wire).finish());
      }
      opsOnlyCache.set(msg, bytes);
    }
    return bytes;
  };
  const seedCache = new RecentEncodings<Buffer | null>();
  const seed = (msg: Outbound): Buffer | undefined => {
    let bytes = seedCache.get(msg);
    if (bytes === undefined) {
      const wire = outboundToSeedWire(msg, extras, Date.now());
      bytes = wire ? toBuffer(SessionMessage.encode(wire).finish()) : null;
      seedCache.set(msg, bytes);
    }
    return bytes ?? undefined;
  };
  const subscribe = (msg: Outbound): Buffer => {
    let bytes = subscribeCache.get(msg);
    if (!bytes) {
      const inner = session(msg);
      const header: number[] = [0x0a];
      for (let n = inner.length; ; n >>>= 7) {
        if (n < 0x80) {
          header.push(n);
          break;
        }
        header.push((n & 0x7f) | 0x80);
      }
      bytes = Buffer.concat([Buffer.from(header), inner]);
      subscribeCache.set(msg, bytes);
    }
    return bytes;
  };
  return { session, opsOnly, seed, subscribe };
}

export function outboundObserver(ctx: TransportContext): OutboundObserver {
  const { metrics } = ctx;
  return {
    written(msg) {
      metrics.countSent(msg.type === 'event' ? msg.event.change.kind : msg.type);
      if (msg.type === 'event') metrics.fanoutLatency.observe((Date.now() - msg.event.at) / 1000);
    },
    depthChanged(delta) {
      metrics.outboundQueued += delta;
    },
    cutOff() {
      metrics.slowConsumers.inc();
    },
    withheld(msg) {
      metrics.withheld.labels(msg.type).inc();
    },
  };
}

export function countError(ctx: TransportContext, err: LiveReviewError): void {
  ctx.metrics.errors.labels(String(err.code), err.reason).inc();
}

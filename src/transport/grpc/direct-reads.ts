// A streaming call's request messages read from its HTTP/2 stream, past grpc-js's call. For every
// message grpc-js pauses the HTTP/2 stream, queues the message, decodes it after a promise (an
// async function awaiting its decompression, also when there is none), pushes it into the call's
// object-mode Readable, which emits it and asks for the next one, which resumes the HTTP/2 stream:
// under the typing load that machinery took ~7 % of the server's CPU (docs/benchmarks.md,
// "2026-12-06, morning").
//
// Here the frames are decoded as the HTTP/2 stream delivers them and handed to `onMessage` at
// once, in order. What grpc-js did on the way stays as it was:
// - **Size**: a message longer than the call's `grpc.max_receive_message_length` ends the call
//   RESOURCE_EXHAUSTED as soon as its length is read (grpc-js's own status and wording).
// - **Compression**: a compressed message (gzip or deflate, as the call's `grpc-encoding` says) is
//   inflated, bounded by the same limit; any other encoding ends the call UNIMPLEMENTED.
// - **Back-pressure**: `pause()` stops delivering, also between messages of one chunk, and pauses
//   the HTTP/2 stream (its flow-control window then fills); `resume()` goes on.
// - **Half-close, cancellation, deadline**: grpc-js still sees the HTTP/2 stream's end and close
//   and its deadline, and the call emits 'end', 'cancelled' and its status as before. (Its read
//   queue stays empty, so the half-close goes straight through once the call is flowing.)
//
// grpc-js keeps the stream, the limit and the deserializer in its innermost intercepting call
// (1.14). Should a release move them, `readMessages` returns undefined and the caller reads the
// call as before (a test checks that the stream is found).
import type { ServerHttp2Stream } from 'node:http2';
import { gunzipSync, inflateSync } from 'node:zlib';
import type { Readable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { findInterceptingCall } from './call-internals.js';

const FRAME_HEADER = 5;

/** What readMessages needs of grpc-js's innermost intercepting call. */
interface BaseCall {
  stream: ServerHttp2Stream;
  maxReceiveMessageSize: number;
  incomingEncoding: string;
  handler: { deserialize: (bytes: Buffer) => unknown };
  sendStatus(status: { code: grpc.status; details: string }): void;
}

function isBaseCall(c: Record<string, unknown>): boolean {
  const stream = c.stream as Partial<ServerHttp2Stream> | undefined;
  return (
    typeof stream?.on === 'function' &&
    typeof stream.pause === 'function' &&
    typeof c.maxReceiveMessageSize === 'number' &&
    typeof c.incomingEncoding === 'string' &&
    typeof (c.handler as { deserialize?: unknown } | undefined)?.deserialize === 'function' &&
    typeof c.sendStatus === 'function'
  );
}

function baseCallOf(call: object): BaseCall | undefined {
  return findInterceptingCall(call, isBaseCall) as BaseCall | undefined;
}

export interface MessageReader {
  pause(): void;
  resume(): void;
}

/**
 * Takes over reading `call`'s request messages (see above): each decoded message goes to
 * `onMessage`, in order. Call it from the handler, before anything reads the call. Undefined when
 * grpc-js's call is not as expected: then nothing was changed. Should `onMessage` throw, the call
 * ends INTERNAL and `onError` is told (grpc-js would have done the same with a throwing listener).
 */
export function readMessages<T>(
  call: Readable,
  onMessage: (message: T) => void,
  onError: (err: unknown) => void,
): MessageReader | undefined {
  const base = baseCallOf(call);
  if (!base) return undefined;
  const stream = base.stream;
  // grpc-js's own reader is its one 'data' listener; it has read nothing yet (it keeps the stream
  // paused until the handler reads the call).
  if (stream.listenerCount('data') !== 1 || stream.readableLength > 0) return undefined;
  stream.removeAllListeners('data');

  const max = base.maxReceiveMessageSize;
  const deserialize = base.handler.deserialize as (bytes: Buffer) => T;
  /** Bytes received and not delivered: the chunks, from `offset` in the first. */
  const chunks: Buffer[] = [];
  let offset = 0;
  let buffered = 0;
  let paused = false;
  let failed = false;

  const fail = (code: grpc.status, details: string) => {
    failed = true;
    chunks.length = 0;
    buffered = 0;
    base.sendStatus({ code, details });
  };

  /** Moves past `n` bytes of the first chunk (at most what is left of it). */
  const consume = (n: number) => {
    offset += n;
    buffered -= n;
    if (offset === chunks[0]!.length) {
      chunks.shift();
      offset = 0;
    }
  };

  /** `n` bytes from the buffered chunks, taken off them. */
  const take = (n: number): Buffer => {
    const first = chunks[0]!;
    if (first.length - offset >= n) {
      const out = first.subarray(offset, offset + n);
      consume(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    for (let filled = 0; filled < n;) {
      const copied = chunks[0]!.copy(out, filled, offset, Math.min(chunks[0]!.length, offset + n - filled));
      filled += copied;
      consume(copied);
    }
    return out;
  };

  /** The next frame's header, read by readHeader without taking it. */
  let compressed = 0;
  let length = 0;
  const readHeader = () => {
    let first = chunks[0]!;
    if (first.length - offset < FRAME_HEADER) {
      // Split over chunks: put it in front as a chunk of its own (the body may not be here yet).
      first = take(FRAME_HEADER);
      chunks.unshift(first);
      offset = 0;
      buffered += FRAME_HEADER;
    }
    compressed = first[offset]!;
    length = first.readUInt32BE(offset + 1);
  };

  /** Moves past `n` buffered bytes. */
  const skip = (n: number) => {
    while (n > 0) {
      const step = Math.min(n, chunks[0]!.length - offset);
      consume(step);
      n -= step;
    }
  };

  const inflate = (bytes: Buffer): Buffer | undefined => {
    const encoding = base.incomingEncoding;
    if (encoding === 'identity') return bytes;
    if (encoding !== 'gzip' && encoding !== 'deflate') {
      fail(grpc.status.UNIMPLEMENTED, `Received message compressed with unsupported encoding "${encoding}"`);
      return undefined;
    }
    try {
      const options = max === -1 ? {} : { maxOutputLength: max };
      return encoding === 'gzip' ? gunzipSync(bytes, options) : inflateSync(bytes, options);
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
        fail(
          grpc.status.RESOURCE_EXHAUSTED,
          `Received message that decompresses to a size larger than ${max}`,
        );
      } else fail(grpc.status.INTERNAL, 'Failed to decompress message');
      return undefined;
    }
  };

  const deliver = () => {
    while (!paused && !failed && buffered >= FRAME_HEADER) {
      readHeader();
      if (max !== -1 && length > max) {
        fail(grpc.status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${max})`);
        return;
      }
      if (buffered < FRAME_HEADER + length) return;
      skip(FRAME_HEADER);
      // A message's bytes are a view of the chunk it came in, as grpc-js gives them; the decoder
      // copies what it keeps (strings).
      let bytes: Buffer | undefined = length === 0 ? Buffer.alloc(0) : take(length);
      if (compressed === 1) bytes = inflate(bytes);
      if (!bytes) return;
      try {
        onMessage(deserialize(bytes));
      } catch (err) {
        fail(grpc.status.INTERNAL, 'Internal server error');
        onError(err);
        return;
      }
    }
    // What is left of a chunk is copied, so that the chunk is not held for a partial message.
    if (chunks.length === 1 && offset > 0) {
      chunks[0] = Buffer.from(chunks[0]!.subarray(offset));
      offset = 0;
    }
  };

  stream.on('data', (chunk: Buffer) => {
    if (failed) return;
    chunks.push(chunk);
    buffered += chunk.length;
    deliver();
  });
  return {
    pause() {
      if (paused) return;
      paused = true;
      stream.pause();
    },
    resume() {
      if (!paused) return;
      paused = false;
      deliver();
      if (!paused) stream.resume();
    },
  };
}

// Frames written to the call's HTTP/2 stream, past grpc-js's call. A streaming method's write went
// through two Writables (grpc-js's call, then the HTTP/2 stream), grpc-js's interceptor chain and
// its sendMessage (a trace message built for every write, a callback per write): about half of
// what a write costs in JavaScript, for frames that are whole already (framed-messages.ts).
// Measured under the typing load (docs/benchmarks.md, "2026-12-06, morning"): ~3 % of the server's
// CPU per delivery.
//
// Once grpc-js has sent the response headers (with the call's first message) and holds nothing
// unwritten, the frames go to the HTTP/2 stream itself; grpc-js's call is then idle until it ends
// the stream with its status, behind everything written. Back-pressure is the HTTP/2 stream's:
// `write` returns false past its buffer's high-water mark and it emits 'drain'.
//
// grpc-js keeps the stream in its innermost intercepting call (1.14): should a release move it,
// `http2StreamOf` finds nothing and every write goes through grpc-js as before (a test checks that
// it is found).
import type { ServerHttp2Stream } from 'node:http2';
import type { Writable } from 'node:stream';
import { findInterceptingCall } from './call-internals.js';

function isHttp2Stream(value: unknown): value is ServerHttp2Stream {
  const s = value as Partial<ServerHttp2Stream> | undefined;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.write === 'function' &&
    typeof s.respond === 'function' &&
    typeof s.headersSent === 'boolean'
  );
}

/** The HTTP/2 stream under a grpc-js server call, or undefined when grpc-js keeps it elsewhere. */
export function http2StreamOf(call: object): ServerHttp2Stream | undefined {
  return findInterceptingCall(call, (c) => isHttp2Stream(c.stream))?.stream as ServerHttp2Stream | undefined;
}

export interface FrameWriter {
  /** Writes whole gRPC frames; false: wait for onceDrain. */
  write(frames: Buffer): boolean;
  onceDrain(fn: () => void): void;
}

/** Writes a call's frames through grpc-js until it can write them to the HTTP/2 stream (see above). */
export function frameWriter(call: Writable): FrameWriter {
  const stream = http2StreamOf(call);
  let direct: ServerHttp2Stream | undefined;
  return {
    write(frames) {
      if (!direct) {
        // grpc-js sends the headers with the first message; until that write is done its call is
        // the only writer, so that nothing overtakes what it still holds.
        if (!stream?.headersSent || call.writableLength > 0 || call.writableEnded) return call.write(frames);
        direct = stream;
      }
      // Ended (with a status of grpc-js's own: a deadline, a message over the size limit) or gone:
      // nothing more goes out, as grpc-js-fixes.ts does for its own writes. A write after the end
      // would be an 'error' on the stream, which grpc-js handles only once.
      if (direct.writableEnded || direct.destroyed) return true;
      return direct.write(frames);
    },
    onceDrain(fn) {
      (direct ?? call).once('drain', fn);
    },
  };
}

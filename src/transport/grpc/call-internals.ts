// grpc-js's server call, as direct-writes.ts and direct-reads.ts reach into it: the handler's call
// holds a chain of intercepting calls (`call`, then each `nextCall`), the innermost of which keeps
// the HTTP/2 stream, the receive limit and the deserializer (grpc-js 1.14).

/** How deep grpc-js's intercepting calls may nest (one per server interceptor, plus its own). */
const MAX_INTERCEPTORS = 16;

/** The first intercepting call under a grpc-js server call that `matches`, or undefined. */
export function findInterceptingCall(
  call: object,
  matches: (c: Record<string, unknown>) => boolean,
): Record<string, unknown> | undefined {
  let c = (call as { call?: unknown }).call as Record<string, unknown> | undefined;
  for (let depth = 0; c && depth < MAX_INTERCEPTORS; depth++) {
    if (matches(c)) return c;
    c = c.nextCall as Record<string, unknown> | undefined;
  }
  return undefined;
}

// What a bus adapter refuses, the same way for every adapter: callers treat any rejection of
// publish() as a drop, but the reason tells a log reader whether Redis was down or a caller tried
// to publish something absurd.

/** Largest payload a bus carries unless told otherwise: well above the committed event of the
 * largest client message (1 MiB by default, plus JSON escaping and the envelope), and well below
 * Redis's pub/sub output buffer limit (32 MB by default), past which Redis cuts a subscriber off. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

/** The bus cannot be reached right now (connection lost, not yet restored). */
export class BusUnavailableError extends Error {
  override readonly name = 'BusUnavailableError';
}

/** The bus instance was closed by its owner. */
export class BusClosedError extends Error {
  override readonly name = 'BusClosedError';
  constructor() {
    super('the bus is closed');
  }
}

/** A payload above the bus's size limit: refused on publish, dropped on receipt. */
export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
  constructor(
    readonly topic: string,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(`bus payload on topic ${JSON.stringify(topic)} is ${bytes} bytes, above the limit of ${maxBytes}`);
  }
}

/** Throws PayloadTooLargeError when the payload's UTF-8 encoding exceeds `maxBytes`. */
export function checkPayloadSize(topic: string, payload: string, maxBytes: number): void {
  // A UTF-8 byte count is at most 3 per UTF-16 unit: short payloads skip the exact count.
  if (payload.length * 3 <= maxBytes) return;
  const bytes = Buffer.byteLength(payload, 'utf8');
  if (bytes > maxBytes) throw new PayloadTooLargeError(topic, bytes, maxBytes);
}

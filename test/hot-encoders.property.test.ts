// The hand-written encoders of the edit broadcast and the ack (src/transport/hot-encoders.ts) write
// exactly the bytes ts-proto's generated encoder writes for the same message, for any such message:
// any text (multi-byte, outside the BMP, lone surrogates), any number the engine produces, empty
// and absent fields. A client cannot tell which encoder a message came from.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { AckView, LoggedEvent } from '../src/core/model.js';
import { SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import type { TextOp } from '../src/ot/text.js';
import { outboundToWire } from '../src/transport/codec.js';
import { encodeAck, encodeEditEvent } from '../src/transport/hot-encoders.js';

const extras = { serverId: 's', maxMessageBytes: 1, idleAfterMs: 1 };
const text = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({
    unit: fc.constantFrom('a', 'é', '中', '😀', '\ud800', '\udc00', '\n', '\u0000'),
    maxLength: 20,
  }),
  fc.string({ minLength: 120, maxLength: 300 }), // lengths past one varint byte
);
const count = fc.oneof(fc.constantFrom(0, 1, 127, 128, 16_383, 16_384, 0x7fffffff), fc.nat());
const big = fc.oneof(
  count,
  fc.constantFrom(2 ** 31, 2 ** 35, Date.now(), Number.MAX_SAFE_INTEGER),
  fc.maxSafeNat(),
);
const op: fc.Arbitrary<TextOp> = fc.array(
  fc.oneof(
    count.filter((n) => n > 0),
    text.filter((t) => t.length > 0),
    count.filter((n) => n > 0).map((d) => ({ d })),
    text.filter((t) => t.length > 0).map((d) => ({ d })),
  ),
  { maxLength: 6 },
);

const editEvent: fc.Arbitrary<LoggedEvent> = fc.record({
  sessionId: text,
  seq: big,
  at: big,
  origin: fc.record({ userId: text, clientId: text, clientMessageId: text }),
  change: fc.record({
    kind: fc.constant('edit' as const),
    path: text,
    version: count,
    op,
    line: count,
    lineText: text,
  }),
});

const ack: fc.Arbitrary<AckView> = fc.record({
  clientMessageId: text,
  sequence: big,
  version: count,
  path: text,
  commentId: text,
  line: count,
  duplicate: fc.boolean(),
});

const generated = (wire: SessionMessage) => Buffer.from(SessionMessage.encode(wire).finish());

describe('hot encoders', () => {
  it('an edit broadcast, with and without its line text, is the generated encoding', () => {
    fc.assert(
      fc.property(editEvent, (event) => {
        const wire = outboundToWire({ type: 'event', event }, extras, 0);
        assert.deepEqual(encodeEditEvent(event, true), generated(wire));
        if (wire.payload?.$case === 'edit') wire.payload.value.content = '';
        assert.deepEqual(encodeEditEvent(event, false), generated(wire));
      }),
      { numRuns: 2000 },
    );
  });

  it('an ack is the generated encoding', () => {
    fc.assert(
      fc.property(text, ack, big, (sessionId, a, now) => {
        const wire = outboundToWire({ type: 'ack', sessionId, ack: a }, extras, now);
        assert.deepEqual(encodeAck(sessionId, a, now), generated(wire));
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves what it does not handle to the generated encoder', () => {
    const event = fc.sample(editEvent, 1)[0]!;
    assert.equal(
      encodeEditEvent({ ...event, change: { ...event.change, line: -1 } } as LoggedEvent, true),
      undefined,
    );
    assert.equal(encodeAck('s', { ...fc.sample(ack, 1)[0]!, version: -2 }, 1), undefined);
  });
});

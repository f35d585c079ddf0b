// Hand-written encoders for the two messages the server sends most: an edit's broadcast (to every
// other participant) and an ack (to its sender), byte for byte what ts-proto's generated encoder
// writes for the SessionMessage codec.ts builds (test/hot-encoders.property.test.ts compares them
// on random messages). The generated path builds the wire object first, then encodes it through a
// BinaryWriter that forks a buffer list per nested message: ~2.1 µs and a dozen objects per
// message here (npm run bench:codec), at two messages per edit. This sizes the message, allocates
// its buffer once and writes it. Anything it does not handle (negative numbers, which the engine
// never produces) returns undefined and takes the generated path.
import type { AckView, LoggedEvent } from '../core/model.js';
import { codePointLength, type TextOp } from '../ot/text.js';

const MAX_FAST = 2 ** 53;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bytes of a length-delimited field (tag of one byte unless given) holding `bytes` bytes. */
const delimited = (bytes: number, tagBytes = 1) => tagBytes + varintSize(bytes) + bytes;
/** Bytes of a string field of `bytes` bytes, or of a varint field holding n: none when empty or 0. */
const stringFieldSize = (bytes: number) => (bytes === 0 ? 0 : delimited(bytes));
const varintFieldSize = (n: number) => (n === 0 ? 0 : 1 + varintSize(n));

class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    const buf = this.buf;
    while (n >= 128) {
      buf[this.pos++] = (n % 128) | 128;
      n = Math.floor(n / 128);
    }
    buf[this.pos++] = n;
  }

  /** A string field of `bytes` UTF-8 bytes, left out when empty (proto3's default). */
  stringField(tag: number, value: string, bytes: number): void {
    if (bytes === 0) return;
    this.varint(tag);
    this.string(value, bytes);
  }

  /** A varint field, left out when 0. */
  varintField(tag: number, n: number): void {
    if (n === 0) return;
    this.varint(tag);
    this.varint(n);
  }

  /** A string field's length and UTF-8 bytes (its tag is written already). */
  string(value: string, bytes: number): void {
    this.varint(bytes);
    if (bytes === value.length) {
      // ASCII (utf8Length found no other character): short ids and paths, no native call.
      const buf = this.buf;
      for (let i = 0; i < bytes; i++) buf[this.pos + i] = value.charCodeAt(i);
      this.pos += bytes;
    } else this.pos += this.buf.write(value, this.pos, 'utf8');
  }
}

/** UTF-8 length of a string, with ASCII (its length) found without a native call. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

const ok = (n: number) => Number.isInteger(n) && n >= 0 && n < MAX_FAST;
const ok32 = (n: number) => Number.isInteger(n) && n >= 0 && n <= 0x7fffffff;

/** SessionMessage{edit} of an edit event; `withContent` false: the changed line's text is left out
 * (clients with the capability ops_only). */
export function encodeEditEvent(event: LoggedEvent, withContent: boolean): Buffer | undefined {
  const c = event.change;
  if (c.kind !== 'edit') return undefined;
  const { sessionId, at, seq, origin } = event;
  if (!ok(at) || !ok(seq) || !ok32(c.line) || !ok32(c.version)) return undefined;
  const content = withContent ? c.lineText : '';
  const sizes = {
    sessionId: utf8Length(sessionId),
    userId: utf8Length(origin.userId),
    messageId: utf8Length(origin.clientMessageId),
    clientId: utf8Length(origin.clientId),
    path: utf8Length(c.path),
    content: utf8Length(content),
  };
  const ops = opSizes(c.op);
  if (!ops) return undefined;
  let edit =
    stringFieldSize(sizes.path) +
    varintFieldSize(c.line) +
    stringFieldSize(sizes.content) +
    varintFieldSize(c.version);
  for (const s of ops) edit += delimited(s.bytes);
  const total =
    delimited(edit) +
    stringFieldSize(sizes.sessionId) +
    varintFieldSize(at) +
    stringFieldSize(sizes.userId) +
    varintFieldSize(seq) +
    stringFieldSize(sizes.messageId) +
    stringFieldSize(sizes.clientId);

  const w = new Writer(Buffer.allocUnsafe(total));
  w.stringField(10, sessionId, sizes.sessionId);
  w.varintField(16, at);
  w.stringField(26, origin.userId, sizes.userId);
  w.varint(34);
  w.varint(edit);
  w.stringField(10, c.path, sizes.path);
  w.varintField(16, c.line);
  w.stringField(26, content, sizes.content);
  w.varintField(32, c.version);
  c.op.forEach((component, i) => {
    const s = ops[i]!;
    w.varint(42);
    w.varint(s.bytes);
    if (typeof component === 'number') {
      w.varint(8);
      w.varint(component);
    } else if (typeof component === 'string') {
      w.varint(18);
      w.string(component, s.text);
    } else {
      w.varint(24);
      w.varint(s.deleted);
    }
  });
  w.varintField(64, seq);
  w.stringField(74, origin.clientMessageId, sizes.messageId);
  w.stringField(82, origin.clientId, sizes.clientId);
  return w.buf;
}

/** Each TextOperation's encoded size (and what its field holds), or undefined to fall back. */
function opSizes(op: TextOp): { bytes: number; text: number; deleted: number }[] | undefined {
  const sizes: { bytes: number; text: number; deleted: number }[] = [];
  for (const component of op) {
    if (typeof component === 'number') {
      if (!ok32(component)) return undefined;
      sizes.push({ bytes: 1 + varintSize(component), text: 0, deleted: 0 });
    } else if (typeof component === 'string') {
      const text = utf8Length(component);
      sizes.push({ bytes: delimited(text), text, deleted: 0 });
    } else {
      const deleted = typeof component.d === 'number' ? component.d : codePointLength(component.d);
      if (!ok32(deleted)) return undefined;
      sizes.push({ bytes: 1 + varintSize(deleted), text: 0, deleted });
    }
  }
  return sizes;
}

/** SessionMessage{ack}: session id, the server's time, the ack, the acknowledged message's id. */
export function encodeAck(sessionId: string, ack: AckView, now: number): Buffer | undefined {
  if (!ok(now) || !ok(ack.sequence) || !ok32(ack.version) || !ok32(ack.line)) return undefined;
  const sizes = {
    sessionId: utf8Length(sessionId),
    messageId: utf8Length(ack.clientMessageId),
    path: utf8Length(ack.path),
    commentId: utf8Length(ack.commentId),
  };
  const duplicate = ack.duplicate ? 1 : 0;
  const body =
    stringFieldSize(sizes.messageId) +
    varintFieldSize(ack.sequence) +
    varintFieldSize(ack.version) +
    stringFieldSize(sizes.path) +
    varintFieldSize(duplicate) +
    stringFieldSize(sizes.commentId) +
    varintFieldSize(ack.line);
  const total =
    delimited(body, 2) +
    stringFieldSize(sizes.sessionId) +
    varintFieldSize(now) +
    stringFieldSize(sizes.messageId);

  const w = new Writer(Buffer.allocUnsafe(total));
  w.stringField(10, sessionId, sizes.sessionId);
  w.varintField(16, now);
  w.varint(154); // field 19, length-delimited: two bytes
  w.varint(body);
  w.stringField(10, ack.clientMessageId, sizes.messageId);
  w.varintField(16, ack.sequence);
  w.varintField(24, ack.version);
  w.stringField(34, ack.path, sizes.path);
  w.varintField(40, duplicate);
  w.stringField(50, ack.commentId, sizes.commentId);
  w.varintField(56, ack.line);
  w.stringField(74, ack.clientMessageId, sizes.messageId);
  return w.buf;
}

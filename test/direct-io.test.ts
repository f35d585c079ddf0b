// Frames written to and read from the call's HTTP/2 stream past grpc-js
// (src/transport/grpc/direct-writes.ts, direct-reads.ts), on the grpc-js this project pins: the
// HTTP/2 stream is found; frames after the first go to it, in order, with the status after them;
// back-pressure holds both ways; writes after grpc-js ended the call (its deadline) are dropped
// without an error; messages of any size, compressed or not, arrive whole and in order; and a
// message over the limit ends the call RESOURCE_EXHAUSTED, as grpc-js would.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { frame } from '../src/transport/framed-encoders.js';
import { installPreFraming, preFramed } from '../src/transport/grpc/framed-messages.js';
import { frameWriter, http2StreamOf, type FrameWriter } from '../src/transport/grpc/direct-writes.js';
import { readMessages } from '../src/transport/grpc/direct-reads.js';

const method = '/test.Frames/Stream';
const echoMethod = '/test.Frames/Echo';
const bidi = (path: string) => ({
  path,
  requestStream: true,
  responseStream: true,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  // What the handler writes are frames already, as LiveReview's streaming methods write them.
  responseSerialize: preFramed,
  responseDeserialize: (b: Buffer) => b,
});
const definition: grpc.ServiceDefinition = { stream: bidi(method), echo: bidi(echoMethod) };

/** What the echo handler answers for each message: its index, length and digest. */
const digest = (i: number, b: Buffer) => `${i}:${b.length}:${createHash('sha1').update(b).digest('hex')}`;

interface Seen {
  found: boolean;
  /** How many writes returned false (each waited for onceDrain). */
  waits: number;
  /** Writes that went through grpc-js's call. */
  viaGrpcJs: number;
  /** The late frames ("!") were written. */
  lateWritten?: boolean;
}

/** A server whose handler answers each request (a count, as text) with that many numbered frames,
 * then, once the client half-closes, ends the call OK. A count after "!" is written half a second
 * later, without waiting for drain. */
async function startFramesServer(
  seen: Seen[],
  options: grpc.ServerOptions = {},
): Promise<{ server: grpc.Server; port: number }> {
  installPreFraming();
  const server = new grpc.Server(options);
  server.addService(definition, {
    stream: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const record: Seen = { found: http2StreamOf(call) !== undefined, waits: 0, viaGrpcJs: 0 };
      seen.push(record);
      const write = call.write.bind(call) as (chunk: Buffer) => boolean;
      call.write = ((chunk: Buffer) => {
        record.viaGrpcJs++;
        return write(chunk);
      }) as typeof call.write;
      const writer: FrameWriter = frameWriter(call);
      let next = 0;
      let writing = Promise.resolve();
      call.on('data', (request: Buffer) => {
        const text = request.toString();
        if (text.startsWith('!')) {
          setTimeout(() => {
            for (let i = 0; i < Number(text.slice(1)); i++) writer.write(frame(Buffer.from('late')));
            record.lateWritten = true;
          }, 500);
          return;
        }
        const count = Number(text);
        writing = writing.then(async () => {
          for (let i = 0; i < count; i++) {
            const body = Buffer.alloc(1024, 'x');
            body.write(String(next++).padStart(8, '0'));
            if (!writer.write(frame(body))) {
              record.waits++;
              await new Promise<void>((resolve) => writer.onceDrain(resolve));
            }
          }
        });
      });
      call.on('end', () => void writing.then(() => call.end()));
    },
    // Read past grpc-js; pauses reading for a moment after every tenth message.
    echo: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      const writer = frameWriter(call);
      let received = 0;
      const reader = readMessages<Buffer>(
        call,
        (message) => {
          writer.write(frame(Buffer.from(digest(received++, message))));
          if (received % 10 === 0) {
            reader!.pause();
            setTimeout(() => reader!.resume(), 5);
          }
        },
        (err) => assert.fail(err as Error),
      );
      seen.push({ found: reader !== undefined, waits: 0, viaGrpcJs: 0 });
      call.resume();
      call.on('end', () => call.end());
    },
  } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return { server, port };
}

const Client = grpc.makeGenericClientConstructor(definition, 'Frames');

/** A call of one of the test methods, its messages as bytes. */
function open(client: grpc.Client, path: string, options: grpc.CallOptions = {}) {
  return client.makeBidiStreamRequest(
    path,
    (b: Buffer) => b,
    (b: Buffer) => b,
    new grpc.Metadata(),
    options,
  ) as grpc.ClientDuplexStream<Buffer, Buffer>;
}

/** Sends `messages` on the echo method; resolves with the answers and the status. */
async function echo(
  client: grpc.Client,
  messages: Buffer[],
): Promise<{ answers: string[]; status: grpc.StatusObject }> {
  const call = open(client, echoMethod);
  const answers: string[] = [];
  call.on('data', (b: Buffer) => answers.push(b.toString()));
  call.on('error', () => {}); // the status says it
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  for (const m of messages) call.write(m);
  call.end();
  return { answers, status: await status };
}

/** Messages from empty to 200 KB (HTTP/2 splits those over 16 KB), of varied bytes. */
function varied(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => {
    const size = i % 7 === 0 ? 200_000 - i : i % 3 === 0 ? 0 : (i * 997) % 20_000;
    const b = Buffer.alloc(size);
    for (let k = 0; k < size; k += 101) b[k] = (i + k) & 0xff;
    return b;
  });
}

describe('frames written past grpc-js', () => {
  it('finds the HTTP/2 stream and delivers every frame in order, then the status, also when the client reads slowly', async () => {
    const seen: Seen[] = [];
    const { server, port } = await startFramesServer(seen);
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const call = open(client, method);
      const received: number[] = [];
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      let paused = false;
      call.on('data', (b: Buffer) => {
        received.push(Number(b.subarray(0, 8).toString()));
        // Reads slowly for a while: the server's writes fill the HTTP/2 stream's buffer and wait.
        if (received.length === 50 && !paused) {
          paused = true;
          call.pause();
          setTimeout(() => call.resume(), 300);
        }
      });
      call.write(Buffer.from('1'));
      call.write(Buffer.from('2000'));
      call.write(Buffer.from('3'));
      call.end();
      const { code } = await status;
      assert.equal(code, grpc.status.OK);
      assert.deepEqual(
        received,
        Array.from({ length: 2004 }, (_, i) => i),
      );
      assert.equal(seen[0]?.found, true, 'grpc-js keeps the HTTP/2 stream where direct-writes.ts looks');
      assert.ok(seen[0]!.waits > 0, 'the writer waited for drain at least once');
      // The first frames go through grpc-js (it sends the headers), the rest past it.
      assert.ok(seen[0]!.viaGrpcJs < 100, `${seen[0]!.viaGrpcJs} of 2004 frames went through grpc-js`);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('drops frames written after grpc-js ended the call at its deadline, and the server keeps running', async () => {
    const seen: Seen[] = [];
    const { server, port } = await startFramesServer(seen);
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const call = open(client, method, { deadline: Date.now() + 300 });
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => {}); // the status says it
      call.on('data', () => {});
      // One frame (the headers go with it), then frames written after the deadline has ended the
      // call: past grpc-js, to the HTTP/2 stream it ended.
      call.write(Buffer.from('1'));
      await new Promise((r) => setTimeout(r, 100));
      call.write(Buffer.from('!50'));
      const { code } = await status;
      assert.equal(code, grpc.status.DEADLINE_EXCEEDED);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(seen[0]?.lateWritten, true);
      // And the server still serves.
      const again = open(client, method);
      const got: Buffer[] = [];
      again.on('data', (b: Buffer) => got.push(b));
      const done = new Promise<grpc.StatusObject>((resolve) => again.on('status', resolve));
      again.write(Buffer.from('3'));
      again.end();
      assert.equal((await done).code, grpc.status.OK);
      assert.equal(got.length, 3);
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('reads messages of any size, compressed or not, whole and in order, pausing between them', async () => {
    const seen: Seen[] = [];
    const { server, port } = await startFramesServer(seen, { 'grpc.max_receive_message_length': 256 * 1024 });
    const plain = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const gzip = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip,
    });
    try {
      const messages = varied(120);
      const expected = messages.map((m, i) => digest(i, m));
      for (const client of [plain, gzip]) {
        const { answers, status } = await echo(client, messages);
        assert.equal(status.code, grpc.status.OK, status.details);
        assert.deepEqual(answers, expected);
      }
      assert.deepEqual(
        seen.map((s) => s.found),
        [true, true],
        'grpc-js keeps what direct-reads.ts needs where it looks',
      );
    } finally {
      plain.close();
      gzip.close();
      server.forceShutdown();
    }
  });

  it('ends a call RESOURCE_EXHAUSTED on a message over the limit, also one that only inflates over it', async () => {
    const { server, port } = await startFramesServer([], { 'grpc.max_receive_message_length': 64 * 1024 });
    const plain = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const gzip = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': grpc.compressionAlgorithms.gzip,
    });
    try {
      const under = Buffer.alloc(1000, 'a');
      // Compresses to well under the limit; inflates to twice it.
      const over = Buffer.alloc(128 * 1024, 'z');
      const sent = await echo(plain, [under, over, under]);
      assert.equal(sent.status.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(sent.status.details, /Received message larger than max \(131072 vs 65536\)/);
      assert.deepEqual(sent.answers, [digest(0, under)]);
      const inflated = await echo(gzip, [under, over, under]);
      assert.equal(inflated.status.code, grpc.status.RESOURCE_EXHAUSTED);
      assert.match(inflated.status.details, /decompresses to a size larger than 65536/);
      assert.deepEqual(inflated.answers, [digest(0, under)]);
      // The server goes on serving.
      const after = await echo(plain, [under]);
      assert.equal(after.status.code, grpc.status.OK);
    } finally {
      plain.close();
      gzip.close();
      server.forceShutdown();
    }
  });

  it('reads frames a raw HTTP/2 client sends a byte at a time, headers split over DATA frames', async () => {
    const { server, port } = await startFramesServer([]);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const messages = [Buffer.from('first'), Buffer.alloc(0), Buffer.alloc(300, 'y')];
      const wire = Buffer.concat(messages.map((m) => frame(m)));
      const req = session.request({
        ':method': 'POST',
        ':path': echoMethod,
        'content-type': 'application/grpc',
        te: 'trailers',
      });
      const answers: string[] = [];
      let pending = Buffer.alloc(0);
      req.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const n = pending.readUInt32BE(1);
          answers.push(pending.subarray(5, 5 + n).toString());
          pending = pending.subarray(5 + n);
        }
      });
      const trailers = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('trailers', resolve));
      // Each byte its own DATA frame, a moment apart: every header arrives in pieces.
      for (const byte of wire) {
        req.write(Buffer.from([byte]));
        await new Promise((r) => setImmediate(r));
      }
      req.end();
      assert.equal((await trailers)['grpc-status'], '0');
      assert.deepEqual(
        answers,
        messages.map((m, i) => digest(i, m)),
      );
    } finally {
      session.close();
      server.forceShutdown();
    }
  });
});

// What one idle HTTP/2 connection with one open stream costs a Node server, before any gRPC or
// LiveReview code: the part of "KB of server RSS per idle participant" (npm run bench -- --scenario
// idle) that no server built on Node's http2 can avoid, and whether the HTTP/2 settings one can
// tune (flow-control window, HPACK table, header list, session memory, stream limits) change it.
// A child process serves plain node:http2; this process opens N connections with a stream each.
//
// Run: npm run build && node dist/bench/http2-idle.js [--connections 2000]
import { fork } from 'node:child_process';
import { connect, createServer, type ClientHttp2Session, type Settings } from 'node:http2';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface Sample {
  rss: number;
  heap: number;
  streams: number;
}

if (process.argv[2] === '--serve') {
  const { settings, options } = JSON.parse(process.argv[3]!) as { settings: Settings; options: object };
  const streams: unknown[] = [];
  const server = createServer({ settings, ...options });
  server.on('stream', (s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' });
    streams.push(s);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('message', () => {
    (globalThis as { gc?: () => void }).gc?.();
    const m = process.memoryUsage();
    process.send!({ rss: m.rss, heap: m.heapUsed, streams: streams.length } satisfies Sample);
  });
} else {
  const { values: args } = parseArgs({ options: { connections: { type: 'string', default: '2000' } } });
  const N = Number(args.connections);
  const variants: [string, Settings, object][] = [
    ['defaults', {}, {}],
    [
      '16 KB window, 256 B HPACK table, 8 KB header list',
      { initialWindowSize: 16384, headerTableSize: 256, maxHeaderListSize: 8192 },
      {},
    ],
    ['maxSessionMemory 1 MB', {}, { maxSessionMemory: 1 }],
    ['10 streams per connection, 4 settings', { maxConcurrentStreams: 10 }, { maxSettings: 4 }],
  ];
  console.log(
    `\n### Idle HTTP/2 connections on plain node:http2 (${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'}, Node ${process.version})\n`,
  );
  console.log(`${N} connections, one open stream each\n`);
  console.log('| server settings | KB of server RSS per connection | KB of JS heap per connection |');
  console.log('| --- | --- | --- |');
  for (const [name, settings, options] of variants) {
    const child = fork(fileURLToPath(import.meta.url), ['--serve', JSON.stringify({ settings, options })], {
      execArgv: ['--expose-gc'],
    });
    const { port } = await new Promise<{ port: number }>((r) => child.once('message', r as never));
    const sample = () =>
      new Promise<Sample>((r) => {
        child.once('message', r as never);
        child.send('sample');
      });
    await new Promise((r) => setTimeout(r, 500));
    const before = await sample();
    const sessions: ClientHttp2Session[] = [];
    for (let i = 0; i < N; i++) {
      const session = connect(`http://127.0.0.1:${port}`);
      session.on('error', () => undefined);
      const req = session.request({
        ':method': 'POST',
        ':path': '/idle',
        'content-type': 'application/grpc',
      });
      req.on('error', () => undefined);
      sessions.push(session);
      if (i % 200 === 199) await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 2000));
    const after = await sample();
    if (after.streams !== N) throw new Error(`${after.streams} of ${N} streams open`);
    const kb = (bytes: number) => (bytes / 1024 / N).toFixed(1);
    console.log(`| ${name} | ${kb(after.rss - before.rss)} | ${kb(after.heap - before.heap)} |`);
    for (const s of sessions) s.destroy();
    child.kill();
  }
}

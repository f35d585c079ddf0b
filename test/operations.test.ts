// What an operator relies on: health, reflection, metrics, correlated logs, graceful SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Collector, isCase, joinSession, openReview, ourClient } from './helpers/clients.js';
import { decodeDetails } from './helpers/status-details.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const require = createRequire(import.meta.url);

function loadService(
  protoFile: string,
  includeDirs: string[],
  path: string[],
): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(protoFile, {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    includeDirs,
  });
  let node: unknown = grpc.loadPackageDefinition(def);
  for (const p of path) node = (node as Record<string, unknown>)[p];
  return node as grpc.ServiceClientConstructor;
}

const healthProto = require.resolve('grpc-health-check/proto/health/v1/health.proto');
const reflectionProto = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
const HealthClient = loadService(healthProto, [], ['grpc', 'health', 'v1', 'Health']);
const ReflectionClient = loadService(reflectionProto, [], ['grpc', 'reflection', 'v1', 'ServerReflection']);

describe('operations', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.shutdown(500);
  });

  it('lists and describes the service through server reflection', async () => {
    const client = new ReflectionClient(server.address, grpc.credentials.createInsecure());
    const call = (
      client as unknown as {
        ServerReflectionInfo(): grpc.ClientDuplexStream<object, Record<string, unknown>>;
      }
    ).ServerReflectionInfo();
    const got = new Collector<Record<string, unknown>>(call);
    call.write({ list_services: '' });
    const listed = await got.waitFor(
      (m) => 'list_services_response' in m && !!m.list_services_response,
      'list_services',
    );
    const names = (listed.list_services_response as { service: { name: string }[] }).service.map(
      (s) => s.name,
    );
    assert.ok(names.includes('codereview.v1.CodeReviewService'), `listed: ${names.join(', ')}`);
    call.write({ file_containing_symbol: 'codereview.v1.CodeReviewService' });
    const file = await got.waitFor((m) => !!m.file_descriptor_response, 'file_containing_symbol');
    assert.ok(
      (file.file_descriptor_response as { file_descriptor_proto: Buffer[] }).file_descriptor_proto.length > 0,
    );
    call.end();
    client.close();
  });

  it('exposes the metrics an operator needs on /metrics', async () => {
    const client = ourClient(server.address);
    const a = joinSession(client, 'ops-metrics', 'a');
    await a.got.waitFor(isCase('welcome'), 'welcome');
    const text = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`).then((r) => r.text());
    for (const name of [
      'livereview_active_streams',
      'livereview_sessions',
      'livereview_participants',
      'livereview_messages_received_total',
      'livereview_messages_sent_total',
      'livereview_errors_total',
      'livereview_stream_duration_seconds',
      'livereview_outbound_queue_depth',
      'livereview_slow_consumers_cut_off_total',
      'livereview_fanout_latency_seconds',
      'process_cpu_seconds_total',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
    }
    assert.match(text, /livereview_active_streams\{method="CollaborativeSession"\} 1/);
    a.call.end();
    await a.got.waitForEnd();
    client.close();
  });

  it('carries the correlation id on every log line of a stream, and returns it', async () => {
    const client = ourClient(server.address);
    const md = new grpc.Metadata();
    md.set('x-request-id', 'trace-me-42');
    const a = joinSession(client, 'ops-logs', 'a', { metadata: md });
    const returned = new Promise<string>((resolve) =>
      a.call.on('metadata', (m: grpc.Metadata) => resolve(String(m.get('x-request-id')[0]))),
    );
    await a.got.waitFor(isCase('welcome'), 'welcome');
    assert.equal(await returned, 'trace-me-42');
    a.call.end();
    await a.got.waitForEnd();
    const lines = server.logs.filter((l) => l.cid === 'trace-me-42');
    assert.ok(
      lines.some((l) => l.msg === 'joined' && l.session === 'ops-logs'),
      'the join is logged with the id',
    );
    assert.ok(
      lines.some((l) => l.msg === 'stream ended'),
      'the end is logged with the id',
    );
    client.close();
  });

  it('is SERVING, then NOT_SERVING while it shuts down', async () => {
    const own = await startTestServer();
    const health = new HealthClient(own.address, grpc.credentials.createInsecure()) as unknown as {
      Check(req: object, cb: (e: grpc.ServiceError | null, r: { status: string }) => void): void;
      Watch(req: object): grpc.ClientReadableStream<{ status: string }>;
      close(): void;
    };
    const checked = await new Promise<string>((resolve, reject) =>
      health.Check({ service: 'codereview.v1.CodeReviewService' }, (e, r) =>
        e ? reject(e) : resolve(r.status),
      ),
    );
    assert.equal(checked, 'SERVING');
    const watch = health.Watch({ service: 'codereview.v1.CodeReviewService' });
    const statuses = new Collector<{ status: string }>(watch);
    await statuses.waitFor((s) => s.status === 'SERVING', 'SERVING');
    const done = own.shutdown(1000);
    await statuses.waitFor((s) => s.status === 'NOT_SERVING', 'NOT_SERVING during shutdown');
    await done;
    health.close();
  });
});

describe('SIGTERM with connected clients', () => {
  it('tells them to resume elsewhere (UNAVAILABLE, RetryInfo) and exits 0 within the grace', async () => {
    const bin = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));
    const data = mkdtempSync(join(tmpdir(), 'lr-term-'));
    const child = spawn(
      process.execPath,
      [
        bin,
        'serve',
        '--port',
        '0',
        '--metrics-port',
        '-1',
        '--http-port',
        '-1',
        '--shutdown-grace-ms',
        '3000',
        '--data',
        data,
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`server exited early (${code}): ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const client = ourClient(`127.0.0.1:${port}`);
    const a = joinSession(client, 'term', 'a');
    const b = joinSession(client, 'term', 'b');
    await a.got.waitFor(isCase('welcome'), 'welcome');
    await b.got.waitFor(isCase('welcome'), 'welcome');
    child.kill('SIGTERM');
    for (const p of [a, b]) {
      const ended = await p.got.waitForEnd('a resumable status');
      assert.equal(ended.code, grpc.status.UNAVAILABLE);
      const details = decodeDetails(ended.metadata);
      assert.equal(details?.errorInfo?.reason, 'SERVER_SHUTTING_DOWN');
      assert.ok(details?.retryInfo, 'RetryInfo');
    }
    client.close();
    assert.equal(await exited, 0);
    rmSync(data, { recursive: true, force: true });
  });
});

describe('operations: the embedded store on disk', () => {
  it("reports its write-ahead log flushes and its checkpoints' holds on commits in /metrics", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-ops-store-'));
    const server = await startTestServer({ data: dir, logLevel: 'warn' });
    const client = ourClient(server.address);
    try {
      await openReview(client, 'ops-store', [{ path: 'f.ts', text: 'start\n' }]);
      const a = joinSession(client, 'ops-store', 'a', { clientId: 'a1' });
      await a.got.waitFor(isCase('welcome'), 'welcome');
      const count = (text: string, name: string) =>
        Number(new RegExp(`^${name}_count (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
      for (let i = 1; i <= 5; i++) {
        a.call.write({
          sessionId: '',
          timestamp: 0,
          userId: '',
          sequence: 0,
          clientId: '',
          clientMessageId: `e${i}`,
          payload: {
            $case: 'edit',
            value: {
              filePath: 'f.ts',
              lineNumber: 0,
              content: '',
              version: 0,
              operations: [{ kind: { $case: 'insert', value: 'x' } }],
            },
          },
        });
        await a.got.waitFor(
          (m) => m.payload?.$case === 'ack' && m.payload.value.clientMessageId === `e${i}`,
          `ack ${i}`,
        );
      }
      const text = await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`).then((r) => r.text());
      assert.ok(
        count(text, 'livereview_store_wal_flush_seconds') >= 5,
        'each acknowledged edit waited for a flush',
      );
      // A checkpoint holds commits only once the log is long: see test/sqlite-checkpoint.test.ts.
      assert.match(text, /^# TYPE livereview_store_commits_held_seconds histogram$/m);
      a.call.end();
      await a.got.waitForEnd();
    } finally {
      client.close();
      await server.shutdown(500);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

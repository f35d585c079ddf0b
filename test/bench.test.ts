// The load generator reports what it measured: driven against a real server with a small load, it
// accounts for every delivery (none lost or duplicated) and reports the server's CPU.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { LoadReport } from '../src/loadgen/load-generator.js';
import { generate, startServer } from '../bench/systems.js';
import { serverFixture } from './helpers/server.js';

const bin = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));

describe('livereview bench', () => {
  const fx = serverFixture();

  it('reports sent, delivered, lost and latency for a small load', async () => {
    const child = spawn(
      process.execPath,
      [
        bin,
        'bench',
        '--target',
        fx.server.address,
        '--participants',
        '4',
        '--rate',
        '20',
        '--duration',
        '2000',
        '--warmup',
        '300',
        '--mix',
        '3:1:1',
        '--server-pid',
        String(process.pid),
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    assert.equal(await new Promise((r) => child.once('exit', r)), 0, err);
    const report = JSON.parse(out) as LoadReport;
    assert.ok(report.sent > 20, `sent ${report.sent}`);
    assert.equal(report.expectedDeliveries, report.sent * 3);
    assert.equal(report.delivered, report.expectedDeliveries);
    assert.equal(report.lost, 0);
    assert.equal(report.duplicated, 0);
    assert.equal(report.refused, 0);
    assert.ok(report.latencyMs.p99 > 0 && report.latencyMs.p50 <= report.latencyMs.p99);
    // Per second sent: every delivery counted once, each second's p99 within the run's extremes.
    assert.deepEqual(
      report.perSecond?.map((s) => s.second),
      [0, 1],
    );
    assert.equal(
      report.perSecond.reduce((n, s) => n + s.delivered, 0),
      report.delivered,
    );
    for (const s of report.perSecond)
      assert.ok(s.delivered > 0 && s.p50 <= s.p99 && s.p99 <= report.latencyMs.max);
    assert.ok(report.server && report.server.cpuSeconds >= 0, 'server CPU measured from /proc');
    // The main thread's share of it: never more than the whole (give or take the clock tick between
    // reading the process and reading its thread).
    const { cpuSeconds, mainThreadCpuSeconds } = report.server;
    assert.ok(
      mainThreadCpuSeconds >= 0 && mainThreadCpuSeconds <= cpuSeconds + 0.02,
      `main thread ${mainThreadCpuSeconds} s of ${cpuSeconds} s`,
    );
    assert.match(err, /bench \|/, 'a progress bar on stderr');
  });
});

// The peer servers of `npm run bench`, at a tiny scale: their own clients type into them and every
// edit is accounted for, so the comparison's code runs in CI (its figures are for `npm run bench`).
describe('npm run bench against ShareDB and Hocuspocus', () => {
  for (const system of ['sharedb', 'hocuspocus'] as const) {
    it(`drives ${system} with its own client and accounts for every edit`, async () => {
      const server = await startServer(system);
      try {
        const load = ['--sessions', '2', '--participants', '3', '--rate', '20', '--duration', '800'];
        const report = (await generate(system, server, [...load, '--warmup', '300'])) as LoadReport & {
          diverged: number;
        };
        assert.ok(report.sent > 20, `sent ${report.sent}`);
        assert.equal(report.expectedDeliveries, report.sent * 2);
        assert.equal(report.delivered, report.expectedDeliveries);
        assert.equal(report.lost, 0);
        assert.equal(report.duplicated, 0);
        assert.equal(report.diverged, 0, 'every participant ends with the same text');
        assert.ok(report.latencyMs.p50 > 0 && report.latencyMs.p50 <= report.latencyMs.p99);
        assert.ok(report.server && report.server.cpuSeconds >= 0, 'server CPU measured from /proc');
        const gc = (report as { serverGc?: { major: number; minor: number } }).serverGc;
        assert.ok(
          gc && gc.major >= 0 && gc.minor >= 0,
          `the server's collections counted: ${JSON.stringify(gc)}`,
        );
      } finally {
        await server.stop();
      }
    });
  }
});

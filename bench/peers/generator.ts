// The load generator for the peer servers: `livereview bench`'s typing workload and options, driven
// through ShareDB's or Hocuspocus's own client; prints the report as JSON (the runner reads it).
// Run: node dist/bench/peers/generator.js --system sharedb|hocuspocus --target 127.0.0.1:<port>
//        [--sessions n] [--participants n] [--rate n] [--duration ms] [--warmup ms] [--server-pid pid]
import { parseArgs } from 'node:util';
import { hocuspocusDriver } from './hocuspocus-driver.js';
import { shareDbDriver } from './sharedb-driver.js';
import { runPeerLoad } from './typing-load.js';

const { values: o } = parseArgs({
  options: {
    system: { type: 'string' },
    target: { type: 'string', default: '127.0.0.1:8080' },
    sessions: { type: 'string', default: '1' },
    participants: { type: 'string', default: '10' },
    rate: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '2000' },
    'server-pid': { type: 'string' },
    'session-prefix': { type: 'string', default: `bench-${process.pid}` },
    json: { type: 'boolean', default: true },
  },
});
const drivers = { sharedb: shareDbDriver, hocuspocus: hocuspocusDriver };
const makeDriver = drivers[o.system as keyof typeof drivers];
if (!makeDriver) {
  process.stderr.write(`--system must be one of ${Object.keys(drivers).join(', ')}\n`);
  process.exit(2);
}
const report = await runPeerLoad(makeDriver(o.target!), {
  sessions: Number(o.sessions),
  participants: Number(o.participants),
  rate: Number(o.rate),
  durationMs: Number(o.duration),
  warmupMs: Number(o.warmup),
  sessionPrefix: o['session-prefix']!,
  serverPid: o['server-pid'] ? Number(o['server-pid']) : undefined,
});
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
// Clients may keep reconnect timers; the report is out.
process.exit(0);

// Hocuspocus as it comes: in memory, no extensions (no persistence, no logger), its own WebSocket
// server. Documents are Y.Docs; clients use @hocuspocus/provider.
// Run: node dist/bench/peers/hocuspocus-server.js <port>
import { Server } from '@hocuspocus/server';

const server = new Server({ port: Number(process.argv[2] ?? 0), address: '127.0.0.1', quiet: true });
await server.listen();
// Hocuspocus stops itself on SIGTERM and SIGINT (stopOnSignals, on by default).
process.stderr.write(`hocuspocus listening on 127.0.0.1:${server.address.port}\n`);

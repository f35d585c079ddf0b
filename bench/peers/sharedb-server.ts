// ShareDB as a team would run it for a live editor: the in-memory database and pub/sub, documents of
// type text-unicode (the OT type LiveReview uses), a WebSocket per client through `ws` and
// @teamwork/websocket-json-stream, as ShareDB's own examples do. No middleware, no persistence.
// Run: node dist/bench/peers/sharedb-server.js <port>
import type { AddressInfo } from 'node:net';
import ShareDB from 'sharedb';
import WebSocketJSONStream from '@teamwork/websocket-json-stream';
import { type as textUnicode } from 'ot-text-unicode';
import { WebSocketServer } from 'ws';

ShareDB.types.register(textUnicode);
const backend = new ShareDB();
const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] ?? 0) });
wss.on('connection', (ws) => backend.listen(new WebSocketJSONStream(ws)));
wss.on('listening', () => {
  const { port } = wss.address() as AddressInfo;
  process.stderr.write(`sharedb listening on 127.0.0.1:${port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const)
  process.on(signal, () => {
    for (const ws of wss.clients) ws.terminate();
    wss.close();
    backend.close(() => process.exit(0));
  });

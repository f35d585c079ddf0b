// The package ships no types: a Duplex of JSON values over a WebSocket (what ShareDB's backend.listen takes).
declare module '@teamwork/websocket-json-stream' {
  import { Duplex } from 'node:stream';
  import type { WebSocket } from 'ws';
  export default class WebSocketJSONStream extends Duplex {
    constructor(ws: WebSocket);
  }
}

// Participants as ShareDB's own client (sharedb/lib/client) is used in an editor: a Connection over
// a WebSocket each, one subscribed Doc of type text-unicode, local edits with submitOp. The client
// keeps one op in flight and composes what is typed meanwhile; a receipt's inserted characters are
// the sender's edits it carries (every edit inserts one character).
import { type as textUnicode, type TextOp } from 'ot-text-unicode';
import { Connection, types, type Doc } from 'sharedb/lib/client/index.js';
import WebSocket from 'ws';
import type { PeerCallbacks, PeerDriver, PeerParticipant } from './typing-load.js';

types.register(textUnicode);

const inserted = (op: TextOp) => op.reduce<number>((n, c) => (typeof c === 'string' ? n + c.length : n), 0);

export function shareDbDriver(target: string): PeerDriver {
  /** Connection id (the server's agent id, which ShareDB stamps on every op as `src`) -> participant. */
  const senders = new Map<string, number>();

  const connect = () =>
    new Promise<Connection>((resolve, reject) => {
      const connection = new Connection(new WebSocket(`ws://${target}`) as never);
      connection.on('connected', () => resolve(connection));
      connection.on('error', reject);
    });
  const settle = (act: (done: (err?: unknown) => void) => void) =>
    new Promise<void>((resolve, reject) => act((err) => (err ? reject(err) : resolve())));

  return {
    async join(name: string, index: number, on: PeerCallbacks): Promise<PeerParticipant> {
      const connection = await connect();
      senders.set(connection.id!, index);
      connection.on('receive', on.heard);
      const doc = connection.get('bench', name) as Doc<string>;
      doc.on('op', (op, source, src) => {
        if (source) return; // our own edit
        const sender = senders.get(src);
        if (sender !== undefined) on.edits(sender, inserted(op as unknown as TextOp));
      });
      await settle((done) => doc.subscribe(done));
      if (!doc.type) await settle((done) => doc.create('', textUnicode.uri, done));
      return {
        type: (text) => doc.submitOp([text], undefined, (err) => err && on.refused()),
        text: () => doc.data,
        close: async () => connection.close(),
      };
    },
    close: async () => {},
  };
}

// Participants as Hocuspocus's own client is used in an editor: a HocuspocusProvider each (its own
// WebSocket, `ws` in Node; awareness on, as by default), a Y.Doc with one Y.Text, every keystroke
// one Yjs transaction. A receipt moves the sender's clock by the characters it carries: the sender's
// edits (every edit inserts one character).
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider';
import WebSocket from 'ws';
import * as Y from 'yjs';
import type { PeerCallbacks, PeerDriver, PeerParticipant } from './typing-load.js';

export function hocuspocusDriver(target: string): PeerDriver {
  /** Y.Doc client id (stamped on every item it inserts) -> participant. */
  const senders = new Map<number, number>();

  return {
    async join(name: string, index: number, on: PeerCallbacks): Promise<PeerParticipant> {
      const document = new Y.Doc();
      senders.set(document.clientID, index);
      const text = document.getText('bench');
      // A transaction's state vectors say how far each client's clock moved: one clock tick per
      // character inserted. (Y.Text events leave `changes.added` empty, so they cannot say who.)
      document.on('afterTransaction', (transaction) => {
        if (transaction.local) return;
        for (const [client, after] of transaction.afterState) {
          const count = after - (transaction.beforeState.get(client) ?? 0);
          const sender = senders.get(client);
          if (count > 0 && sender !== undefined) on.edits(sender, count);
        }
      });
      // As Hocuspocus's own tests run the provider in Node: its socket made explicitly, with `ws`.
      const socket = new HocuspocusProviderWebsocket({ url: `ws://${target}`, WebSocketPolyfill: WebSocket });
      const provider = new HocuspocusProvider({
        websocketProvider: socket,
        name,
        document,
        onMessage: on.heard,
      });
      provider.attach();
      await new Promise<void>((resolve) => {
        const synced = () => {
          provider.off('synced', synced);
          resolve();
        };
        provider.on('synced', synced);
      });
      return {
        type: (t) => text.insert(0, t),
        text: () => text.toString(),
        close: async () => {
          provider.destroy();
          socket.destroy();
        },
      };
    },
    close: async () => {},
  };
}

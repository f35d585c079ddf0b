// Durable messages sent and not yet acknowledged (comment changes; edits are held by each file's
// OT state). Each keeps its client message id for good: a resend after a reconnect or a transient
// refusal carries the same id, and the server applies it at most once.
import type { SessionMessage } from '../../gen/es/codereview/v1/codereview_pb.js';
import type { Ack } from './types.js';

interface Entry {
  message: SessionMessage;
  resolve(ack: Ack): void;
  reject(err: Error): void;
}

export class Outbox {
  private readonly entries = new Map<string, Entry>();

  get size(): number {
    return this.entries.size;
  }

  /** The message sent under `id`, if still waiting. */
  get(id: string): SessionMessage | undefined {
    return this.entries.get(id)?.message;
  }

  /** Holds `message` until it is acknowledged or refused. */
  add(message: SessionMessage): Promise<Ack> {
    return new Promise<Ack>((resolve, reject) => {
      this.entries.set(message.clientMessageId, { message, resolve, reject });
    });
  }

  /** Everything waiting, in the order it was sent. */
  messages(): SessionMessage[] {
    return [...this.entries.values()].map((e) => e.message);
  }

  acknowledge(ack: Ack): void {
    const e = this.entries.get(ack.clientMessageId);
    if (!e) return;
    this.entries.delete(ack.clientMessageId);
    e.resolve(ack);
  }

  refuse(id: string, err: Error): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.reject(err);
  }

  refuseAll(err: Error): void {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) e.reject(err);
  }
}

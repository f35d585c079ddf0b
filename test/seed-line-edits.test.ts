// The seed's line edits go through the same OT pipeline: two seed clients editing the same stale
// version both land, in commit order, with the expected text, and each sees the other's edit.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  Collector,
  openReview,
  ourClient,
  seedClient,
  type SeedMessage,
  unaryCall,
} from './helpers/clients.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('seed line edits', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ logLevel: 'warn' });
  });
  after(async () => {
    await server.shutdown(500);
  });

  async function pair(session: string, initial: string) {
    const client = ourClient(server.address);
    await openReview(client, session, [{ path: 'f.txt', text: initial }]);
    const join = (user: string) => {
      const stream = seedClient(server.address).CollaborativeSession();
      const got = new Collector<SeedMessage>(stream);
      stream.write({ session_id: session, user_id: user, presence: { status: 'JOINED' } });
      return { stream, got };
    };
    const alice = join('alice');
    const bob = join('bob');
    await alice.got.waitFor((m) => m.presence?.status === 'JOINED' && m.user_id === 'bob', 'bob joined');
    const file = async () =>
      (await unaryCall(client.getSession.bind(client), { sessionId: session })).files[0]!;
    return { alice, bob, file, client };
  }

  it('applies edits of different lines made on the same stale version', async () => {
    const { alice, bob, file, client } = await pair('line-1', 'a\nb\nc\n');
    alice.stream.write({ edit: { file_path: 'f.txt', line_number: 1, content: 'A', version: 0 } });
    await bob.got.waitFor((m) => m.payload === 'edit' && m.user_id === 'alice', "alice's edit");
    bob.stream.write({ edit: { file_path: 'f.txt', line_number: 3, content: 'C', version: 0 } });
    const fromBob = await alice.got.waitFor((m) => m.payload === 'edit' && m.user_id === 'bob', "bob's edit");
    assert.deepEqual(fromBob.edit, { file_path: 'f.txt', line_number: 3, content: 'C', version: 2 });
    const { base: _base, ...head } = await file();
    assert.deepEqual(head, { path: 'f.txt', version: 2, text: 'A\nb\nC\n', continued: false });
    for (const c of [alice, bob]) c.stream.end();
    client.close();
  });

  it('keeps both contents, the later commit first, when both replace the same line at the same version', async () => {
    const { alice, bob, file, client } = await pair('line-2', 'a\nb\nc\n');
    alice.stream.write({ edit: { file_path: 'f.txt', line_number: 2, content: 'B1', version: 0 } });
    await bob.got.waitFor((m) => m.payload === 'edit' && m.user_id === 'alice', "alice's edit");
    bob.stream.write({ edit: { file_path: 'f.txt', line_number: 2, content: 'B2', version: 0 } });
    const fromBob = await alice.got.waitFor((m) => m.payload === 'edit' && m.user_id === 'bob', "bob's edit");
    // Both deleted "b"; each insert survives; an incoming insert goes before a committed one at
    // the same position (the engine's documented tie-break), so bob's text comes first.
    assert.deepEqual(fromBob.edit, { file_path: 'f.txt', line_number: 2, content: 'B2B1', version: 2 });
    assert.equal((await file()).text, 'a\nB2B1\nc\n');
    for (const c of [alice, bob]) c.stream.end();
    client.close();
  });

  it('appends with line count + 1, and keeps CRLF line endings', async () => {
    const { alice, bob, file, client } = await pair('line-3', 'x\r\ny\r\n');
    alice.stream.write({ edit: { file_path: 'f.txt', line_number: 1, content: 'X', version: 0 } });
    await bob.got.waitFor((m) => m.edit?.version === 1, 'first edit');
    alice.stream.write({ edit: { file_path: 'f.txt', line_number: 4, content: 'appended', version: 1 } });
    await bob.got.waitFor((m) => m.edit?.version === 2, 'second edit');
    assert.equal((await file()).text, 'X\r\ny\r\n\nappended');
    for (const c of [alice, bob]) c.stream.end();
    client.close();
  });
});

// The hot-path metrics (counted in plain numbers, handed to prom-client when scraped) read exactly
// as prom-client's own would have: same exposition text, nothing lost between scrapes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { HotHistogram } from '../src/observability/hot-histogram.js';
import { Metrics } from '../src/observability/metrics.js';

const BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];
const SAMPLES = [0, 0.0001, 0.00011, 0.003, 0.003, 0.5, 0.7, 1, 2.5, 40];

describe('hot-path metrics', () => {
  it('a HotHistogram scrapes as the prom-client Histogram given the same observations', async () => {
    const expected = new Registry();
    const reference = new Histogram({
      name: 'h_seconds',
      help: 'help',
      buckets: BUCKETS,
      registers: [expected],
    });
    const actual = new Registry();
    const hot = new HotHistogram('h_seconds', 'help', BUCKETS, actual);
    assert.equal(await actual.metrics(), await expected.metrics()); // nothing observed yet
    for (const v of SAMPLES) {
      reference.observe(v);
      hot.observe(v);
    }
    assert.equal(await actual.metrics(), await expected.metrics());
  });

  it('messages counted by kind reach the scrape, and counting goes on after it', async () => {
    const metrics = new Metrics();
    const expected = new Registry();
    const reference = new Counter({
      name: 'livereview_messages_sent_total',
      help: 'Messages written to participants, by kind',
      labelNames: ['kind'],
      registers: [expected],
    });
    const sent = async () => await metrics.registry.getSingleMetricAsString('livereview_messages_sent_total');
    for (let round = 1; round <= 2; round++) {
      for (const kind of ['edit', 'edit', 'ack', 'edit']) {
        metrics.countSent(kind);
        reference.inc({ kind });
      }
      assert.equal(await sent(), await expected.getSingleMetricAsString('livereview_messages_sent_total'));
    }
    assert.match(await sent(), /kind="edit"} 6\n/);
    metrics.countReceived('edit');
    assert.match(
      await metrics.registry.getSingleMetricAsString('livereview_messages_received_total'),
      /kind="edit"} 1/,
    );
  });
});

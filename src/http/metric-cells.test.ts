import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { HistogramFamily, ValueFamily } from './metric-cells.js';

const BUCKETS = [0.005, 0.01, 0.5, 1, 2.5];

/** Observations with values below, on and between the bounds and past the last one, across label sets first seen in a mixed order. */
const OBSERVATIONS: [handler: string, method: string, value: number][] = [
  ['manifest', 'get', 0.004],
  ['blob', 'head', 0],
  ['manifest', 'get', 0.005],
  ['manifest', 'put', 3.75],
  ['manifest', 'get', 0.1 + 0.2],
  ['blob', 'head', 2.5],
  ['manifest', 'get', 1e-9],
  ['base', 'get', 60],
  ['manifest', 'get', 0.0050001],
];

describe('metric cells', () => {
  it('when a histogram family and a prom-client Histogram see the same observations, then their scrapes are the same text', async () => {
    const expected = new Registry();
    const reference = new Histogram({ name: 'cells_seconds', help: 'Cells \\ "help".', labelNames: ['handler', 'method'], buckets: BUCKETS, registers: [expected] });
    const actual = new Registry();
    const family = new HistogramFamily({ name: 'cells_seconds', help: 'Cells \\ "help".', labelNames: ['handler', 'method'], buckets: BUCKETS, registers: [actual] });
    for (const [handler, method, value] of OBSERVATIONS) {
      reference.labels(handler, method).observe(value);
      // Labels in another key order than the names: the text must still follow the names' order.
      family.cell({ method, handler }).observe(value);
    }
    assert.equal(await actual.metrics(), await expected.metrics());
  });

  it('when a histogram has no labels, then its scrape is a prom-client Histogram without labels', async () => {
    const expected = new Registry();
    const reference = new Histogram({ name: 'plain_seconds', help: 'Plain.', buckets: BUCKETS, registers: [expected] });
    const actual = new Registry();
    const cell = new HistogramFamily({ name: 'plain_seconds', help: 'Plain.', labelNames: [], buckets: BUCKETS, registers: [actual] }).cell({});
    for (const [, , value] of OBSERVATIONS) {
      reference.observe(value);
      cell.observe(value);
    }
    assert.equal(await actual.metrics(), await expected.metrics());
  });

  it('when a counter and a gauge family are bumped, then their scrapes are prom-client Counter and Gauge text', async () => {
    const expected = new Registry();
    const counter = new Counter({ name: 'cells_total', help: 'Counted.', labelNames: ['handler', 'code', 'method'], registers: [expected] });
    const gauge = new Gauge({ name: 'cells_in_flight', help: 'In flight.', labelNames: ['handler'], registers: [expected] });
    const actual = new Registry();
    const counters = new ValueFamily('counter', { name: 'cells_total', help: 'Counted.', labelNames: ['handler', 'code', 'method'], registers: [actual] });
    const gauges = new ValueFamily('gauge', { name: 'cells_in_flight', help: 'In flight.', labelNames: ['handler'], registers: [actual] });
    for (const [handler, method, value] of OBSERVATIONS) {
      const code = value > 1 ? '500' : '200';
      counter.labels(handler, code, method).inc();
      counters.cell({ method, code, handler }).value += 1;
      gauge.labels(handler).inc();
      gauges.cell({ handler }).value += 1;
      if (method === 'get') {
        gauge.labels(handler).dec();
        gauges.cell({ handler }).value -= 1;
      }
    }
    assert.equal(await actual.metrics(), await expected.metrics());
  });

  it('when a histogram family has nothing observed, or is reset, then it shows no series while its cells keep counting', async () => {
    const registry = new Registry();
    const family = new HistogramFamily({ name: 'empty_seconds', help: 'Empty.', labelNames: ['handler'], buckets: BUCKETS, registers: [registry] });
    const cell = family.cell({ handler: 'manifest' });
    assert.equal(await registry.metrics(), '# HELP empty_seconds Empty.\n# TYPE empty_seconds histogram\n');
    cell.observe(0.2);
    assert.match(await registry.metrics(), /^empty_seconds_count\{handler="manifest"\} 1$/m);
    registry.resetMetrics();
    assert.doesNotMatch(await registry.metrics(), /empty_seconds_count/);
    cell.observe(0.3);
    assert.match(await registry.metrics(), /^empty_seconds_sum\{handler="manifest"\} 0\.3$/m);
  });

  it('when a value is not finite, then the observation is dropped instead of thrown', async () => {
    const registry = new Registry();
    const cell = new HistogramFamily({ name: 'odd_seconds', help: 'Odd.', labelNames: [], buckets: BUCKETS, registers: [registry] }).cell({});
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) cell.observe(value);
    cell.observe(1);
    assert.equal(cell.count, 1);
    assert.equal(cell.sum, 1);
  });

  it('when a family registers a name the registry already has, then registration fails as for prom-client metrics', () => {
    const registry = new Registry();
    new Histogram({ name: 'taken_seconds', help: 'Taken.', registers: [registry] });
    assert.throws(() => new HistogramFamily({ name: 'taken_seconds', help: 'Taken.', labelNames: [], buckets: BUCKETS, registers: [registry] }), /already been registered/);
  });
});

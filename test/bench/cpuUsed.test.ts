import assert from 'node:assert/strict';
import { cpuUsed, type CpuSample } from '../../bench/lib.js';

const sample = (server: number, backends: Record<string, number>): CpuSample => ({ server, postgres: new Map(Object.entries(backends)) });

describe('the benchmarks\' CPU accounting (bench/lib cpuUsed)', () => {
  it('counts each backend\'s CPU between the samples: one that ended takes only its own window time with it, not its past', () => {
    // Backend 11 served earlier passes (40 s) and was closed by its pool during the window; 12 and 13 served this one.
    const start = sample(100, { 11: 40, 12: 5, 13: 2 });
    const end = sample(103.5, { 12: 7.5, 13: 3 });
    assert.deepEqual(cpuUsed(start, end), { server: 3.5, postgres: 3.5 });
  });

  it('counts a backend that started during the window from zero', () => {
    assert.deepEqual(cpuUsed(sample(0, { 21: 1 }), sample(2, { 21: 1.5, 22: 0.75 })), { server: 2, postgres: 1.25 });
  });
});

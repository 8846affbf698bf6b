import { MinHeap } from '../../src/acquire/min-heap';

describe('MinHeap', () => {
  it('pops in key order and keeps order after retain', () => {
    const heap = new MinHeap<number>((x) => x);
    const values = Array.from({ length: 200 }, (_, i) => (i * 7919) % 211);
    for (const v of values) heap.push(v);
    expect(heap.peek()).toBe(Math.min(...values));
    heap.retain((v) => v % 2 === 0);
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    expect(out).toEqual(values.filter((v) => v % 2 === 0).sort((a, b) => a - b));
    expect(heap.size).toBe(0);
  });
});

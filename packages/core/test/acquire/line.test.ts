import { Line, type LineMember } from '../../src/acquire/line';

/** A member whose links count every read and write, so the test measures the work, not the time. */
class Counted implements LineMember<Counted> {
  static touches = 0;
  #prev: Counted | undefined;
  #next: Counted | undefined;
  #inLine = false;
  constructor(readonly id: number) {}
  get prev() {
    Counted.touches++;
    return this.#prev;
  }
  set prev(v) {
    Counted.touches++;
    this.#prev = v;
  }
  get next() {
    Counted.touches++;
    return this.#next;
  }
  set next(v) {
    Counted.touches++;
    this.#next = v;
  }
  get inLine() {
    Counted.touches++;
    return this.#inLine;
  }
  set inLine(v) {
    Counted.touches++;
    this.#inLine = v;
  }
}

function ids(line: Line<Counted>): number[] {
  const out: number[] = [];
  for (let m = line.head; m; m = m.next) out.push(m.id);
  return out;
}

describe('Line', () => {
  it('removing each of 20,000 members, in any order, touches a bounded number of links per removal', () => {
    const n = 20_000;
    const line = new Line<Counted>();
    const members = Array.from({ length: n }, (_, i) => new Counted(i));
    for (const m of members) line.push(m);
    // A fixed shuffle: from the back, from the middle, from the front.
    const order = [...members].sort((a, b) => ((a.id * 7919) % n) - ((b.id * 7919) % n));
    Counted.touches = 0;
    for (const m of order) line.remove(m);
    // An array would search and shift: about n²/2 = 200,000,000 steps. A linked line: a constant per removal.
    expect(Counted.touches).toBeLessThanOrEqual(12 * n);
    expect(line.size).toBe(0);
    expect(line.head).toBeUndefined();
    expect(line.tail).toBeUndefined();
  });

  it('keeps first-in, first-out order around removals; removing twice is harmless', () => {
    const line = new Line<Counted>();
    const m = Array.from({ length: 5 }, (_, i) => new Counted(i));
    for (const x of m) line.push(x);
    line.remove(m[2] as Counted);
    line.remove(m[2] as Counted);
    line.remove(m[0] as Counted);
    line.remove(m[4] as Counted);
    expect(ids(line)).toEqual([1, 3]);
    expect(line.size).toBe(2);
    line.push(m[0] as Counted);
    expect(ids(line)).toEqual([1, 3, 0]);
    expect(line.tail?.id).toBe(0);
  });
});

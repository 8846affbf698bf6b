/** @internal The links a {@link Line} keeps in each of its members (intrusive, so no node objects). */
export interface LineMember<T> {
  prev: T | undefined;
  next: T | undefined;
  inLine: boolean;
}

/**
 * @internal A first-in, first-out line with O(1) removal from anywhere: a doubly-linked list threaded
 * through its members. Aborting one of 20,000 waiters touches only its two neighbours; an array would
 * search and shift the rest.
 */
export class Line<T extends LineMember<T>> {
  head: T | undefined = undefined;
  tail: T | undefined = undefined;
  size = 0;

  push(member: T): void {
    member.prev = this.tail;
    member.next = undefined;
    member.inLine = true;
    if (this.tail) this.tail.next = member;
    else this.head = member;
    this.tail = member;
    this.size++;
  }

  /** Takes `member` out of the line; does nothing when it is not in it. */
  remove(member: T): void {
    if (!member.inLine) return;
    const { prev, next } = member;
    if (prev) prev.next = next;
    else this.head = next;
    if (next) next.prev = prev;
    else this.tail = prev;
    member.prev = undefined;
    member.next = undefined;
    member.inLine = false;
    this.size--;
  }
}

/** Group-aware scheduler: per-group FIFO order, one item in flight per group, round-robin across groups. */

/** The item a scheduler handed out, with its group. */
export interface Taken<T> {
  readonly group: string;
  readonly item: T;
}

interface Group<T> {
  readonly items: T[];
  /** The head item is out (being sent or settled); nothing else of the group may leave. */
  busy: boolean;
  /** Epoch ms before which the group's head may not leave again (retry backoff). */
  notBefore: number;
}

/**
 * Holds received messages by message group. Items leave a group strictly in order and one at a time: the
 * head goes out with `take`, and the next item can only follow once `finish` says the head is done. A
 * head that must be retried stays at the head, so later items of its group never overtake it.
 *
 * Groups are served round-robin: a group that just sent moves to the back of the rotation, so a quiet
 * group with one webhook waits about one slot, not for another group's backlog to drain.
 *
 * An item may be marked not ready (still being prepared); a group whose head is not ready waits.
 */
export class Scheduler<T> {
  // Map insertion order is the rotation: the front is the group served next.
  private readonly groups = new Map<string, Group<T>>();
  private readonly notReady = new Set<T>();
  private heldCount = 0;
  private busyCount = 0;
  /** Groups with a retry backoff set; when 0, `nextWakeAt` need not scan. */
  private backoffCount = 0;

  /** Items held, including the ones out. */
  get held(): number {
    return this.heldCount;
  }

  /** Groups whose head is out. */
  get inFlight(): number {
    return this.busyCount;
  }

  /** Groups with at least one item. */
  get groupCount(): number {
    return this.groups.size;
  }

  /** Appends `item` to the tail of `group`. A new group joins the back of the rotation. */
  add(group: string, item: T, ready = true): void {
    let g = this.groups.get(group);
    if (!g) {
      g = { items: [], busy: false, notBefore: 0 };
      this.groups.set(group, g);
    }
    g.items.push(item);
    if (!ready) this.notReady.add(item);
    this.heldCount++;
  }

  /** Marks an item added with `ready = false` as ready to leave. */
  markReady(item: T): void {
    this.notReady.delete(item);
  }

  /**
   * Removes an item that is not out (e.g. one settled during preparation). Returns false when it is not
   * held or is the head currently out.
   */
  /** Whether `item` is the first of `group` (everything received before it in its group has left). */
  isHead(group: string, item: T): boolean {
    return this.groups.get(group)?.items[0] === item;
  }

  remove(group: string, item: T): boolean {
    const g = this.groups.get(group);
    if (!g) return false;
    const i = g.items.indexOf(item);
    if (i < 0 || (i === 0 && g.busy)) return false;
    g.items.splice(i, 1);
    this.notReady.delete(item);
    this.heldCount--;
    if (g.items.length === 0) this.dropGroup(group, g);
    return true;
  }

  /**
   * The next item to send: the head of the first group in the rotation that is not busy, not backing off,
   * and whose head is ready (and passes `accept`, when given). Marks the group busy and moves it to the back.
   */
  take(now: number, accept?: (item: T) => boolean): Taken<T> | undefined {
    for (const [group, g] of this.groups) {
      if (g.busy || g.notBefore > now) continue;
      const head = g.items[0];
      if (head === undefined || this.notReady.has(head)) continue;
      if (accept && !accept(head)) continue;
      this.setNotBefore(g, 0);
      g.busy = true;
      this.busyCount++;
      this.groups.delete(group);
      this.groups.set(group, g);
      return { group, item: head };
    }
    return undefined;
  }

  /**
   * The head of `group` came back. `done`: it leaves and the next item may go. `retry`: it stays at the
   * head and the group waits until `notBefore` (epoch ms).
   */
  finish(group: string, outcome: 'done' | 'retry', notBefore = 0): void {
    const g = this.groups.get(group);
    if (!g?.busy) throw new Error(`scheduler: group ${group} has nothing out`);
    g.busy = false;
    this.busyCount--;
    if (outcome === 'retry') {
      this.setNotBefore(g, notBefore);
      return;
    }
    g.items.shift();
    this.heldCount--;
    this.setNotBefore(g, 0);
    if (g.items.length === 0) this.dropGroup(group, g);
  }

  private setNotBefore(g: Group<T>, at: number): void {
    if (g.notBefore > 0 !== at > 0) this.backoffCount += at > 0 ? 1 : -1;
    g.notBefore = at;
  }

  private dropGroup(name: string, g: Group<T>): void {
    this.setNotBefore(g, 0);
    this.groups.delete(name);
  }

  /**
   * Like `take`, but the eligible head with the lowest `score` (the first of equals in rotation order), or
   * undefined when none is eligible.
   */
  takeBest(now: number, score: (item: T) => number): Taken<T> | undefined {
    let best: { group: string; score: number } | undefined;
    for (const [group, g] of this.groups) {
      if (g.busy || g.notBefore > now) continue;
      const head = g.items[0];
      if (head === undefined || this.notReady.has(head)) continue;
      const s = score(head);
      if (best === undefined || s < best.score) best = { group, score: s };
    }
    if (best === undefined) return undefined;
    const chosen = best.group;
    return this.take(now, (item) => this.groups.get(chosen)?.items[0] === item);
  }

  /**
   * Removes and returns, in group order, every item of the groups `pick` selects among those whose head is
   * not out and whose items are all ready (for handing groups back to the queue for a while).
   */
  park(pick: (items: readonly T[]) => boolean): T[] {
    const out: T[] = [];
    for (const [group, g] of this.groups) {
      if (g.busy || g.items.some((item) => this.notReady.has(item)) || !pick(g.items)) continue;
      out.push(...g.items);
      this.heldCount -= g.items.length;
      g.items.splice(0);
      this.dropGroup(group, g);
    }
    return out;
  }

  /** True when some group could send now (ignoring `accept` filters). */
  hasReady(now: number): boolean {
    for (const g of this.groups.values()) {
      const head = g.items[0];
      if (!g.busy && g.notBefore <= now && head !== undefined && !this.notReady.has(head)) return true;
    }
    return false;
  }

  /** The earliest time a backing-off group becomes eligible again, or undefined if none is waiting. */
  nextWakeAt(now: number): number | undefined {
    if (this.backoffCount === 0) return undefined;
    let at: number | undefined;
    for (const g of this.groups.values()) {
      if (!g.busy && g.notBefore > now && g.items.length > 0)
        at = at === undefined ? g.notBefore : Math.min(at, g.notBefore);
    }
    return at;
  }

  /** Every held item, in group order (for visibility extension). */
  *items(): IterableIterator<T> {
    for (const g of this.groups.values()) yield* g.items;
  }

  /** Removes and returns every item that is not out (for releasing at shutdown). */
  drain(): T[] {
    const out: T[] = [];
    for (const [group, g] of this.groups) {
      const keep = g.busy ? g.items.slice(0, 1) : [];
      out.push(...g.items.slice(keep.length));
      for (const item of g.items.slice(keep.length)) this.notReady.delete(item);
      this.heldCount -= g.items.length - keep.length;
      g.items.splice(0, g.items.length, ...keep);
      if (keep.length === 0) this.dropGroup(group, g);
    }
    return out;
  }
}

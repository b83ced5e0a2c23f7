// The emulator's stand-in for Consul's Raft log: one global, monotonically
// increasing index that every committed write takes, and a change signal that
// wakes blocking queries.

export class Raft {
  private last: number
  private readonly listeners = new Set<() => void>()

  constructor(start: number) {
    this.last = start
  }

  get index(): number {
    return this.last
  }

  /** A write that reaches the log (even one that changes nothing, like a failed CAS). */
  next(): number {
    return ++this.last
  }

  /** A transaction whose index is taken only if something in it changes. */
  begin(): Tx {
    return new Tx(this)
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener)
    return () => void this.listeners.delete(listener)
  }

  changed(): void {
    for (const listener of [...this.listeners]) listener()
  }
}

export class Tx {
  private readonly raft: Raft
  private taken: number | undefined

  constructor(raft: Raft) {
    this.raft = raft
  }

  get index(): number {
    if (this.taken === undefined) this.taken = this.raft.next()
    return this.taken
  }

  get dirty(): boolean {
    return this.taken !== undefined
  }

  /** Signals blocking queries when the transaction wrote anything. */
  commit(): void {
    if (this.dirty) this.raft.changed()
  }
}

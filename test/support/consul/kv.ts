// The KV store as Consul's state store keeps it (agent/consul/state/kvs.go):
// entries with Create/Modify/LockIndex, tombstones so prefix indexes never slide
// back after deletes, lock/unlock semantics and lock-delays.
import type { Clock } from "./clock.ts"
import { ApiError } from "./go.ts"
import type { Raft } from "./raft.ts"

export interface KvEntry {
  readonly key: string
  readonly value: Buffer | null
  readonly flags: bigint
  readonly lockIndex: number
  readonly session: string | undefined
  readonly createIndex: number
  readonly modifyIndex: number
}

export interface Indexed<A> {
  readonly index: number
  readonly value: A
}

const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

const sameEntry = (a: KvEntry, b: Omit<KvEntry, "createIndex" | "modifyIndex">): boolean =>
  a.lockIndex === b.lockIndex && a.key === b.key && a.flags === b.flags && a.session === b.session &&
  (a.value === null || b.value === null ? (a.value?.length ?? 0) === (b.value?.length ?? 0) : a.value.equals(b.value))

export class KvStore {
  private readonly raft: Raft
  private readonly clock: Clock
  private readonly sessionExists: (id: string) => boolean
  private readonly entries = new Map<string, KvEntry>()
  private readonly tombstones = new Map<string, number>()
  private readonly lockDelays = new Map<string, number>()
  private kvsIndex = 0
  private tombstonesIndex = 0

  constructor(raft: Raft, clock: Clock, sessionExists: (id: string) => boolean) {
    this.raft = raft
    this.clock = clock
    this.sessionExists = sessionExists
  }

  private maxIndex(): number {
    return Math.max(this.kvsIndex, this.tombstonesIndex)
  }

  entry(key: string): KvEntry | undefined {
    return this.entries.get(key)
  }

  /** Single-key read: the entry's ModifyIndex, or the table index (at least 1) when missing. */
  get(key: string): Indexed<KvEntry | undefined> {
    const entry = this.entries.get(key)
    return { index: entry?.modifyIndex ?? Math.max(1, this.maxIndex()), value: entry }
  }

  private under(prefix: string): Array<KvEntry> {
    return [...this.entries.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => byteOrder(a.key, b.key))
  }

  /** The index of a prefix read: highest ModifyIndex or tombstone under it, else the table index. */
  private prefixIndex(prefix: string, entries: ReadonlyArray<KvEntry>): number {
    let index = 0
    for (const e of entries) index = Math.max(index, e.modifyIndex)
    if (prefix === "") index = this.maxIndex()
    else for (const [key, at] of this.tombstones) if (key.startsWith(prefix)) index = Math.max(index, at)
    return Math.max(1, index === 0 ? this.maxIndex() : index)
  }

  list(prefix: string): Indexed<ReadonlyArray<KvEntry>> {
    const entries = this.under(prefix)
    return { index: this.prefixIndex(prefix, entries), value: entries }
  }

  keys(prefix: string, separator: string): Indexed<ReadonlyArray<string>> {
    const entries = this.under(prefix)
    const keys: Array<string> = []
    let last: string | undefined
    for (const e of entries) {
      const cut = separator === "" ? -1 : e.key.indexOf(separator, prefix.length)
      const key = cut === -1 ? e.key : e.key.slice(0, cut + separator.length)
      if (key !== last) keys.push(key)
      last = key
    }
    return { index: this.prefixIndex(prefix, entries), value: keys }
  }

  /** kvsSetTxn: keeps CreateIndex, and leaves ModifyIndex alone when nothing changed. */
  private write(index: number, next: Omit<KvEntry, "createIndex" | "modifyIndex">): void {
    const existing = this.entries.get(next.key)
    if (existing !== undefined && sameEntry(existing, next)) return
    this.entries.set(next.key, { ...next, createIndex: existing?.createIndex ?? index, modifyIndex: index })
    this.kvsIndex = index
  }

  private remove(index: number, key: string, tombstone: boolean): void {
    if (!this.entries.delete(key)) return
    if (tombstone) {
      this.tombstones.set(key, index)
      this.tombstonesIndex = index
    }
    this.kvsIndex = index
  }

  /** Plain set: keeps the lock holder; LockIndex and Flags come from the request (0 unless given). */
  set(key: string, value: Buffer | null, flags: bigint): true {
    const index = this.raft.next()
    const session = this.entries.get(key)?.session
    this.write(index, { key, value, flags, lockIndex: 0, session })
    this.raft.changed()
    return true
  }

  /** cas=0 creates only; cas=N writes only when ModifyIndex is N. */
  cas(key: string, value: Buffer | null, flags: bigint, cas: bigint): boolean {
    const index = this.raft.next()
    const existing = this.entries.get(key)
    const ok = cas === 0n ? existing === undefined : existing !== undefined && BigInt(existing.modifyIndex) === cas
    if (ok) this.write(index, { key, value, flags, lockIndex: 0, session: existing?.session })
    this.raft.changed()
    return ok
  }

  lockDelayUntil(key: string): number | undefined {
    const until = this.lockDelays.get(key)
    return until !== undefined && until > this.clock.now() ? until : undefined
  }

  acquire(key: string, value: Buffer | null, flags: bigint, session: string): boolean {
    // The leader enforces lock-delay before the write reaches the log, whatever the session.
    if (this.lockDelayUntil(key) !== undefined) return false
    const index = this.raft.next()
    if (session === "") throw new ApiError(500, "missing session")
    if (!this.sessionExists(session)) throw new ApiError(500, `invalid session ${JSON.stringify(session)}`)
    const existing = this.entries.get(key)
    if (existing?.session !== undefined && existing.session !== session) return false
    const lockIndex = existing === undefined ? 1 : existing.session === session ? existing.lockIndex : existing.lockIndex + 1
    this.write(index, { key, value, flags, lockIndex, session })
    this.raft.changed()
    return true
  }

  /** Only the holder releases; the body becomes the value; no lock-delay. */
  release(key: string, value: Buffer | null, flags: bigint, session: string): boolean {
    const index = this.raft.next()
    if (session === "") throw new ApiError(500, "missing session")
    const existing = this.entries.get(key)
    if (existing === undefined || existing.session !== session) return false
    this.write(index, { key, value, flags, lockIndex: existing.lockIndex, session: undefined })
    this.raft.changed()
    return true
  }

  delete(key: string): true {
    this.remove(this.raft.next(), key, true)
    this.raft.changed()
    return true
  }

  /** One tombstone for the prefix (none when the whole tree goes). */
  deleteTree(prefix: string): true {
    const index = this.raft.next()
    const doomed = this.under(prefix)
    for (const e of doomed) this.remove(index, e.key, false)
    if (doomed.length > 0 && prefix !== "") {
      this.tombstones.set(prefix, index)
      this.tombstonesIndex = index
    }
    this.raft.changed()
    return true
  }

  /** True when deleted or already absent; false on an index mismatch. */
  deleteCas(key: string, cas: bigint): boolean {
    const index = this.raft.next()
    const existing = this.entries.get(key)
    if (existing === undefined) return true
    if (BigInt(existing.modifyIndex) !== cas) return false
    this.remove(index, key, true)
    this.raft.changed()
    return true
  }

  /** A session was invalidated at `index`: apply its Behavior to every key it holds, with lock-delay. */
  invalidateSession(index: number, session: string, behavior: "release" | "delete", lockDelayMs: number): void {
    const held = [...this.entries.values()].filter((e) => e.session === session)
    const until = this.clock.now() + lockDelayMs
    for (const e of held) {
      if (behavior === "release") this.write(index, { ...e, session: undefined })
      else this.remove(index, e.key, true)
      if (lockDelayMs > 0) this.lockDelays.set(e.key, until)
    }
  }
}

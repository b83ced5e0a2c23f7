// Partial resync after a graceful restart (DESIGN.md §6). Redis 7.0/7.2 keeps no
// replication ID in an AOF, so a replica started from its AOF copies the whole dataset
// from its master ("no cached master"). Started from an RDB that `SHUTDOWN SAVE`
// wrote, it keeps the ID and offset and asks only for what it missed, from the master's
// backlog; after a failover too, as the new master remembers the old ID
// (redis/redis#4102, #8591). So a stopping node saves such an RDB and keeps it under a
// name of its own (a backup's BGSAVE writes dump.rdb too, and Redis 7 refuses to
// change `dbfilename` at run time), the next start loads it with the AOF off, and the
// agent turns the AOF on again once the node has caught up. These are the decisions;
// the files are the programs'.
import { Option } from "effect"

/** The RDB pre-stop's `SHUTDOWN SAVE` wrote, kept for the next start; nothing else writes it. */
export const resyncRdbFile = "resync.rdb"
/** Where Redis saves (`dbfilename`), and what it loads with the AOF off. */
export const rdbFile = "dump.rdb"

/** What identifies one version of a file: a save replaces dump.rdb by rename (a new inode) and stamps it. */
export interface FileStamp {
  readonly inode: bigint
  readonly modifiedMs: number
}

/**
 * dump.rdb is the one SHUTDOWN SAVE wrote when Redis closed the connection (it does
 * only after a good save) and the file is another than before: a new one, or one
 * replaced. A backup's BGSAVE may end while SHUTDOWN waits for lagging replicas, but
 * the save that follows replaces its file again.
 */
export const savedAtShutdown = (before: Option.Option<FileStamp>, after: Option.Option<FileStamp>): boolean =>
  Option.match(after, {
    onNone: () => false,
    onSome: (a) => Option.match(before, { onNone: () => true, onSome: (b) => a.inode !== b.inode || a.modifiedMs !== b.modifiedMs })
  })

export type StartFrom =
  /** No usable resync.rdb: the AOF, as always; `discard` a stale one. */
  | { readonly _tag: "Aof"; readonly discard: boolean }
  /** A replica loads resync.rdb (linked as dump.rdb) with the AOF off, keeping its replication ID; the agent turns the AOF on once it caught up, then removes resync.rdb. */
  | { readonly _tag: "ResyncRdb" }
  /**
   * A master gains nothing from the ID: resync.rdb becomes the AOF's base, so Redis
   * starts with the AOF on. It holds what the AOF holds (SHUTDOWN flushes the AOF
   * before it saves) or more (the node stopped while its AOF was still off).
   */
  | { readonly _tag: "AofFromResyncRdb" }

export interface StartView {
  readonly asReplica: boolean
  /** resync.rdb's modification time (epoch ms), if present. */
  readonly resyncRdb: Option.Option<number>
  /** The newest modification time among the AOF's files, if any. */
  readonly aofLastWrite: Option.Option<number>
}

/**
 * resync.rdb is usable when no AOF file changed after it: one written later (the AOF
 * rewritten after a start from it, by an agent that then could not remove it) holds
 * what the RDB lacks.
 */
export const startFrom = (v: StartView): StartFrom => {
  const rdb = v.resyncRdb
  if (Option.isNone(rdb)) return { _tag: "Aof", discard: false }
  const fresh = Option.match(v.aofLastWrite, { onNone: () => true, onSome: (aof) => rdb.value >= aof })
  if (!fresh) return { _tag: "Aof", discard: true }
  return v.asReplica ? { _tag: "ResyncRdb" } : { _tag: "AofFromResyncRdb" }
}

/**
 * The rendered redis.conf starts Redis with the AOF off: only after a start from
 * resync.rdb, and the agent's marker that the AOF is still to be turned on (its
 * CONFIG REWRITE at the end writes `appendonly yes`).
 */
export const startedWithoutAof = (redisConf: string): boolean => /^appendonly\s+"?no"?\s*$/m.test(redisConf)

export interface AofView {
  readonly aofOn: boolean
  readonly role: "master" | "replica"
  /** A replica's link is up: Redis says so only once any full copy is loaded. */
  readonly caughtUp: boolean
  /**
   * The rewrite `appendonly yes` started has succeeded: none runs or is scheduled (Redis
   * schedules a failed one again while it waits to turn the AOF on), the last one ok.
   */
  readonly aofWritten: boolean
}

export type AofStep =
  | { readonly _tag: "Wait"; readonly reason: string }
  | { readonly _tag: "TurnAofOn"; readonly reason: string }
  /** The AOF is written: persist `appendonly yes` (a crashed Redis restarts from redis.conf). */
  | { readonly _tag: "Finish" }

/**
 * While the AOF is off a crash loses what the node received since its start. A
 * replica's copy is its master's, so it waits until it caught up (a rewrite beside a
 * resync only slows both); a master's is the only one, so at once.
 */
export const aofStep = (v: AofView): AofStep => {
  if (!v.aofOn) {
    if (v.role === "master") return { _tag: "TurnAofOn", reason: "this node is master" }
    return v.caughtUp ? { _tag: "TurnAofOn", reason: "caught up with its master" } : { _tag: "Wait", reason: "still catching up with its master" }
  }
  return v.aofWritten ? { _tag: "Finish" } : { _tag: "Wait", reason: "the AOF is being written" }
}

import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { aofStep, savedAtShutdown, startedWithoutAof, startFrom } from "../../../src/domain/RestartResync.ts"

const at = (ms: number) => Option.some(ms)
const none = Option.none<number>()

describe("startFrom: what Redis loads at a start", () => {
  it("without resync.rdb, the AOF", () => {
    assert.deepStrictEqual(startFrom({ asReplica: true, resyncRdb: none, aofLastWrite: at(5) }), { _tag: "Aof", discard: false })
    assert.deepStrictEqual(startFrom({ asReplica: false, resyncRdb: none, aofLastWrite: none }), { _tag: "Aof", discard: false })
  })

  it("a replica loads a resync.rdb saved after the AOF's last write (SHUTDOWN flushes the AOF, then saves), or at the same moment", () => {
    assert.deepStrictEqual(startFrom({ asReplica: true, resyncRdb: at(10), aofLastWrite: at(9) }), { _tag: "ResyncRdb" })
    assert.deepStrictEqual(startFrom({ asReplica: true, resyncRdb: at(10), aofLastWrite: at(10) }), { _tag: "ResyncRdb" })
    assert.deepStrictEqual(startFrom({ asReplica: true, resyncRdb: at(10), aofLastWrite: none }), { _tag: "ResyncRdb" })
  })

  it("a master makes it the AOF's base: the same data, and no time without an AOF", () => {
    assert.deepStrictEqual(startFrom({ asReplica: false, resyncRdb: at(10), aofLastWrite: at(9) }), { _tag: "AofFromResyncRdb" })
    assert.deepStrictEqual(startFrom({ asReplica: false, resyncRdb: at(10), aofLastWrite: none }), { _tag: "AofFromResyncRdb" })
  })

  it("an AOF written after resync.rdb holds what the RDB lacks: the AOF, and the RDB discarded, whatever the role", () => {
    for (const asReplica of [true, false]) {
      assert.deepStrictEqual(startFrom({ asReplica, resyncRdb: at(10), aofLastWrite: at(11) }), { _tag: "Aof", discard: true })
    }
  })
})

describe("startedWithoutAof: the rendered redis.conf as the agent's marker", () => {
  it("reads the appendonly line, quoted or not, and nothing else", () => {
    assert.isTrue(startedWithoutAof("appendonly no\ndbfilename dump.rdb\n"))
    assert.isTrue(startedWithoutAof("appendonly \"no\"\n"))
    assert.isTrue(startedWithoutAof("appendonly   no\n"), "spaced out by hand")
    assert.isFalse(startedWithoutAof("appendonly yes\n"))
    assert.isFalse(startedWithoutAof("appendonly nope\n"))
    assert.isFalse(startedWithoutAof("# appendonly no\n"))
    assert.isFalse(startedWithoutAof(""))
  })
})

describe("savedAtShutdown: the RDB pre-stop keeps is the one SHUTDOWN SAVE wrote", () => {
  const stamp = (inode: bigint, modifiedMs: number) => Option.some({ inode, modifiedMs })
  it("a new file, or the old one replaced (a new inode) or rewritten: saved", () => {
    assert.isTrue(savedAtShutdown(Option.none(), stamp(7n, 10)))
    assert.isTrue(savedAtShutdown(stamp(7n, 10), stamp(8n, 10)))
    assert.isTrue(savedAtShutdown(stamp(7n, 10), stamp(7n, 11)))
  })

  it("the same file as before (a backup's, left there), or none: not saved", () => {
    assert.isFalse(savedAtShutdown(stamp(7n, 10), stamp(7n, 10)))
    assert.isFalse(savedAtShutdown(stamp(7n, 10), Option.none()))
    assert.isFalse(savedAtShutdown(Option.none(), Option.none()))
  })
})

describe("aofStep: turning the AOF back on after a start from resync.rdb", () => {
  const replica = { aofOn: false, role: "replica" as const, caughtUp: true, aofWritten: false }

  it("a replica turns it on once caught up, not while its link is down or a full copy runs", () => {
    assert.strictEqual(aofStep(replica)._tag, "TurnAofOn")
    assert.strictEqual(aofStep({ ...replica, caughtUp: false })._tag, "Wait")
  })

  it("a master turns it on at once: its data is the only copy", () => {
    assert.strictEqual(aofStep({ ...replica, role: "master", caughtUp: false })._tag, "TurnAofOn")
  })

  it("once on, it finishes only when Redis has written the AOF", () => {
    assert.strictEqual(aofStep({ ...replica, aofOn: true })._tag, "Wait")
    assert.deepStrictEqual(aofStep({ ...replica, aofOn: true, aofWritten: true }), { _tag: "Finish" })
    assert.deepStrictEqual(aofStep({ ...replica, aofOn: true, aofWritten: true, role: "master", caughtUp: false }), { _tag: "Finish" })
  })
})

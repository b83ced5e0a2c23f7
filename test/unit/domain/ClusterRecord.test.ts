// The cluster's record (DESIGN.md §3, §5): each writer's update is written only when
// it changes something, "held data" never goes back to false, and whether the
// cluster held data comes from the record or the backup store, with anything
// unreadable counting as data (the safe side). Reasons name their evidence.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import fc from "fast-check"
import {
  type BackupEvidence,
  type ClusterRecord,
  clusterHistory,
  needsKeyCount,
  readRecord,
  recordBackup,
  recordFounding,
  recordMasterSeen,
  type RecordState
} from "../../../src/domain/ClusterRecord.ts"
import { at } from "../../support/scenarios.ts"

const AT = "2026-11-24T19:05:57.000Z"
const node2 = { node: "node-2", endpoint: at("10.0.0.2") }
const present = (record: ClusterRecord): RecordState => ({ _tag: "Present", record })
const absent: RecordState = { _tag: "Absent" }
const unreadable: RecordState = { _tag: "Unreadable" }

describe("readRecord", () => {
  it("absent, present or unreadable", () => {
    assert.deepStrictEqual(readRecord(Option.none()), absent)
    assert.deepStrictEqual(readRecord(Option.some(null)), absent)
    assert.deepStrictEqual(readRecord(Option.some(`{"heldData":true}`)), present({ heldData: true }))
    assert.deepStrictEqual(readRecord(Option.some(`{"heldData":"yes"}`)), unreadable)
    assert.deepStrictEqual(readRecord(Option.some("garbage")), unreadable)
  })
})

describe("writers", () => {
  it("founding records who and when, and keeps the last master seen", () => {
    const prev = present({ heldData: false, lastMaster: { node: "node-1", address: "10.0.0.1", port: 6379, seenAt: AT } })
    const r = recordFounding(prev, node2, AT, true)
    assert.deepStrictEqual(r, {
      founded: { node: "node-2", address: "10.0.0.2", port: 6379, at: AT },
      heldData: true,
      lastMaster: { node: "node-1", address: "10.0.0.1", port: 6379, seenAt: AT }
    })
  })

  it("an empty founder does not make a cluster that held data look new; an unreadable record counts as data", () => {
    assert.isTrue(recordFounding(present({ heldData: true }), node2, AT, false).heldData)
    assert.isTrue(recordFounding(unreadable, node2, AT, false).heldData)
    assert.isFalse(recordFounding(absent, node2, AT, false).heldData)
  })

  it("a backup proves data; nothing to write when the record already says so", () => {
    assert.deepStrictEqual(recordBackup(absent), Option.some({ heldData: true }))
    assert.deepStrictEqual(recordBackup(present({ heldData: false, founded: { node: "n", address: "10.0.0.9", port: 6379, at: AT } })), Option.some({
      heldData: true,
      founded: { node: "n", address: "10.0.0.9", port: 6379, at: AT }
    }))
    assert.isTrue(Option.isNone(recordBackup(present({ heldData: true }))))
  })

  it("the passing master records itself as the last master seen, and data once it has keys", () => {
    const first = recordMasterSeen(absent, node2, Option.some(0), AT)
    assert.deepStrictEqual(first, Option.some({ heldData: false, lastMaster: { node: "node-2", address: "10.0.0.2", port: 6379, seenAt: AT } }))
    const rest = present(Option.getOrThrow(first))
    assert.isTrue(Option.isNone(recordMasterSeen(rest, node2, Option.some(0), "2027-01-01T00:00:00.000Z")), "no write at rest")
    assert.isTrue(Option.exists(recordMasterSeen(rest, node2, Option.some(5), AT), (r) => r.heldData))
    const moved = recordMasterSeen(rest, { node: "node-3", endpoint: at("10.0.0.3") }, Option.none(), AT)
    assert.strictEqual(Option.getOrThrow(moved).lastMaster?.node, "node-3")
  })

  it("keys are counted only while the record does not say data", () => {
    assert.isTrue(needsKeyCount(absent))
    assert.isTrue(needsKeyCount(present({ heldData: false })))
    assert.isFalse(needsKeyCount(present({ heldData: true })))
    assert.isFalse(needsKeyCount(unreadable))
  })

  it("held data never goes back to false, whatever the writers do", () => {
    const writer = fc.oneof(
      fc.boolean().map((data) => (s: RecordState) => Option.some(recordFounding(s, node2, AT, data))),
      fc.constant((s: RecordState) => recordBackup(s)),
      fc.option(fc.nat(3)).map((k) => (s: RecordState) => recordMasterSeen(s, node2, Option.fromNullishOr(k), AT))
    )
    fc.assert(
      fc.property(fc.array(writer, { maxLength: 8 }), (writes) => {
        let state: RecordState = absent
        let held = false
        for (const w of writes) {
          state = Option.match(w(state), { onNone: () => state, onSome: (record): RecordState => present(record) })
          const now = state._tag === "Present" && state.record.heldData
          assert.isFalse(held && !now)
          held = now
        }
      })
    )
  })
})

describe("clusterHistory", () => {
  const none: BackupEvidence = { _tag: "NoneStored" }

  it("a cluster never held data only when neither the record nor the store says so", () => {
    assert.deepStrictEqual(clusterHistory(absent, none), { _tag: "NeverHeldData", evidence: "Consul holds no record of it and the backup store holds no backup" })
    assert.deepStrictEqual(clusterHistory(present({ heldData: false }), { _tag: "NoStore" }), {
      _tag: "NeverHeldData",
      evidence: "its record in Consul says it never held data and BACKUP_STORE is none"
    })
  })

  it("the record, a stored backup (Consul lost its state), an unreadable record or store: held data", () => {
    assert.deepStrictEqual(clusterHistory(present({ heldData: true }), none), { _tag: "HeldData", evidence: "its record in Consul says so" })
    assert.deepStrictEqual(clusterHistory(absent, { _tag: "Found", id: "redis-1" }), { _tag: "HeldData", evidence: "the backup store holds backup redis-1" })
    assert.strictEqual(clusterHistory(unreadable, none)._tag, "HeldData")
    assert.deepStrictEqual(clusterHistory(absent, { _tag: "Unreadable", reason: "HTTP 503" }), {
      _tag: "HeldData",
      evidence: "the backup store could not be read (HTTP 503), so data is assumed"
    })
  })
})

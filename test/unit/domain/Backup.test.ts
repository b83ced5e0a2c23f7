// Backups (DESIGN.md §7): the manifest operators and restores rely on, names that
// sort by time, when a backup is due, which single node takes it, what is pruned,
// and the narrow case in which a starting node restores.
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Duration, Option, Result, Schema } from "effect"
import fc from "fast-check"
import {
  backupFileName,
  backupId,
  backupsToPrune,
  newestManifestName,
  electBackupNode,
  isBackupDue,
  Manifest,
  ManifestFromJson,
  restorePlan
} from "../../../src/domain/Backup.ts"
import { at, manifestAt, sha256Of } from "../../support/scenarios.ts"

const utc = (iso: string): DateTime.Utc => DateTime.makeUnsafe(iso)
const decodes = (value: unknown) => Result.isSuccess(Schema.decodeUnknownResult(Manifest)(value))

describe("Manifest", () => {
  const valid = manifestAt("2026-11-24T19:05:57Z", { store: "manta", path: "/acme/stor/redis/redis-20261124T190557Z-node-2.rdb.gz" })

  it("accepts a valid manifest, also from its JSON in Consul", () => {
    assert.isTrue(decodes(valid))
    assert.deepStrictEqual(Schema.decodeUnknownResult(ManifestFromJson)(JSON.stringify(valid)), Result.succeed(valid))
    assert.isTrue(decodes({ ...valid, createdAt: "2026-11-24T19:05:57.123Z" }))
  })

  it("rejects a sha256 that is not 64 lower-case hex digits", () => {
    for (const sha256 of ["abc", sha256Of("A"), sha256Of("g"), `${sha256Of("a")}0`]) assert.isFalse(decodes({ ...valid, sha256 }), sha256)
  })

  it("rejects a date that is not ISO-8601 UTC", () => {
    for (const createdAt of ["yesterday", "2026-11-24", "2026-11-24 19:05:57", "2026-11-24T19:05:57+01:00"]) {
      assert.isFalse(decodes({ ...valid, createdAt }), createdAt)
    }
  })

  it("rejects a negative or fractional size, an unknown store, and missing fields", () => {
    assert.isFalse(decodes({ ...valid, bytes: -1 }))
    assert.isFalse(decodes({ ...valid, bytes: 1.5 }))
    assert.isFalse(decodes({ ...valid, store: "none" }))
    const { sha256: _omitted, ...withoutHash } = valid
    assert.isFalse(decodes(withoutHash))
    assert.isTrue(Result.isFailure(Schema.decodeUnknownResult(ManifestFromJson)("{not json")))
  })
})

describe("backupId", () => {
  it("names the service, the UTC time to the millisecond and the node", () => {
    assert.strictEqual(backupId("redis", utc("2026-11-24T19:05:57.891Z"), "node-2"), "redis-20261124T190557891Z-node-2")
    assert.strictEqual(backupFileName("redis-20261124T190557891Z-node-2"), "redis-20261124T190557891Z-node-2.rdb.gz")
  })

  it("makes node names safe for object paths", () => {
    assert.strictEqual(backupId("redis", utc("2026-11-24T19:05:57Z"), "my node/../x"), "redis-20261124T190557000Z-my_node_.._x")
  })

  it("sorts chronologically as plain strings, whatever the node names", () => {
    const instant = fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2099, 11, 31) })
    const node = fc.stringMatching(/^[a-z0-9-]{1,12}$/)
    fc.assert(
      fc.property(instant, instant, node, node, (t1, t2, n1, n2) => {
        fc.pre(Math.floor(t1 / 1000) < Math.floor(t2 / 1000))
        const a = backupFileName(backupId("redis", DateTime.makeUnsafe(t1), n1))
        const b = backupFileName(backupId("redis", DateTime.makeUnsafe(t2), n2))
        assert.isTrue(a < b, `${a} < ${b}`)
      }),
      { numRuns: 500 }
    )
  })
})

describe("isBackupDue", () => {
  const interval = Duration.hours(24)
  const now = utc("2026-11-24T12:00:00Z")
  const due = (manifest: Option.Option<Manifest>, forced = false) => isBackupDue({ manifest, now, interval, forced })

  it("--now forces a backup even when a fresh one exists", () => {
    assert.deepStrictEqual(due(Option.some(manifestAt("2026-11-24T11:59:00Z")), true), { due: true, reason: "requested with --now" })
  })

  it("is due when no backup was ever recorded", () => {
    assert.deepStrictEqual(due(Option.none()), { due: true, reason: "no backup recorded yet" })
  })

  it("is not due while the newest backup is younger than BACKUP_INTERVAL, and says when", () => {
    const m = manifestAt("2026-11-23T13:00:00Z")
    const d = due(Option.some(m))
    assert.isFalse(d.due)
    assert.include(d.reason, m.id)
    assert.include(d.reason, "23h")
    assert.include(d.reason, "due after 1d")
  })

  it("is due once the newest backup is as old as BACKUP_INTERVAL or older", () => {
    assert.isTrue(due(Option.some(manifestAt("2026-11-23T12:00:00Z"))).due)
    const d = due(Option.some(manifestAt("2026-11-20T12:00:00Z")))
    assert.isTrue(d.due)
    assert.include(d.reason, "4d")
  })

  it("is due when the recorded date cannot be read (a backup too many beats none)", () => {
    const d = due(Option.some(manifestAt("2026-13-45T99:99:99Z")))
    assert.deepStrictEqual(d, { due: true, reason: "the recorded backup has an unreadable date" })
  })

  // a manifest dated in the future (written by a node whose
  // clock ran ahead) has a negative age, so no backup is due until real time catches up
  // (here a year), and the reason reads "is -365d old".
  it("a manifest dated in the future does not suppress backups", () => {
    const d = due(Option.some(manifestAt("2027-11-24T12:00:00Z")))
    assert.isTrue(d.due)
    assert.notInclude(d.reason, "is -")
  })
})

describe("electBackupNode", () => {
  const self = at("10.0.0.2")

  it("a master with no healthy replica takes the backup itself", () => {
    assert.deepStrictEqual(electBackupNode({ self, role: "master", healthyReplicas: [] }), { due: true, reason: "master with no healthy replica" })
  })

  it("a master with a healthy replica leaves it to the replica, naming it", () => {
    const d = electBackupNode({ self, role: "master", healthyReplicas: [at("10.0.0.4"), at("10.0.0.3")] })
    assert.isFalse(d.due)
    assert.include(d.reason, "10.0.0.3:6379")
  })

  it("the lowest-address healthy replica is elected; the others are not", () => {
    const healthyReplicas = [at("10.0.0.4"), at("10.0.0.3"), at("10.0.0.5")]
    assert.deepStrictEqual(electBackupNode({ self: at("10.0.0.3"), role: "replica", healthyReplicas }), { due: true, reason: "first healthy replica" })
    for (const other of ["10.0.0.4", "10.0.0.5"]) {
      const d = electBackupNode({ self: at(other), role: "replica", healthyReplicas })
      assert.isFalse(d.due)
      assert.include(d.reason, "10.0.0.3:6379")
    }
  })

  it("exactly one node of a cluster is elected, whatever order Consul lists replicas in", () => {
    const pool = ["10.0.0.2", "10.0.0.3", "10.0.0.10", "10.0.1.1", "192.168.0.9"].map((h) => at(h))
    fc.assert(
      fc.property(fc.shuffledSubarray(pool, { minLength: 1 }), fc.constantFrom(...pool), (replicas, masterNode) => {
        fc.pre(!replicas.includes(masterNode))
        const electedReplicas = replicas.filter((self) => electBackupNode({ self, role: "replica", healthyReplicas: replicas }).due)
        const masterElected = electBackupNode({ self: masterNode, role: "master", healthyReplicas: replicas }).due
        assert.lengthOf(electedReplicas, 1)
        assert.isFalse(masterElected)
      }),
      { numRuns: 300 }
    )
  })

  it("a replica not (yet) listed as healthy is not elected", () => {
    assert.isFalse(electBackupNode({ self, role: "replica", healthyReplicas: [] }).due)
    assert.isFalse(electBackupNode({ self, role: "replica", healthyReplicas: [at("10.0.0.9")] }).due)
  })

  it("an unavailable node is never elected", () => {
    for (const healthyReplicas of [[], [self]]) {
      assert.isFalse(electBackupNode({ self, role: "unavailable", healthyReplicas }).due)
    }
  })
})

describe("backupsToPrune", () => {
  const file = (stamp: string, service = "redis", node = "node-2") => `${service}-${stamp}-${node}.rdb.gz`
  const stored = ["20261120T000000Z", "20261121T000000Z", "20261122T000000Z", "20261123T000000Z", "20261124T000000Z"].map((s) => file(s))

  it("keeps the newest `keep` and prunes the rest", () => {
    const prune = backupsToPrune({ serviceName: "redis", stored: [...stored].reverse(), keep: 2, newest: stored[4] ?? "" })
    assert.sameMembers([...prune], stored.slice(0, 3))
  })

  it("prunes nothing while there are no more than `keep`", () => {
    assert.deepStrictEqual(backupsToPrune({ serviceName: "redis", stored, keep: 5, newest: stored[4] ?? "" }), [])
    assert.deepStrictEqual(backupsToPrune({ serviceName: "redis", stored, keep: 7, newest: stored[4] ?? "" }), [])
  })

  it("never prunes the backup just written, even when a skewed clock dated it older", () => {
    const skewed = file("20261101T000000Z", "redis", "node-9")
    const prune = backupsToPrune({ serviceName: "redis", stored: [...stored, skewed], keep: 1, newest: skewed })
    assert.notInclude(prune, skewed)
    assert.notInclude(prune, stored[4])
  })

  it("ignores foreign names and other services' backups sharing the store", () => {
    const foreign = ["notes.txt", "redis-latest.rdb.gz", file("20200101T000000Z", "redis-cache"), file("20200101T000000Z", "cache"), `${file("20200101T000000Z")}.partial`]
    const prune = backupsToPrune({ serviceName: "redis", stored: [...foreign, ...stored], keep: 1, newest: stored[4] ?? "" })
    assert.sameMembers([...prune], stored.slice(0, 4))
  })
})

describe("restorePlan", () => {
  const manifest = Option.some(manifestAt("2026-11-24T00:00:00Z"))

  it("restores only when founding, with an empty data dir, a recorded backup and a store", () => {
    // Written out by hand, every row: founding, local data, manifest, store configured → restore?
    const table: ReadonlyArray<readonly [boolean, boolean, boolean, boolean, boolean]> = [
      [true, false, true, true, true],
      [true, false, true, false, false],
      [true, false, false, true, false],
      [true, false, false, false, false],
      [true, true, true, true, false],
      [true, true, true, false, false],
      [true, true, false, true, false],
      [true, true, false, false, false],
      [false, false, true, true, false],
      [false, false, true, false, false],
      [false, false, false, true, false],
      [false, false, false, false, false],
      [false, true, true, true, false],
      [false, true, true, false, false],
      [false, true, false, true, false],
      [false, true, false, false, false]
    ]
    for (const [founding, localData, recorded, storeConfigured, restores] of table) {
      const plan = restorePlan({ founding, localData, manifest: recorded ? manifest : Option.none(), storeConfigured })
      assert.deepStrictEqual(plan, restores ? manifest : Option.none(), JSON.stringify({ founding, localData, recorded, storeConfigured }))
    }
  })
})

describe("stored manifests and their backups", () => {
  it("the newest manifest is this service's latest by name; other services, look-alikes and backups are not manifests", () => {
    const stored = [
      "redis-20250101T000000Z-node-1.manifest.json",
      "redis-20240101T000000Z-node-3.manifest.json",
      "redis-20260101T000000Z-node-2.manifest.json",
      "redis-20260101T000000Z-node-2.rdb.gz",
      "redis-cache-20270101T000000Z-node-1.manifest.json",
      "redisX20280101T000000Z-node-1.manifest.json",
      "notes.txt"
    ]
    assert.deepStrictEqual(newestManifestName("redis", stored), Option.some("redis-20260101T000000Z-node-2.manifest.json"))
    assert.deepStrictEqual(newestManifestName("redis", ["redis-20260101T000000Z-node-2.rdb.gz"]), Option.none())
  })

  it("a service name is matched literally: 'my.redis' is not 'myXredis'", () => {
    assert.deepStrictEqual(newestManifestName("my.redis", ["myXredis-20260101T000000Z-node-1.manifest.json"]), Option.none())
    assert.deepStrictEqual(
      backupsToPrune({ serviceName: "my.redis", stored: ["myXredis-20200101T000000Z-node-1.rdb.gz", "my.redis-20260101T000000Z-node-1.rdb.gz"], keep: 1, newest: "my.redis-20260101T000000Z-node-1.rdb.gz" }),
      []
    )
  })

  it("a pruned backup takes its manifest with it; the kept ones keep theirs", () => {
    const backup = (year: number) => `redis-${year}0101T000000Z-node-1`
    const stored = [2020, 2021, 2022].flatMap((y) => [`${backup(y)}.rdb.gz`, `${backup(y)}.manifest.json`])
    assert.deepStrictEqual(
      [...backupsToPrune({ serviceName: "redis", stored, keep: 2, newest: `${backup(2022)}.rdb.gz` })].sort(),
      [`${backup(2020)}.manifest.json`, `${backup(2020)}.rdb.gz`]
    )
  })
})

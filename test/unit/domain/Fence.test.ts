// The write fence decision (Fence.ts): what `min-replicas-to-write` a node's Redis
// runs with, for each role and verdict a node goes through.
import { assert, describe, it } from "@effect/vitest"
import { decideFence, type FenceInput, fencedMinReplicas, minReplicasOf } from "../../../src/domain/Fence.ts"
import { type CheckState } from "../../../src/domain/Health.ts"

const passing: CheckState = { pass: true, reason: "master with 2 connected replica(s); 3 of 3 sentinels name it", since: 0, confirmedAt: 0 }
const failing = (reason: string): CheckState => ({ pass: false, reason, since: 0, confirmedAt: 0 })

const input = (o: Partial<FenceInput> = {}): FenceInput => ({
  role: "master",
  lastKnownRole: "master",
  master: passing,
  alone: false,
  replicasInSync: 2,
  floor: 0,
  ...o
})

describe("decideFence", () => {
  it("a confirmed master with a replica in sync accepts writes, Redis's own line armed at 1", () => {
    assert.deepStrictEqual(decideFence(input()), {
      _tag: "Open",
      minReplicas: 1,
      reason: "confirmed master; Redis itself refuses writes once no replica is in sync"
    })
  })

  it("a confirmed master whose replicas are gone or behind accepts writes alone (no replica could be promoted over it)", () => {
    const fence = decideFence(input({ replicasInSync: 0 }))
    assert.deepStrictEqual(fence, { _tag: "Open", minReplicas: 0, reason: "confirmed master, no replica in sync: accepting writes alone" })
  })

  it("REDIS_MIN_REPLICAS_TO_WRITE is a floor the agent never goes below", () => {
    assert.strictEqual(minReplicasOf(decideFence(input({ floor: 2 }))), 2)
    assert.strictEqual(minReplicasOf(decideFence(input({ floor: 2, replicasInSync: 0 }))), 2)
    assert.strictEqual(minReplicasOf(decideFence(input({ role: "replica", floor: 2 }))), 2)
  })

  it("a master its check does not pass is fenced, with the check's reason: cut off, or named no more", () => {
    const reason = "Redis says master, but 2 of 3 sentinels name 10.0.0.12:6379: demoted or cut off"
    const fence = decideFence(input({ master: failing(reason) }))
    assert.deepStrictEqual(fence, { _tag: "Fenced", reason })
    assert.strictEqual(minReplicasOf(fence), fencedMinReplicas)
    assert.isAbove(fencedMinReplicas, 1000, "beyond any replica count a cluster has")
  })

  it("a one-node cluster is never fenced: nothing could take its place", () => {
    const fence = decideFence(input({ alone: true, master: failing("only 0 of 1 sentinels answered"), replicasInSync: 0 }))
    assert.deepStrictEqual(fence, { _tag: "Open", minReplicas: 0, reason: "a one-node cluster: no other node could take its place" })
  })

  it("a replica is never fenced: Redis refuses its writes itself, and a promotion must not find it fenced", () => {
    assert.deepStrictEqual(decideFence(input({ role: "replica", lastKnownRole: "replica", master: failing("a replica of 10.0.0.12:6379, not master") })), {
      _tag: "Open",
      minReplicas: 0,
      reason: "a replica: Redis itself refuses writes"
    })
  })

  it("Redis not answering: judged by the role it last had (a frozen master is fenced, the command waits for it)", () => {
    assert.strictEqual(decideFence(input({ role: "unknown", lastKnownRole: "master", master: failing("Redis did not answer") }))._tag, "Fenced")
    assert.strictEqual(decideFence(input({ role: "unknown", lastKnownRole: "replica", master: failing("Redis did not answer") }))._tag, "Open")
    assert.deepStrictEqual(decideFence(input({ role: "unknown", lastKnownRole: "unknown", master: failing("Redis did not answer") })), {
      _tag: "Open",
      minReplicas: 0,
      reason: "not known to be master"
    })
  })
})

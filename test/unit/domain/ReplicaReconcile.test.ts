// A replica left behind by a failover (Sentinel moves only the replicas it knows) is
// moved to the master the sentinels name, but only after Sentinel has had its chance
// and only once that master answers as one; never during a failover to this node.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Option } from "effect"
import { type SentinelsSay } from "../../../src/domain/Health.ts"
import { type RoleReply } from "../../../src/domain/RedisReplies.ts"
import { decideReplicaTarget, strandedSince } from "../../../src/domain/ReplicaReconcile.ts"
import { at, SELF } from "../../support/scenarios.ts"

const named = (host: string): SentinelsSay => ({ _tag: "Named", master: at(host), votes: 2, of: 3 })
const replicaOf = (host: string): RoleReply => ({ _tag: "Replica", master: at(host), state: "connected", offset: 10 })
const grace = Duration.seconds(10)
const decide = (role: RoleReply, say: SentinelsSay, strandedFor: number, answers = true) =>
  decideReplicaTarget({ self: at(SELF), role, say, strandedFor: Duration.seconds(strandedFor), grace, namedAnswersMaster: answers })

describe("decideReplicaTarget", () => {
  it("follows the sentinels' master once stranded past the grace and it answers as master", () => {
    const action = decide(replicaOf("10.0.0.5"), named("10.0.0.6"), 10)
    assert.deepStrictEqual(action._tag === "Follow" ? action.master : undefined, at("10.0.0.6"))
    assert.include(action.reason, "2 of 3 sentinels have named 10.0.0.6:6379 master")
  })

  it("leaves it alone within the grace, when the named master does not answer as one, or during a failover to itself", () => {
    assert.include(decide(replicaOf("10.0.0.5"), named("10.0.0.6"), 9).reason, "giving Sentinel 10s")
    assert.strictEqual(decide(replicaOf("10.0.0.5"), named("10.0.0.6"), 60, false)._tag, "Leave")
    assert.include(decide(replicaOf("10.0.0.5"), named(SELF), 60).reason, "failover is in progress")
  })

  it("leaves a replica of the right master, a master, and any replica when the sentinels decide nothing", () => {
    assert.strictEqual(decide(replicaOf("10.0.0.6"), named("10.0.0.6"), 60)._tag, "Leave")
    assert.strictEqual(decide({ _tag: "Master", offset: 0, replicas: [] }, named("10.0.0.6"), 60)._tag, "Leave")
    assert.strictEqual(decide(replicaOf("10.0.0.5"), { _tag: "Undecided", reason: "only 1 of 3 sentinels answered" }, 60)._tag, "Leave")
  })
})

describe("strandedSince", () => {
  const seen = (role: RoleReply) => ({ _tag: "Seen" as const, value: role })
  const since = (previous: Option.Option<number>, role: RoleReply | null, say: SentinelsSay, now: number) =>
    strandedSince({ previous, self: at(SELF), role: role === null ? { _tag: "Unseen", reason: "timeout" } : seen(role), say, now })

  it("starts when the replica first follows another master than the sentinels name, and keeps that start", () => {
    assert.deepStrictEqual(since(Option.none(), replicaOf("10.0.0.5"), named("10.0.0.6"), 100), Option.some(100))
    assert.deepStrictEqual(since(Option.some(100), replicaOf("10.0.0.5"), named("10.0.0.6"), 900), Option.some(100))
  })

  it("ends when it follows the named master, and is unchanged while Redis does not answer", () => {
    assert.deepStrictEqual(since(Option.some(100), replicaOf("10.0.0.6"), named("10.0.0.6"), 900), Option.none())
    assert.deepStrictEqual(since(Option.some(100), null, named("10.0.0.6"), 900), Option.some(100))
  })
})

describe("strandedSince: only a replica the sentinels name another master for is stranded", () => {
  const since = (role: RoleReply, say: SentinelsSay) =>
    strandedSince({ previous: Option.some(100), self: at(SELF), role: { _tag: "Seen", value: role }, say, now: 900 })

  it("a master, a replica when the sentinels decide nothing, or during a failover to this node: not stranded", () => {
    assert.deepStrictEqual(since({ _tag: "Master", offset: 0, replicas: [] }, named("10.0.0.6")), Option.none())
    assert.deepStrictEqual(since(replicaOf("10.0.0.5"), { _tag: "Undecided", reason: "split" }), Option.none())
    assert.deepStrictEqual(since(replicaOf("10.0.0.5"), named(SELF)), Option.none())
  })
})

describe("decideReplicaTarget: reasons the operator reads", () => {
  it("names what it saw", () => {
    assert.strictEqual(decide({ _tag: "Master", offset: 0, replicas: [] }, named("10.0.0.6"), 60).reason, "not a replica")
    assert.strictEqual(decide(replicaOf("10.0.0.5"), { _tag: "Undecided", reason: "only 1 of 3 sentinels answered" }, 60).reason, "the sentinels name no master: only 1 of 3 sentinels answered")
    assert.strictEqual(decide(replicaOf("10.0.0.6"), named("10.0.0.6"), 60).reason, "follows 10.0.0.6:6379, the sentinels' master")
    assert.strictEqual(decide(replicaOf("10.0.0.5"), named("10.0.0.6"), 9).reason, "follows 10.0.0.5:6379, not 10.0.0.6:6379, for 9s: giving Sentinel 10s to move it")
    assert.strictEqual(decide(replicaOf("10.0.0.5"), named("10.0.0.6"), 60, false).reason, "the sentinels name 10.0.0.6:6379 master but it does not answer as one yet")
  })
})

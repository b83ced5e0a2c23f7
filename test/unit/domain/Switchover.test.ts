// When `manage switchover` may start and to which replica: every refusal names its
// reason; without --to the replica Sentinel itself would prefer is chosen.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { caughtUpLagBytes, decideSwitchover, type SwitchoverObservation, type SwitchoverReplica } from "../../../src/domain/Switchover.ts"
import { at } from "../../support/scenarios.ts"

const replica = (n: number, o: Partial<SwitchoverReplica> = {}): SwitchoverReplica => ({
  endpoint: at(`10.0.0.${n}`),
  node: Option.some(`node-${n}`),
  link: Option.some("connected"),
  lagBytes: 0,
  priority: Option.some(100),
  ...o
})

/** node-1 is master of these replicas; nothing paused, nothing asked for. */
const cluster = (replicas: ReadonlyArray<SwitchoverReplica>, o: Partial<SwitchoverObservation> = {}): SwitchoverObservation => ({
  pausedKey: "service/redis/paused",
  paused: false,
  master: Option.some({ endpoint: at("10.0.0.1"), node: Option.some("node-1") }),
  noMaster: "",
  replicas,
  requested: Option.none(),
  ...o
})

const refusal = (o: SwitchoverObservation): string => {
  const d = decideSwitchover(o)
  return d._tag === "Refuse" ? d.reason : assert.fail(`expected a refusal, got ${d.reason}`)
}
const target = (o: SwitchoverObservation) => {
  const d = decideSwitchover(o)
  return d._tag === "Proceed" ? d : assert.fail(`refused: ${d.reason}`)
}

describe("decideSwitchover: refusals", () => {
  it("paused", () => {
    assert.strictEqual(refusal(cluster([replica(2)], { paused: true })), "the cluster is paused (service/redis/paused is set): `manage resume` first")
  })
  it("no master", () => {
    assert.strictEqual(refusal(cluster([], { master: Option.none(), noMaster: "no majority of the 3 passing sentinels names one" })), "no master to hand over from: no majority of the 3 passing sentinels names one")
  })
  it("no replica", () => {
    assert.strictEqual(refusal(cluster([])), "the master node-1 (10.0.0.1:6379) has no connected replica to hand over to")
  })
  it("an unknown node, the master itself", () => {
    assert.strictEqual(refusal(cluster([replica(2)], { requested: Option.some("node-9") })), "unknown node \"node-9\": not a replica of the master node-1 (10.0.0.1:6379) (its replicas: node-2 (10.0.0.2:6379))")
    assert.strictEqual(refusal(cluster([replica(2)], { requested: Option.some("10.0.0.1") })), "node-1 (10.0.0.1:6379) is already the master")
  })
  it("a target that is lagging, disconnected, silent or never promoted", () => {
    const asked = (r: SwitchoverReplica) => refusal(cluster([r], { requested: Option.some("node-2") }))
    const prefix = "node-2 (10.0.0.2:6379) is not a caught-up replica that may be promoted: "
    assert.strictEqual(asked(replica(2, { lagBytes: caughtUpLagBytes + 1 })), `${prefix}it is ${caughtUpLagBytes + 1} bytes behind the master (at most ${caughtUpLagBytes} to count as caught up)`)
    assert.strictEqual(asked(replica(2, { link: Option.some("sync") })), `${prefix}its link to the master is sync`)
    assert.strictEqual(asked(replica(2, { link: Option.none() })), `${prefix}it does not answer`)
    assert.strictEqual(asked(replica(2, { priority: Option.some(0) })), `${prefix}its replica-priority is 0 (REPLICA_PRIORITY=0: never promoted)`)
    assert.strictEqual(asked(replica(2, { priority: Option.none() })), `${prefix}its replica-priority could not be read`)
    assert.strictEqual(
      refusal(cluster([replica(2, { node: Option.none(), link: Option.none() })], { requested: Option.some("10.0.0.2") })),
      "10.0.0.2:6379 is not a caught-up replica that may be promoted: it does not answer",
      "a replica registered nowhere is named by its address"
    )
  })
  it("exactly caughtUpLagBytes behind still counts as caught up", () => {
    assert.strictEqual(target(cluster([replica(2, { lagBytes: caughtUpLagBytes })], { requested: Option.some("node-2") })).target.endpoint.host, "10.0.0.2")
  })
  it("without --to, no replica fit: each one's reason", () => {
    assert.strictEqual(
      refusal(cluster([replica(2, { priority: Option.some(0) }), replica(3, { link: Option.some("connect") })])),
      "no replica is caught up and may be promoted: node-2 (10.0.0.2:6379): its replica-priority is 0 (REPLICA_PRIORITY=0: never promoted); node-3 (10.0.0.3:6379): its link to the master is connect"
    )
  })
})

describe("decideSwitchover: the target", () => {
  it("--to by name, address or address:port; every other replica is held", () => {
    for (const wanted of ["node-3", "10.0.0.3", "10.0.0.3:6379"]) {
      const d = target(cluster([replica(2), replica(3), replica(4)], { requested: Option.some(wanted) }))
      assert.strictEqual(d.target.endpoint.host, "10.0.0.3")
      assert.deepStrictEqual(d.others, [at("10.0.0.2"), at("10.0.0.4")])
    }
  })
  it("without --to: lowest non-zero priority, then least behind, as Sentinel would", () => {
    const d = target(cluster([replica(2, { priority: Option.some(0) }), replica(3, { lagBytes: 50 }), replica(4, { lagBytes: 10 }), replica(5, { priority: Option.some(200) })]))
    assert.strictEqual(d.target.endpoint.host, "10.0.0.4")
    assert.strictEqual(d.reason, "handing node-1 (10.0.0.1:6379)'s role to node-4 (10.0.0.4:6379): the replica Sentinel would prefer (priority 100, 10 bytes behind)")
  })
})

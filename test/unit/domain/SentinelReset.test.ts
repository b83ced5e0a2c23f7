// When a sentinel forgets what it knows: only peers that are down and gone from Consul,
// only while the master is healthy and a replica is up, and 30 s apart cluster-wide.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Option } from "effect"
import { decideSentinelReset, stalePeers } from "../../../src/domain/SentinelReset.ts"
import { type SentinelMasterState, type SentinelPeer } from "../../../src/domain/RedisReplies.ts"
import { at } from "../../support/scenarios.ts"

const peer = (host: string, port: number, ...flags: ReadonlyArray<string>): SentinelPeer => ({ endpoint: at(host, port), runId: `run-${host}`, flags })
const replica = (host: string, ...flags: ReadonlyArray<string>) => peer(host, 6379, ...(flags.length === 0 ? ["slave"] : flags))
const sentinel = (host: string, ...flags: ReadonlyArray<string>) => peer(host, 26379, ...(flags.length === 0 ? ["sentinel"] : flags))
const master = (...flags: ReadonlyArray<string>): SentinelMasterState => ({ endpoint: at("10.0.0.11"), flags: ["master", ...flags], replicas: 2, otherSentinels: 2, quorum: 2 })

/** A healthy master, one live replica, and sentinel 10.0.0.9 replaced (down, gone from Consul). */
const replaced = (over: Partial<Parameters<typeof decideSentinelReset>[0]> = {}) =>
  decideSentinelReset({
    master: master(),
    replicas: [replica("10.0.0.12")],
    sentinels: [sentinel("10.0.0.12"), sentinel("10.0.0.9", "sentinel", "s_down")],
    aliveReplicas: [at("10.0.0.12")],
    aliveSentinels: [at("10.0.0.12", 26379)],
    sinceLastReset: Option.none(),
    spacing: Duration.seconds(30),
    ...over
  })

describe("stalePeers", () => {
  it("a peer is stale when down (s_down, o_down or disconnected) and not alive in Consul", () => {
    const known = [
      sentinel("10.0.0.1", "sentinel", "s_down"),
      sentinel("10.0.0.2", "sentinel", "o_down"),
      sentinel("10.0.0.3", "sentinel", "disconnected"),
      sentinel("10.0.0.4"),
      sentinel("10.0.0.5", "sentinel", "s_down")
    ]
    assert.deepStrictEqual(stalePeers(known, [at("10.0.0.5", 26379)]), [at("10.0.0.1", 26379), at("10.0.0.2", 26379), at("10.0.0.3", 26379)])
  })
})

describe("decideSentinelReset", () => {
  it("a replaced sentinel is forgotten while the master is healthy, named in the reason", () => {
    const d = replaced()
    assert.strictEqual(d._tag, "Reset")
    assert.strictEqual(d.reason, "forgetting sentinel 10.0.0.9:26379 (down and not registered in Consul) while the master is healthy")
  })

  it("a dead replica gone from Consul is forgotten too", () => {
    const d = replaced({ sentinels: [], replicas: [replica("10.0.0.12"), replica("10.0.0.8", "slave", "s_down")] })
    assert.strictEqual(d._tag, "Reset")
    assert.include(d.reason, "replica 10.0.0.8:6379")
  })

  it("nothing stale: keep", () => {
    assert.deepStrictEqual(replaced({ sentinels: [sentinel("10.0.0.12")] }), { _tag: "Keep", reason: "no stale replica or sentinel" })
  })

  it("a down peer still registered in Consul is not stale (it is restarting)", () => {
    assert.strictEqual(replaced({ aliveSentinels: [at("10.0.0.12", 26379), at("10.0.0.9", 26379)] })._tag, "Keep")
  })

  for (const flag of ["s_down", "o_down", "disconnected"]) {
    it(`never while the master is ${flag}`, () => {
      const d = replaced({ master: master(flag) })
      assert.strictEqual(d._tag, "Keep")
      assert.include(d.reason, "never reset then")
    })
  }

  it("never when no replica is up: a reset now could leave nothing to promote", () => {
    const d = replaced({ replicas: [replica("10.0.0.12", "slave", "s_down")], aliveReplicas: [at("10.0.0.12")] })
    assert.strictEqual(d._tag, "Keep")
    assert.include(d.reason, "no replica is up")
  })

  it("30 s apart cluster-wide: 29.999 s after the last reset keeps, 30 s resets", () => {
    const d = replaced({ sinceLastReset: Option.some(Duration.millis(29_999)) })
    assert.strictEqual(d._tag, "Keep")
    assert.include(d.reason, "waiting 30s between resets")
    assert.strictEqual(replaced({ sinceLastReset: Option.some(Duration.seconds(30)) })._tag, "Reset")
  })
})

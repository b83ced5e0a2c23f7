// The agent's part of the cluster's record (DESIGN.md §5): on the node whose master
// check passes it records itself as the last master seen, and that the cluster holds
// data once its dataset has keys; it writes only on a change, and never from a node
// that is not the master the sentinels name.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { makeWorlds, passingSentinel, redisAt, startAgent, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const record = (w: Worlds) => JSON.parse(w.consul.kv.get(names.cluster)?.value ?? "null")
const writes = (w: Worlds) => w.consul.calls.filter((c) => c === `kv.set ${names.cluster}`).length

const eventually = (what: string, ms: number, check: () => boolean) =>
  Effect.sync(check).pipe(
    Effect.repeat({ until: (ok) => ok }),
    Effect.delay("20 millis"),
    Effect.timeoutOrElse({ duration: ms, orElse: () => Effect.die(new Error(`${what}: not within ${ms} ms`)) })
  )

describe("agent: the cluster's record", () => {
  it.live("the passing master records itself as the last master seen, then that the cluster holds data once it has keys", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(1))
      const server = w.redis.servers.get("10.0.0.11:6379")
      if (server !== undefined) server.keys = 0
      for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
      yield* startAgent(1, w)
      yield* eventually("last master recorded", 5_000, () => record(w)?.lastMaster?.node === "node-1")
      assert.deepStrictEqual({ ...record(w), lastMaster: { ...record(w).lastMaster, seenAt: "" } }, {
        heldData: false,
        lastMaster: { node: "node-1", address: "10.0.0.11", port: 6379, seenAt: "" }
      })
      if (server !== undefined) server.keys = 5
      yield* eventually("held data recorded", 5_000, () => record(w)?.heldData === true)
      const after = writes(w)
      yield* Effect.sleep("1 second")
      assert.strictEqual(writes(w), after, "nothing written at rest")
    }))

  it.live("Consul lost the record: the master's agent writes it again, with the data", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(1))
      for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
      yield* startAgent(1, w)
      yield* eventually("recorded", 5_000, () => record(w)?.heldData === true)
      w.consul.kv.delete(names.cluster)
      yield* eventually("recorded again", 5_000, () => record(w)?.heldData === true && record(w)?.lastMaster?.node === "node-1")
    }))

  it.live("a replica, or a master the sentinels do not name, records nothing", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.master(redisAt(2), [redisAt(1)]).replica(redisAt(1), redisAt(2))
      for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(2))
      w.redis.master(redisAt(3))
      yield* startAgent(1, w)
      yield* startAgent(3, w)
      yield* eventually("both agents synced with Consul", 5_000, () => w.consul.services.get("redis-replica-node-1")?.status === "passing" && w.consul.calls.filter((c) => c === "agent.check.list").length >= 4)
      assert.isNull(record(w))
    }))
})

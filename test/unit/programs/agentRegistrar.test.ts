// The agent's Consul side, one sync at a time (syncRegistry): what Consul shows for
// this node follows its verdicts; another node's stale master check is failed only
// once this node's mastery is confirmed again; registrations Consul lost come back;
// the founding session is renewed, released once Consul shows this node passing, or
// forgotten; at rest the views other loops read are refreshed; a Consul problem is
// remembered until it answers again.
import { assert, describe, it } from "@effect/vitest"
import { existsSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Option, Ref } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { type CheckName, type CheckState } from "../../../src/domain/Health.ts"
import { type AgentState, initialState } from "../../../src/programs/agent/AgentState.ts"
import { syncRegistry } from "../../../src/programs/agent/registrar.ts"
import { makeWorlds, memoryLayers, passingSentinel, redisAt, sentinelAt, testNode, type TestNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const statusOf = (w: Worlds, id: string) => w.consul.services.get(id)?.status

const verdict = (pass: boolean, reason: string): CheckState => ({ pass, reason, since: 0, confirmedAt: 0 })
const asMaster: Readonly<Record<CheckName, CheckState>> = {
  master: verdict(true, "master; 3 of 3 sentinels name it"),
  replica: verdict(false, "this node is master, not a replica"),
  sentinel: verdict(true, "monitors mymaster")
}
const asReplica: Readonly<Record<CheckName, CheckState>> = {
  master: verdict(false, "this node is a replica"),
  replica: verdict(true, "link up to 10.0.0.12:6379"),
  sentinel: verdict(true, "monitors mymaster")
}

const sync = (n: TestNode, w: Worlds, state: Ref.Ref<AgentState>, full = false) => syncRegistry(state)(full).pipe(Effect.provide(memoryLayers(n, w)))
/** Verdicts just confirmed: the registrar reads them as of now, and a stale pass has lapsed. */
const fresh = (verdicts: Readonly<Record<CheckName, CheckState>>): Readonly<Record<CheckName, CheckState>> => {
  const now = Date.now()
  const at = (v: CheckState): CheckState => ({ ...v, since: now, confirmedAt: now })
  return { master: at(verdicts.master), replica: at(verdicts.replica), sentinel: at(verdicts.sentinel) }
}

/** The agent's state after its observer ran: verdicts, and the peer sentinels it learned from its own. */
const stateWith = (verdicts: Readonly<Record<CheckName, CheckState>> | undefined) =>
  Ref.make<AgentState>({
    ...initialState(0),
    verdicts: Option.map(Option.fromUndefinedOr(verdicts), fresh),
    peers: { fromSentinel: [sentinelAt(2), sentinelAt(3)], fromConsul: [], refreshedAt: 0 }
  })

/** Node 1 master (Redis and every sentinel agree), registered as ContainerPilot does. */
const masterOne = (w: Worlds) => {
  w.redis.master(redisAt(1))
  for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(1))
  w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
  w.consul.register("redis-sentinel-node-1", "redis-sentinel", sentinelAt(1).host, 26379)
}

describe("agent registrar: this node's checks", () => {
  it.live("passes and fails its own checks as the verdicts say; before the first verdict it touches nothing", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379, "critical")
      const n = yield* testNode(1)
      const unseen = yield* stateWith(undefined)
      yield* sync(n, w, unseen)
      assert.strictEqual(statusOf(w, "redis-node-1"), "critical", "no verdict yet: nothing set")
      const state = yield* stateWith(asMaster)
      yield* sync(n, w, state)
      assert.strictEqual(statusOf(w, "redis-node-1"), "passing")
      assert.strictEqual(w.consul.services.get("redis-node-1")?.output, "master; 3 of 3 sentinels name it")
      assert.isUndefined(w.consul.services.get("redis-replica-node-1"), "a role it never had is not registered")
      assert.deepStrictEqual([...(yield* Ref.get(state)).consul.everRegistered].sort(), ["master", "sentinel"])
    }))

  it.live("a registration Consul lost comes back, with the verdict's status, and is remembered as registered", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.redis.replica(redisAt(1), redisAt(2))
      for (const i of [1, 2, 3]) passingSentinel(w, i, redisAt(2))
      const n = yield* testNode(1)
      const state = yield* stateWith(asReplica)
      yield* Ref.update(state, (s) => ({ ...s, consul: { ...s.consul, everRegistered: new Set<CheckName>(["replica", "sentinel"]) } }))
      yield* sync(n, w, state)
      assert.strictEqual(statusOf(w, "redis-replica-node-1"), "passing")
      assert.strictEqual(statusOf(w, "redis-sentinel-node-1"), "passing")
      assert.isUndefined(w.consul.services.get("redis-node-1"))
    }))
})

describe("agent registrar: another node's master check", () => {
  it.live("this node confirmed master again: the other node's passing master check is failed, naming why", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      w.consul.register("redis-node-2", "redis", redisAt(2).host, 6379)
      const n = yield* testNode(1)
      yield* sync(n, w, yield* stateWith(asMaster))
      assert.strictEqual(statusOf(w, "redis-node-2"), "critical")
      assert.include(w.consul.services.get("redis-node-2")?.output ?? "", "10.0.0.12:6379")
      assert.strictEqual(statusOf(w, "redis-node-1"), "passing")
    }))

  it.live("a verdict that is no longer true (the sentinels moved on meanwhile): the other node, now master, is not failed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      w.consul.register("redis-node-2", "redis", redisAt(2).host, 6379)
      w.redis.switchMaster("mymaster", redisAt(2))
      const n = yield* testNode(1)
      yield* sync(n, w, yield* stateWith(asMaster))
      assert.strictEqual(statusOf(w, "redis-node-2"), "passing", "a master just replaced never fails its successor")
    }))

  it.live("its own registration, and a failing one elsewhere, are left alone", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      w.consul.register("redis-node-2", "redis", redisAt(2).host, 6379, "critical")
      w.consul.register("redis-node-1-old", "redis", redisAt(1).host, 6379)
      const n = yield* testNode(1)
      yield* sync(n, w, yield* stateWith(asMaster))
      assert.isFalse(w.consul.calls.includes("agent.check service:redis-node-2"))
      assert.isFalse(w.consul.calls.includes("agent.check service:redis-node-1-old"), "the same address is this node")
    }))
})

describe("agent registrar: the founding session", () => {
  const withMarker = (n: TestNode, session: string) =>
    Effect.promise(async () => {
      await mkdir(join(n.dir, "conf"), { recursive: true })
      await writeFile(join(n.dir, "conf", "bootstrap-session"), `${session}\n`)
    })
  const marker = (n: TestNode) => existsSync(join(n.dir, "conf", "bootstrap-session"))
  const founded = (w: Worlds) => {
    w.consul.sessions.set("s-1", { behavior: "release" })
    w.consul.kv.set(names.masterLock, { value: JSON.stringify({ node: "node-1", address: redisAt(1).host, port: 6379 }), session: "s-1", modifyIndex: w.consul.next(), lockIndex: 1 })
  }

  it.live("master, not yet passing in Consul: renewed; passing: released (the founder stays on record), session destroyed, marker gone", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      w.consul.services.delete("redis-node-1")
      founded(w)
      const n = yield* testNode(1)
      yield* withMarker(n, "s-1")
      const state = yield* stateWith(asMaster)
      // The first sync registers redis-node-1; the masters it read were from before that.
      yield* sync(n, w, state)
      assert.isTrue(w.consul.calls.includes("session.renew s-1"))
      assert.strictEqual(w.consul.kv.get(names.masterLock)?.session, "s-1")
      assert.isTrue(marker(n))
      yield* sync(n, w, state)
      assert.isUndefined(w.consul.kv.get(names.masterLock)?.session)
      assert.include(w.consul.kv.get(names.masterLock)?.value ?? "", "node-1")
      assert.isFalse(w.consul.sessions.has("s-1"))
      assert.isFalse(marker(n))
    }))

  it.live("a renewal Consul refuses (the session is gone): the marker is forgotten", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      w.consul.services.delete("redis-node-1")
      founded(w)
      const n = yield* testNode(1)
      yield* withMarker(n, "s-1")
      w.consul.meanwhile.set("session.renew s-1", () => void w.consul.sessions.delete("s-1"))
      yield* sync(n, w, yield* stateWith(asMaster))
      assert.isFalse(marker(n))
    }))

  it.live("the lock held by another session: forgotten; not master: left to lapse, marker kept", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      founded(w)
      const n = yield* testNode(1)
      yield* withMarker(n, "s-2")
      yield* sync(n, w, yield* stateWith(asMaster))
      assert.isFalse(marker(n), "another session holds the lock")
      assert.strictEqual(w.consul.kv.get(names.masterLock)?.session, "s-1", "and it is not released")

      const v = makeWorlds()
      masterOne(v)
      founded(v)
      const m = yield* testNode(1)
      yield* withMarker(m, "s-1")
      yield* sync(m, v, yield* stateWith(asReplica))
      assert.isTrue(marker(m))
      assert.isFalse(v.consul.calls.includes("session.renew s-1"), "not master: not renewed")
      assert.strictEqual(v.consul.kv.get(names.masterLock)?.session, "s-1")
    }))
})

describe("agent registrar: at rest, and when Consul fails", () => {
  it.live("a full sync refreshes the peer sentinels (not this node's) and the last backup; a quick one does not", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      for (const i of [2, 3]) w.consul.register(`redis-sentinel-node-${i}`, "redis-sentinel", sentinelAt(i).host, 26379, i === 3 ? "critical" : "passing")
      const manifest = { id: "b", createdAt: "2026-12-03T05:00:00.000Z", node: "node-2", bytes: 1, sha256: "d".repeat(64), store: "local", path: "b", redisVersion: "7.0.15" }
      w.consul.kv.set(names.lastBackup, { value: JSON.stringify(manifest), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      const n = yield* testNode(1)
      const state = yield* stateWith(asMaster)
      yield* sync(n, w, state, false)
      assert.deepStrictEqual((yield* Ref.get(state)).peers.fromConsul, [])
      assert.isTrue(Option.isNone((yield* Ref.get(state)).consul.lastBackup))
      yield* sync(n, w, state, true)
      const s = yield* Ref.get(state)
      assert.deepStrictEqual([...s.peers.fromConsul].sort((a, b) => a.host.localeCompare(b.host)), [sentinelAt(2), sentinelAt(3)], "registered in any state")
      assert.deepStrictEqual(s.consul.lastBackup, Option.some(manifest))
      assert.include(w.consul.kv.get(names.cluster)?.value ?? "", "node-1", "the passing master records itself as the last master seen")
    }))

  it.live("Consul failing: the problem is kept for /health and the next sync clears it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      masterOne(w)
      const n = yield* testNode(1)
      const state = yield* stateWith(asMaster)
      w.consul.outage = "timeout"
      yield* sync(n, w, state)
      const failed = (yield* Ref.get(state)).consul.lastSync
      assert.isTrue(Option.exists(failed, (l) => Option.isSome(l.problem)))
      w.consul.outage = undefined
      yield* sync(n, w, state)
      assert.isTrue(Option.exists((yield* Ref.get(state)).consul.lastSync, (l) => Option.isNone(l.problem)))
    }))
})

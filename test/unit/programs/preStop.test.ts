import { assert, describe, it } from "@effect/vitest"
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { mkdir, rename, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Duration, Effect, Exit, Schedule } from "effect"
import { formatEndpoint } from "../../../src/domain/Endpoint.ts"
import { preStop } from "../../../src/programs/preStop.ts"
import { status } from "../../../src/programs/status.ts"
import { type ControllableServer, controllableServer, silentServer } from "../../support/fakeServers.ts"
import { eventually, testNode, type TestNode, makeWorlds, redisAt, runFor, runLive, sentinelAt, type Worlds, scoped, passingSentinel } from "../../support/harness.ts"

/** Node n's data directory holding the dump.rdb a backup left. */
const withBackupRdb = (n: TestNode) =>
  Effect.promise(async () => {
    const data = n.env.DATA_DIR ?? ""
    await mkdir(data, { recursive: true })
    await writeFile(join(data, "dump.rdb"), "a backup's")
    return data
  })

const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")

/** Node 1 master, node 2 its replica, sentinels on both registered passing; FAILOVER promotes node 2. */
const pair = (w: Worlds, replicaOffset = 1000) => {
  w.redis.master(redisAt(1), [redisAt(2)])
  w.redis.replica(redisAt(2), redisAt(1), "connected", replicaOffset)
  for (const i of [1, 2]) {
    passingSentinel(w, i, redisAt(1))
  }
  w.consul.register("redis-node-1", "redis", redisAt(1).host, 6379)
  for (const i of [1, 2]) w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))?.replicas.push({ endpoint: redisAt(2), runId: "r2", flags: ["slave"] })
  w.redis.onFailover = () => {
    w.redis.master(redisAt(2))
    w.redis.switchMaster("mymaster", redisAt(2))
  }
}

describe("pre-stop", () => {
  it.live("a replica: nothing to hand over, its Redis shut down at once (the container stops without waiting), saving resync.rdb for its next start", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      const n = yield* testNode(2)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const at = formatEndpoint(redisAt(2))
      assert.deepStrictEqual(w.redis.calls.filter((c) => c.startsWith(at)), [`${at} ROLE`, `${at} SHUTDOWN SAVE`, `${at} ROLE`])
      assert.isUndefined(w.redis.servers.get(formatEndpoint(redisAt(2))), "stopped")
      assert.isFalse(w.redis.calls.some((c) => /FAILOVER|PAUSE/.test(c)))
    }))

  it.live("a master hands over: writes paused, a caught-up replica promoted through a peer Sentinel, own check failed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const order = w.redis.calls.filter((c) => /CLIENT|FAILOVER/.test(c))
      assert.deepStrictEqual(order, [`${formatEndpoint(redisAt(1))} CLIENT PAUSE`, `${formatEndpoint(sentinelAt(2))} SENTINEL FAILOVER`])
      const after = w.redis.calls.slice(w.redis.calls.indexOf(`${formatEndpoint(sentinelAt(2))} SENTINEL FAILOVER`))
      assert.include(after, `${formatEndpoint(redisAt(1))} SHUTDOWN SAVE`, "then Redis is shut down, saving resync.rdb: the old master rejoins with a partial resync")
      assert.notInclude(after, `${formatEndpoint(redisAt(1))} CLIENT UNPAUSE`, "writes stay paused until Redis exits")
      assert.strictEqual(w.consul.services.get("redis-node-1")?.status, "critical")
      assert.isFalse(w.redis.calls.some((c) => c.includes("RESET")), "never SENTINEL RESET")
    }))

  it.live("a failover that takes time and a replica still catching up: pre-stop waits for both, and returns only once another node is master", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w, 990)
      w.redis.failoverTakes = Duration.millis(300)
      // The replica reaches the paused master's offset 150 ms in, as a real one streams the backlog.
      yield* Effect.forkScoped(Effect.delay(Effect.sync(() => void w.redis.replica(redisAt(2), redisAt(1), "connected", 1000)), "150 millis"))
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isTrue(w.redis.calls.includes(`${formatEndpoint(sentinelAt(2))} SENTINEL FAILOVER`), "handed over once caught up")
      assert.strictEqual(w.redis.servers.get(formatEndpoint(redisAt(2)))?.role._tag, "Master", "pre-stop returned after the promotion, not before")
      assert.strictEqual(w.consul.services.get("redis-node-1")?.status, "critical")
    }))

  it.live("the failover goes to a sentinel that knows every replica first, not merely the first one listed", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      // Sentinel 2 (listed first) has not learned the replica yet; sentinel 3 has.
      w.redis.sentinels.get(formatEndpoint(sentinelAt(2)))?.replicas.splice(0)
      passingSentinel(w, 3, redisAt(1))
      w.redis.sentinels.get(formatEndpoint(sentinelAt(3)))?.replicas.push({ endpoint: redisAt(2), runId: "r2", flags: ["slave"] })
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(w.redis.calls.filter((c) => c.endsWith("SENTINEL FAILOVER")), [`${formatEndpoint(sentinelAt(3))} SENTINEL FAILOVER`])
    }))

  it.live("a replica the Sentinel never learned about is moved to the new master, not left chained to the old one", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      // Node 3 replicates from node 1, but the sentinels have not seen it yet.
      w.redis.master(redisAt(1), [redisAt(2), redisAt(3)]).replica(redisAt(3), redisAt(1))
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const role = w.redis.servers.get(formatEndpoint(redisAt(3)))?.role
      assert.deepStrictEqual(role?._tag === "Replica" ? role.master : undefined, redisAt(2))
    }))

  it.live("under a steady writer with a replica 100 ms behind: the replica is promoted holding every acknowledged write", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      w.redis.replicationTakes = Duration.millis(100)
      const offsetOf = (i: number) => {
        const role = w.redis.servers.get(formatEndpoint(redisAt(i)))?.role
        return role === undefined || role._tag === "Sentinel" ? 0 : role.offset
      }
      let acknowledged = 0
      let lostAtPromotion: number | undefined
      const promote = w.redis.onFailover
      w.redis.onFailover = (at, name) => {
        lostAtPromotion = offsetOf(1) - offsetOf(2)
        promote(at, name)
      }
      // A client writing 100 bytes every 5 ms to the master, until the master is gone.
      yield* Effect.forkScoped(Effect.repeat(
        Effect.flatMap(w.redis.write(redisAt(1), 100), (ok) => Effect.sync(() => void (acknowledged += ok ? 1 : 0))),
        Schedule.spaced("5 millis")
      ))
      yield* eventually("the writer has written", 5_000, () => acknowledged >= 20)
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(lostAtPromotion, 0, "bytes the master had acknowledged that the promoted replica did not hold")
      assert.strictEqual(w.redis.servers.get(formatEndpoint(redisAt(2)))?.role._tag, "Master")
    }))

  it.live("no replica has caught up: no failover (no acknowledged write is given up), writes unpaused", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w, 10)
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isFalse(w.redis.calls.some((c) => c.includes("FAILOVER")))
      assert.isUndefined(w.redis.servers.get(formatEndpoint(redisAt(1)))?.pausedFor)
    }))

  it.live("a replica, a master without replicas, or a node whose Redis never started: nothing to do, exit 0", () =>
    Effect.gen(function*() {
      for (const setup of [
        (w: Worlds) => void w.redis.replica(redisAt(1), redisAt(2)),
        (w: Worlds) => void w.redis.master(redisAt(1)),
        (_: Worlds) => undefined
      ]) {
        const w = makeWorlds()
        setup(w)
        const n = yield* testNode(1)
        const exit = yield* runFor(preStop, n, w)
        assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
        assert.isFalse(w.redis.calls.some((c) => /PAUSE|FAILOVER/.test(c)))
      }
    }))

  it.live("Consul gone (with its host): still hands over, through the sentinel of a replica's node (its own is stopping), moves a replica left behind, shuts Redis down", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      w.redis.master(redisAt(1), [redisAt(2), redisAt(3)]).replica(redisAt(3), redisAt(1))
      w.consul.outage = "unreachable"
      const n = yield* testNode(1)
      assert.isTrue(Exit.isSuccess(yield* runFor(preStop, n, w)))
      assert.deepStrictEqual(w.redis.calls.filter((c) => c.endsWith("SENTINEL FAILOVER")), [`${formatEndpoint(sentinelAt(2))} SENTINEL FAILOVER`])
      assert.include(w.redis.calls, `${formatEndpoint(redisAt(1))} SHUTDOWN SAVE`)
      const role = w.redis.servers.get(formatEndpoint(redisAt(3)))?.role
      assert.deepStrictEqual(role?._tag === "Replica" ? role.master : undefined, redisAt(2), "failing its own check in Consul did not stop the handover's last step")
    }))

  it.live("no Sentinel accepts SENTINEL FAILOVER: writes unpaused, then Redis shut down, exit 0 (Sentinel fails over after down-after)", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      w.redis.sentinels.clear()
      const n = yield* testNode(1)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const own = w.redis.calls.filter((c) => c.startsWith(formatEndpoint(redisAt(1))) && /CLIENT|SHUTDOWN/.test(c))
      assert.deepStrictEqual(own, [`${formatEndpoint(redisAt(1))} CLIENT PAUSE`, `${formatEndpoint(redisAt(1))} CLIENT UNPAUSE`, `${formatEndpoint(redisAt(1))} SHUTDOWN SAVE`])
    }))

  it.live("a save Redis refuses (a full disk) does not keep it running: it is shut down without one, and nothing is kept for the next start", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      const at = formatEndpoint(redisAt(2))
      w.redis.failing.set(`${at} SHUTDOWN SAVE`, "refused")
      const n = yield* testNode(2)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(w.redis.calls.filter((c) => c.includes("SHUTDOWN")), [`${at} SHUTDOWN SAVE`, `${at} SHUTDOWN`])
      assert.isUndefined(w.redis.servers.get(at), "stopped")
      assert.isFalse(existsSync(join(n.env.DATA_DIR ?? "", "resync.rdb")))
    }))

  it.live("Redis writing its first AOF refuses to exit: pre-stop waits until it is written, then shuts it down saving", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      const at = formatEndpoint(redisAt(2))
      const server = w.redis.servers.get(at)
      if (server !== undefined) server.persistence = { ...server.persistence, aof_rewrite_in_progress: 1 }
      w.redis.failing.set(`${at} SHUTDOWN SAVE`, "refused")
      // As Redis: the rewrite ends, and from then on it may exit.
      yield* Effect.forkScoped(Effect.delay(Effect.sync(() => {
        if (server !== undefined) server.persistence = { ...server.persistence, aof_rewrite_in_progress: 0 }
        w.redis.failing.clear()
      }), "300 millis"))
      const n = yield* testNode(2)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(w.redis.calls.filter((c) => c.includes("SHUTDOWN")), [`${at} SHUTDOWN SAVE`, `${at} SHUTDOWN SAVE`])
      assert.isUndefined(w.redis.servers.get(at), "stopped")
    }))

  it.live("the RDB Redis saved at shutdown is kept as resync.rdb, out of a backup's way", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      const n = yield* testNode(2)
      const data = yield* withBackupRdb(n)
      // As Redis: a new file renamed over the old one.
      w.redis.onShutdownSave = () => Effect.promise(async () => {
        await writeFile(join(data, "temp-1.rdb"), "saved at shutdown")
        await rename(join(data, "temp-1.rdb"), join(data, "dump.rdb"))
      })
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.strictEqual(readFileSync(join(data, "resync.rdb"), "utf8"), "saved at shutdown")
      assert.isFalse(existsSync(join(data, "dump.rdb")))
    }))

  it.live("a dump.rdb the shutdown did not write (Redis gone without saving) is not taken for one: nothing kept", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w)
      const n = yield* testNode(2)
      const data = yield* withBackupRdb(n)
      const exit = yield* runFor(preStop, n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isFalse(existsSync(join(data, "resync.rdb")))
      assert.strictEqual(readFileSync(join(data, "dump.rdb"), "utf8"), "a backup's")
    }))

  it.live("a save longer than a command may take: pre-stop waits for Redis to exit, then keeps the RDB (ContainerPilot would kill a Redis still saving a second after pre-stop)", () =>
    Effect.gen(function*() {
      // A replica whose SHUTDOWN SAVE blocks it for 1.5 s (five command timeouts here),
      // answering nothing meanwhile, then exits having written dump.rdb.
      const n = yield* testNode(2, { ANNOUNCE_IP: "127.0.0.1", PRESTOP_TIMEOUT: "5s" })
      const data = yield* withBackupRdb(n)
      let exitedAt = 0
      const server: ControllableServer = yield* scoped(() =>
        controllableServer("127.0.0.1", (args) => {
          if (args[0]?.toUpperCase() === "ROLE") return ["slave", "127.0.0.1", 6390, "connected", 1000]
          if (args.join(" ").toUpperCase() === "SHUTDOWN SAVE") {
            server.delayAnswers(60_000)
            void server.setMode("hang")
            setTimeout(() => {
              writeFileSync(join(data, "temp-1.rdb"), "saved at shutdown")
              renameSync(join(data, "temp-1.rdb"), join(data, "dump.rdb"))
              exitedAt = Date.now()
              void server.setMode("down")
            }, 1_500)
          }
          return { simple: "OK" }
        })
      )
      const exit = yield* runLive(preStop, { ...n, env: { ...n.env, REDIS_PORT: String(server.port) } })
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isAbove(exitedAt, 0, "pre-stop returned only once Redis had exited")
      assert.strictEqual(readFileSync(join(data, "resync.rdb"), "utf8"), "saved at shutdown")
    }))

  it.live("Redis hanging: exits 0 within PRESTOP_TIMEOUT", () =>
    Effect.gen(function*() {
      const server = yield* scoped(silentServer)
      const n = yield* testNode(1, { ANNOUNCE_IP: "127.0.0.1", REDIS_PORT: String(server.port), PRESTOP_TIMEOUT: "2s" })
      const started = Date.now()
      assert.isTrue(Exit.isSuccess(yield* runLive(preStop, n)))
      assert.isBelow(Date.now() - started, 2500)
    }))
})

describe("status", () => {
  it.live("shows the sentinel majority, each node's role and lag, and unknowns as unknown", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      pair(w, 900)
      w.consul.register("redis-replica-node-3", "redis-replica", redisAt(3).host, 6379, "critical")
      const n = yield* testNode(1)
      const lines: Array<string> = []
      const original = console.log
      console.log = (line: string) => void lines.push(line)
      const exit = yield* runFor(status(false), n, w).pipe(Effect.ensuring(Effect.sync(() => (console.log = original))))
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const out = lines.join("\n")
      assert.include(out, "master of mymaster: 10.0.0.11:6379 (2 of 2 sentinels agree)")
      assert.match(out, /10\.0\.0\.12:6379\s+replica of 10\.0\.0\.11:6379 \(connected\)\s+100 B/)
      assert.match(out, /10\.0\.0\.13:6379\s+not answering\s+-\s+-\s+absent\s+critical/)
      assert.include(out, "last backup: none recorded")
    }))

  it.live("--json is machine-readable; a Consul outage is printed as a problem and status exits non-zero", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.outage = "unreachable"
      const n = yield* testNode(1)
      const lines: Array<string> = []
      const original = console.log
      console.log = (line: string) => void lines.push(line)
      const exit = yield* runFor(status(true), n, w).pipe(Effect.ensuring(Effect.sync(() => (console.log = original))))
      assert.match(failureOf(exit), /status: could not see the cluster: Consul could not be read/)
      const parsed = JSON.parse(lines.join("\n"))
      assert.strictEqual(parsed.sentinelMaster, null)
      assert.isTrue(parsed.problems.some((p: string) => /Consul health.service redis: unreachable/.test(p)))
    }))

  it.live("exits non-zero when registered nodes exist but none answers", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      w.consul.register("redis-node-3", "redis", redisAt(3).host, 6379, "critical")
      const n = yield* testNode(1)
      const original = console.log
      console.log = () => undefined
      const exit = yield* runFor(status(false), n, w).pipe(Effect.ensuring(Effect.sync(() => (console.log = original))))
      assert.match(failureOf(exit), /could not see the cluster: no registered Redis node answered/)
    }))
})

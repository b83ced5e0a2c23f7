// Running handler programs in unit tests: one temp directory per simulated node, the
// in-memory layers over shared worlds (so several nodes can race), and short timings.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { createHash } from "node:crypto"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect, Layer } from "effect"
import { type AgentReport } from "../../src/domain/AgentReport.ts"
import { agent } from "../../src/programs/agent.ts"
import { closedPort } from "./fakeServers.ts"
import { type Manifest } from "../../src/domain/Backup.ts"
import { type Endpoint, formatEndpoint } from "../../src/domain/Endpoint.ts"
import { defaultTimings, Timings } from "../../src/domain/Timings.ts"
import { AgentApi, type AgentAnswer } from "../../src/layers/AgentApi.ts"
import { BackupStore } from "../../src/layers/BackupStore.ts"
import { Consul } from "../../src/layers/Consul.ts"
import { ConsulWorld } from "../../src/layers/ConsulMemory.ts"
import { Dns } from "../../src/layers/Dns.ts"
import { Redis } from "../../src/layers/Redis.ts"
import { RedisWorld } from "../../src/layers/RedisMemory.ts"
import { Sentinel } from "../../src/layers/Sentinel.ts"
import { Settings } from "../../src/layers/Settings.ts"

/** Node i of a simulated cluster: 10.0.0.(10+i), standard ports. */
export const redisAt = (i: number): Endpoint => ({ host: `10.0.0.${10 + i}`, port: 6379 })
export const sentinelAt = (i: number): Endpoint => ({ host: `10.0.0.${10 + i}`, port: 26379 })

export const fastTimings = {
  ...defaultTimings,
  redisCommand: Duration.millis(300),
  consulCall: Duration.millis(300),
  retryBase: Duration.millis(10),
  roleRetryEvery: Duration.millis(20),
  lockRenewEvery: Duration.millis(50),
  pollEvery: Duration.millis(10),
  bgsaveTimeout: Duration.seconds(2),
  replicaCatchUp: Duration.millis(500),
  handoverPause: Duration.seconds(1),
  sentinelDiscovery: Duration.millis(300),
  storeRequest: Duration.millis(500),
  observeEvery: Duration.millis(50),
  observation: Duration.millis(700),
  registrySyncEvery: Duration.millis(200),
  careEvery: Duration.millis(100),
  aofCareEvery: Duration.millis(50),
  pauseEvery: Duration.millis(50),
  priorityPropagation: Duration.millis(300),
  switchoverSettle: Duration.seconds(1),
  priorityRestore: Duration.seconds(1),
  careStep: Duration.seconds(1),
  strandedGrace: Duration.millis(400),
  resubscribeEvery: Duration.millis(50),
  agentStall: Duration.seconds(10),
  sentinelResetSpacing: Duration.millis(500)
}

export interface TestNode {
  readonly index: number
  readonly dir: string
  readonly env: Record<string, string>
}

/** A temp directory for node i and its environment; removed by `cleanup`. */
export const makeNode = async (index: number, overrides: Record<string, string> = {}): Promise<TestNode> => {
  const dir = await mkdtemp(join(tmpdir(), `manage-test-${index}-`))
  return {
    index,
    dir,
    env: {
      HOSTNAME: `node-${index}`,
      ANNOUNCE_IP: redisAt(index).host,
      CONSUL: "127.0.0.1",
      DATA_DIR: join(dir, "data"),
      CONFIG_DIR: join(dir, "conf"),
      BACKUP_STORE: "local",
      BACKUP_DIR: join(dir, "backups"),
      MASTER_WAIT_TIMEOUT: "1s",
      PRESTART_TIMEOUT: "10s",
      HEALTH_TIMEOUT: "2s",
      LOG_LEVEL: "error",
      ...overrides
    }
  }
}

export const cleanup = (...nodes: ReadonlyArray<TestNode>) => Promise.all(nodes.map((n) => rm(n.dir, { recursive: true, force: true })))

/** Node i for the length of the test's scope: its directory is removed also when the test fails. */
export const testNode = (index: number, overrides: Record<string, string> = {}) =>
  Effect.acquireRelease(Effect.promise(() => makeNode(index, overrides)), (n) => Effect.promise(() => cleanup(n)))

/** A resource closed with the test's scope, also when the test fails. */
export const scoped = <A extends { close(): Promise<void> }>(open: () => Promise<A>) =>
  Effect.acquireRelease(Effect.promise(open), (a) => Effect.promise(() => a.close()))

export interface Worlds {
  readonly consul: ConsulWorld
  readonly redis: RedisWorld
  readonly objects: Map<string, Uint8Array>
  /** What each node agent's API answers, by `host:port`; a missing one is unreachable. */
  readonly agents: Map<string, (path: string) => AgentAnswer>
  /** Host names and the addresses they resolve to (PEERS). */
  readonly dns: Map<string, ReadonlyArray<string>>
}

export const makeWorlds = (): Worlds => ({ consul: new ConsulWorld(), redis: new RedisWorld(), objects: new Map(), agents: new Map(), dns: new Map() })

export const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)

/** What node i's agent reports at `/status`: a connected replica of node 1, paused, at priority 0 of 100, unless overridden. */
export const agentReport = (i: number, o: Partial<AgentReport> = {}): AgentReport => ({
  node: `node-${i}`,
  redis: formatEndpoint(redisAt(i)),
  role: "replica",
  priority: { configured: 100, current: 0 },
  following: formatEndpoint(redisAt(1)),
  link: "connected",
  offset: 1000,
  replicas: [],
  sentinels: { known: 3, answered: 3, master: formatEndpoint(redisAt(1)), votes: 3 },
  verdicts: null,
  consul: { lastSync: null, problem: null, paused: true },
  failovers: { seen: 0, last: null },
  lastBackup: null,
  agent: { startedAt: "2026-01-01T00:00:00.000Z", cycles: 10, lastCycleAt: "2026-01-01T00:00:10.000Z" },
  ...o
})

/** Node i's Sentinel, passing in Consul, reporting `master` for mymaster. */
export const passingSentinel = (w: Worlds, i: number, master: Endpoint): void => {
  w.redis.sentinel(sentinelAt(i), "mymaster", master)
  w.consul.register(`redis-sentinel-node-${i}`, "redis-sentinel", sentinelAt(i).host, 26379)
}

/**
 * Node `master` is master of `replicas`, all registered passing in Consul as
 * ContainerPilot would; every node runs a passing sentinel that knows each replica
 * (and reads its priority from it).
 */
export const registeredCluster = (w: Worlds, master: number, replicas: ReadonlyArray<number>): void => {
  w.redis.master(redisAt(master), replicas.map(redisAt))
  for (const r of replicas) w.redis.replica(redisAt(r), redisAt(master))
  for (const i of [master, ...replicas]) {
    passingSentinel(w, i, redisAt(master))
    w.redis.sentinels.get(formatEndpoint(sentinelAt(i)))?.replicas.push(...replicas.map((r) => ({ endpoint: redisAt(r), runId: `r${r}`, flags: ["slave"] })))
  }
  w.consul.register(`redis-node-${master}`, "redis", redisAt(master).host, 6379)
  for (const r of replicas) w.consul.register(`redis-replica-node-${r}`, "redis-replica", redisAt(r).host, 6379)
}

/** The manifest a backup run records for `stored` (the compressed object) under `id`. */
export const manifestOf = (stored: Uint8Array, id = "redis-20261124T190557Z-node-9"): Manifest => ({
  id,
  createdAt: "2026-11-24T19:05:57.000Z",
  node: "node-9",
  bytes: stored.byteLength,
  sha256: createHash("sha256").update(stored).digest("hex"),
  store: "local",
  path: `/memory/${id}.rdb.gz`,
  redisVersion: "7.0.15"
})

/** Every service a handler may need, in memory, for one node. */
export const memoryLayers = (
  node: TestNode,
  worlds: Worlds,
  store: Layer.Layer<BackupStore> = BackupStore.layerTest(worlds.objects),
  timings: typeof fastTimings = fastTimings
) =>
  Layer.mergeAll(
    Consul.layerTest(worlds.consul, node.env.HOSTNAME),
    Redis.layerTest(worlds.redis),
    Sentinel.layerTest(worlds.redis),
    AgentApi.layerTest(worlds.agents),
    Dns.layerTest(worlds.dns),
    store,
    Layer.succeed(Timings, timings)
  ).pipe(Layer.provideMerge(Layer.mergeAll(Settings.layerFrom(node.env), platform)))

/** The live layers (real clients) with test timings, for dependencies that hang or answer garbage. */
export const liveLayers = (node: TestNode, objects: Map<string, Uint8Array> = new Map(), timings: typeof fastTimings = fastTimings) =>
  Layer.mergeAll(
    Consul.layer,
    Redis.layer,
    Sentinel.layer,
    AgentApi.layer,
    Dns.layer,
    BackupStore.layerTest(objects)
  ).pipe(
    Layer.provideMerge(Layer.mergeAll(Settings.layerFrom(node.env), platform, Layer.succeed(Timings, timings)))
  )

export const runLive = <A, E>(
  program: Effect.Effect<A, E, Layer.Success<ReturnType<typeof liveLayers>>>,
  node: TestNode,
  objects?: Map<string, Uint8Array>
) => program.pipe(Effect.provide(liveLayers(node, objects)), Effect.exit)

/** Runs a handler program for one node and returns its Exit. */
export const runFor = <A, E>(
  program: Effect.Effect<A, E, Layer.Success<ReturnType<typeof memoryLayers>>>,
  node: TestNode,
  worlds: Worlds
) => program.pipe(Effect.provide(memoryLayers(node, worlds)), Effect.exit)

/** Polls `check` until it yields a truthy value (or fails the test after `ms`, with the last thing seen). */
export const eventually = <A>(what: string, ms: number, check: () => Promise<A> | A) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    let last: unknown
    for (;;) {
      try {
        const value = await check()
        if (value) return value
        last = value
      } catch (e) {
        last = e
      }
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (last: ${String(last)})`)
      await new Promise((r) => setTimeout(r, 20))
    }
  })

/**
 * Starts node i's agent over the worlds, its API on a free loopback port; stopped with
 * the test's scope. Returns the node, the agent's fiber and the API's base URL once
 * the API answers.
 */
export const startAgent = (i: number, w: Worlds, env: Record<string, string> = {}, timings: typeof fastTimings = fastTimings) =>
  Effect.gen(function*() {
    const port = yield* Effect.promise(closedPort)
    const node = yield* testNode(i, { BIND_ADDRESS: "127.0.0.1", API_PORT: String(port), ...env })
    const fiber = yield* agent.pipe(Effect.provide(memoryLayers(node, w, undefined, timings)), Effect.forkScoped)
    const api = `http://127.0.0.1:${port}`
    yield* eventually("the agent's API answers", 5_000, () => fetch(`${api}/liveness`).then((r) => r.ok))
    return { node, fiber, api }
  })

import { assert, describe, it } from "@effect/vitest"
import { createHash } from "node:crypto"
import { existsSync, readdirSync } from "node:fs"
import { mkdir, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { gunzipSync } from "node:zlib"
import { Duration, Effect, Exit, Layer, Option, Stream } from "effect"
import { consulNames } from "../../../src/domain/ConsulNames.ts"
import { type Endpoint } from "../../../src/domain/Endpoint.ts"
import { BackupStore, BackupStoreError, type BackupStoreShape, makeMemoryStore, none } from "../../../src/layers/BackupStore.ts"
import { backup } from "../../../src/programs/backup.ts"
import { latestBackup } from "../../../src/programs/lastBackup.ts"
import { startMantaEmulator } from "../../support/manta/MantaEmulator.ts"
import { generateTestKey } from "../../support/manta/keys.ts"
import { testNode, makeWorlds, memoryLayers, redisAt, runFor, type TestNode, type Worlds } from "../../support/harness.ts"

const names = consulNames("redis")
const failureOf = <E>(exit: Exit.Exit<unknown, E>) => (Exit.isFailure(exit) ? String(exit.cause) : "succeeded")
const rdb = Buffer.from("REDIS0010" + "x".repeat(5000), "latin1")

/** What BGSAVE does on a node's Redis: writes `rdb` as that node's dump.rdb, like Redis does. */
const writesDump = (...nodes: ReadonlyArray<TestNode>) => (at: Endpoint) => {
  const n = nodes.find((node) => node.env.ANNOUNCE_IP === at.host)
  return n === undefined ? Effect.void : Effect.promise(async () => {
    await mkdir(n.env.DATA_DIR ?? "", { recursive: true })
    await writeFile(join(n.env.DATA_DIR ?? "", "dump.rdb"), rdb)
  })
}

const savesDump = (w: Worlds, ...nodes: ReadonlyArray<TestNode>) => {
  w.redis.onBgsave = writesDump(...nodes)
}

const manifestIn = (w: Worlds) => {
  const value = w.consul.kv.get(names.lastBackup)?.value
  return value === undefined || value === null ? undefined : JSON.parse(value)
}

const healthyReplica = (w: Worlds, i: number, master: Endpoint) => {
  w.redis.replica(redisAt(i), master)
  w.consul.register(`redis-replica-node-${i}`, "redis-replica", redisAt(i).host, 6379)
}

/** `backup --now` on a master with no replica, through the in-memory store with some operations replaced. */
const backupThrough = (change: (memory: BackupStoreShape) => Partial<BackupStoreShape>) =>
  Effect.gen(function*() {
    const w = makeWorlds()
    const n = yield* testNode(1)
    w.redis.master(redisAt(1))
    savesDump(w, n)
    const memory = makeMemoryStore(w.objects, "local")
    const store = Layer.succeed(BackupStore, { ...memory, ...change(memory) })
    const exit = yield* backup(true).pipe(Effect.provide(memoryLayers(n, w, store)), Effect.exit)
    return { exit, w, n }
  })

describe("backup", () => {
  it.live("a backup proves the cluster held data: its record says so afterwards, its other fields kept", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      const lastMaster = { node: "node-1", address: "10.0.0.11", port: 6379, seenAt: "2026-11-24T19:05:57.000Z" }
      w.consul.kv.set(names.cluster, { value: JSON.stringify({ heldData: false, lastMaster }), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 })
      const exit = yield* runFor(backup(false), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(JSON.parse(w.consul.kv.get(names.cluster)?.value ?? "null"), { heldData: true, lastMaster })
    }))

  it.live("a master with no replica takes a verified backup: stored, hashed, recorded, lock given back", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      const exit = yield* runFor(backup(false), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const manifest = manifestIn(w)
      const object = w.objects.get(`${manifest.id}.rdb.gz`)
      assert.isDefined(object)
      assert.deepStrictEqual(gunzipSync(object ?? Buffer.alloc(0)), rdb)
      assert.strictEqual(manifest.sha256, createHash("sha256").update(object ?? "").digest("hex"))
      assert.strictEqual(manifest.bytes, object?.byteLength)
      assert.strictEqual(manifest.node, "node-1")
      assert.strictEqual(manifest.redisVersion, "7.0.15")
      assert.strictEqual(manifest.store, "local")
      assert.strictEqual(new TextDecoder().decode(w.objects.get(`${manifest.id}.manifest.json`)), JSON.stringify(manifest), "the manifest is also stored beside the backup")
      assert.isUndefined(w.consul.kv.get(names.backupLock), "the backup lock (behavior delete) is gone")
      assert.deepStrictEqual(readdirSync(n.env.DATA_DIR ?? ""), ["dump.rdb"], "the pinned hard link is removed")
    }))

  it.live("not due: a recent backup means no BGSAVE and nothing stored", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(false), n, w)))
      w.redis.calls.length = 0
      w.objects.clear()
      w.consul.calls.length = 0
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(false), n, w)))
      assert.deepStrictEqual([...w.objects.keys()], [])
      assert.isFalse(w.redis.calls.some((c) => c.endsWith("BGSAVE")))
      assert.deepStrictEqual(w.consul.calls, [`kv.get ${names.lastBackup}`], "a check that finds nothing due costs one KV read: no session, no lock")
    }))

  it.live("the backup lock, while held, names the node taking the backup; a replica whose link is down takes none", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      let holder: unknown
      w.redis.onBgsave = (at) => Effect.sync(() => void (holder = JSON.parse(w.consul.kv.get(names.backupLock)?.value ?? "null"))).pipe(Effect.andThen(writesDump(n)(at)))
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(true), n, w)))
      assert.deepStrictEqual(holder, { node: "node-1", address: "10.0.0.11", port: 6379 })

      const v = makeWorlds()
      const r = yield* testNode(2)
      v.redis.master(redisAt(1), [redisAt(2)]).replica(redisAt(2), redisAt(1), "sync")
      savesDump(v, r)
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(true), r, v)))
      assert.isUndefined(manifestIn(v), "a replica still syncing has no complete dataset to save")
    }))

  it.live("with healthy replicas, the lowest-address replica takes it; the master and other replicas do not", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const nodes = yield* Effect.all([1, 2, 3].map((i) => testNode(i)))
      w.redis.master(redisAt(1), [redisAt(2), redisAt(3)])
      healthyReplica(w, 2, redisAt(1))
      healthyReplica(w, 3, redisAt(1))
      savesDump(w, ...nodes)
      const [master, first, second] = nodes as [TestNode, TestNode, TestNode]
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(false), master, w)))
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(false), second, w)))
      assert.isUndefined(manifestIn(w), "neither the master nor the second replica took one")
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(false), first, w)))
      assert.strictEqual(manifestIn(w)?.node, "node-2")
    }))

  it.live("--now takes one on this node even when it is not the elected one", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1), [redisAt(2)])
      healthyReplica(w, 2, redisAt(1))
      savesDump(w, n)
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(true), n, w)))
      assert.strictEqual(manifestIn(w)?.node, "node-1")
    }))

  it.live("an empty dataset is never recorded: the previous backup stays the newest", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      const server = w.redis.servers.get("10.0.0.11:6379")
      if (server !== undefined) server.keys = 0
      savesDump(w, n)
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(true), n, w)))
      assert.isUndefined(manifestIn(w))
      assert.deepStrictEqual([...w.objects.keys()], [])
      assert.isFalse(w.redis.calls.some((c) => c.endsWith("BGSAVE")))
    }))

  it.live("another node holding the backup lock: exits 0 without a backup", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      w.consul.sessions.set("other", { behavior: "delete" })
      w.consul.kv.set(names.backupLock, { value: "{}", session: "other", modifyIndex: w.consul.next(), lockIndex: 1 })
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(false), n, w)))
      assert.isUndefined(manifestIn(w))
    }))

  it.live("another node finishes a backup while this one waits for the lock: no second backup", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      const theirs = {
        id: "redis-20261203T060000000Z-node-2",
        createdAt: new Date().toISOString(),
        node: "node-2",
        bytes: 1234,
        sha256: "a".repeat(64),
        store: "local",
        path: "redis-20261203T060000000Z-node-2.rdb.gz",
        redisVersion: "7.0.15"
      }
      w.consul.meanwhile.set(`kv.acquire ${names.backupLock}`, () =>
        w.consul.kv.set(names.lastBackup, { value: JSON.stringify(theirs), session: undefined, modifyIndex: w.consul.next(), lockIndex: 0 }))
      const exit = yield* runFor(backup(false), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(manifestIn(w), theirs, "the other node's backup stays the newest")
      assert.deepStrictEqual([...w.objects.keys()], [])
      assert.isFalse(w.redis.calls.some((c) => c.endsWith("BGSAVE")))
    }))

  it.live("local Redis not running (e.g. the run at container start): exits 0 without a backup", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(false), n, w)))
      assert.isUndefined(manifestIn(w))
    }))

  it.live("BGSAVE reporting an error fails the backup and records nothing", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      w.redis.onBgsave = (at) => Effect.sync(() => {
        const s = w.redis.servers.get(`${at.host}:${at.port}`)
        if (s !== undefined) s.persistence = { ...s.persistence, rdb_last_bgsave_status: "err" }
      })
      const exit = yield* runFor(backup(false), n, w)
      assert.match(failureOf(exit), /backup failed, nothing was recorded: BGSAVE reported err/)
      assert.isUndefined(manifestIn(w))
      assert.deepStrictEqual([...w.objects.keys()], [])
    }))

  it.live("Consul down: fails (exit 1) without touching the store", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      w.consul.outage = "timeout"
      assert.match(failureOf(yield* runFor(backup(false), n, w)), /backup failed.*Consul/)
      assert.deepStrictEqual([...w.objects.keys()], [])
    }))

  it.live("Consul failing the record: the run fails, and a new cluster (empty Consul) finds no manifest to restore", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      w.consul.failing.set(`kv.set ${names.lastBackup}`, "timeout")
      assert.match(failureOf(yield* runFor(backup(true), n, w)), /backup failed, nothing was recorded/)
      assert.isUndefined(manifestIn(w))
      assert.deepStrictEqual([...w.objects.keys()].filter((k) => k.endsWith(".manifest.json")), [], "no manifest beside the object")
      w.consul.wipe()
      w.consul.failing.clear()
      const found = yield* runFor(latestBackup, n, w)
      assert.deepStrictEqual(found, Exit.succeed(Option.none()), "a new cluster would restore nothing")
    }))

  it.live("the store failing the manifest's copy: the backup stays recorded in Consul and the run succeeds", () =>
    Effect.gen(function*() {
      const { exit, w } = yield* backupThrough((memory) => ({
        put: (name, content) =>
          name.endsWith(".manifest.json")
            ? Effect.fail(new BackupStoreError({ store: "memory", operation: `put ${name}`, reason: "timeout", detail: "simulated" }))
            : memory.put(name, content)
      }))
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isDefined(w.objects.get(`${manifestIn(w)?.id}.rdb.gz`))
    }))

  it.live("Consul failing the cluster record's update: the backup stays recorded and the run succeeds", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      savesDump(w, n)
      w.consul.failing.set(`kv.set ${names.cluster}`, "timeout")
      const exit = yield* runFor(backup(true), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.isDefined(w.objects.get(`${manifestIn(w)?.id}.rdb.gz`))
      assert.isUndefined(w.consul.kv.get(names.cluster))
    }))

  it.live("the store failing to remove one old backup: the others beyond BACKUP_KEEP are still pruned, and the run succeeds", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1, { BACKUP_KEEP: "2" })
      w.redis.master(redisAt(1))
      savesDump(w, n)
      for (const stamp of ["20200101T000000Z", "20210101T000000Z", "20220101T000000Z"]) w.objects.set(`redis-${stamp}-node-1.rdb.gz`, Buffer.from("old"))
      const stuck = "redis-20200101T000000Z-node-1.rdb.gz"
      const memory = makeMemoryStore(w.objects, "local")
      const store = Layer.succeed(BackupStore, {
        ...memory,
        remove: (name) => (name === stuck ? Effect.fail(new BackupStoreError({ store: "memory", operation: `remove ${name}`, reason: "timeout", detail: "simulated" })) : memory.remove(name))
      })
      const exit = yield* backup(true).pipe(Effect.provide(memoryLayers(n, w, store)), Effect.exit)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const left = [...w.objects.keys()].filter((k) => k.endsWith(".rdb.gz")).sort()
      assert.deepStrictEqual(left, [stuck, "redis-20220101T000000Z-node-1.rdb.gz", `${manifestIn(w)?.id}.rdb.gz`].sort())
    }))

  it.live("the upload failing half-way (the link drops after the first chunk): the run fails, records nothing, and leaves no pinned copy of the RDB", () =>
    Effect.gen(function*() {
      const { exit, w, n } = yield* backupThrough((memory) => ({
        put: (name, content) =>
          name.endsWith(".rdb.gz")
            ? Stream.runDrain(Stream.take(content, 1)).pipe(
              Effect.andThen(Effect.fail(new BackupStoreError({ store: "memory", operation: `put ${name}`, reason: "unreachable", detail: "connection reset (simulated)" })))
            )
            : memory.put(name, content)
      }))
      assert.match(failureOf(exit), /backup failed, nothing was recorded: .*connection reset/)
      assert.isUndefined(manifestIn(w))
      assert.deepStrictEqual([...w.objects.keys()], [], "a real store keeps no part of a failed upload, and no manifest was written")
      assert.deepStrictEqual(readdirSync(n.env.DATA_DIR ?? ""), ["dump.rdb"], "the pinned hard link is removed")
    }))

  it.live("a store that confirms fewer bytes than were sent (a truncated upload): the run fails and records nothing", () =>
    Effect.gen(function*() {
      const { exit, w } = yield* backupThrough((memory) => ({
        stat: (name) => Effect.map(memory.stat(name), Option.map((o) => ({ ...o, bytes: o.bytes - 1 })))
      }))
      assert.match(failureOf(exit), /the store did not confirm .*: sent (\d+) bytes, it reports \d+ bytes/)
      assert.isUndefined(manifestIn(w))
      assert.deepStrictEqual([...w.objects.keys()].filter((k) => k.endsWith(".manifest.json")), [])
    }))

  it.live("a store whose put reports fewer bytes than were sent: the run fails and records nothing", () =>
    Effect.gen(function*() {
      const { exit, w } = yield* backupThrough((memory) => ({
        put: (name, content) => Effect.map(memory.put(name, content), (o) => (name.endsWith(".rdb.gz") ? { ...o, bytes: o.bytes - 1 } : o))
      }))
      assert.match(failureOf(exit), /the store did not confirm/)
      assert.isUndefined(manifestIn(w))
    }))

  it.live("a BGSAVE that takes a while: the backup waits for it and stores the new RDB, not the one before", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1)
      w.redis.master(redisAt(1))
      yield* Effect.promise(async () => {
        await mkdir(n.env.DATA_DIR ?? "", { recursive: true })
        await writeFile(join(n.env.DATA_DIR ?? "", "dump.rdb"), "REDIS0010 yesterday's dataset")
      })
      savesDump(w, n)
      w.redis.bgsaveTakes = Duration.millis(200)
      const exit = yield* runFor(backup(true), n, w)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(gunzipSync(w.objects.get(`${manifestIn(w)?.id}.rdb.gz`) ?? Buffer.alloc(0)), rdb)
    }))

  it.live("prunes backups beyond BACKUP_KEEP, never the new one, never other services'", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1, { BACKUP_KEEP: "2" })
      w.redis.master(redisAt(1))
      savesDump(w, n)
      for (const stamp of ["20200101T000000Z", "20210101T000000Z", "20220101T000000Z"]) {
        w.objects.set(`redis-${stamp}-node-1.rdb.gz`, Buffer.from("old"))
        w.objects.set(`redis-${stamp}-node-1.manifest.json`, Buffer.from("{}"))
      }
      w.objects.set("cache-20200101T000000Z-node-1.rdb.gz", Buffer.from("another service"))
      assert.isTrue(Exit.isSuccess(yield* runFor(backup(true), n, w)))
      const id = manifestIn(w)?.id
      assert.deepStrictEqual([...w.objects.keys()].sort(), [
        "cache-20200101T000000Z-node-1.rdb.gz",
        "redis-20220101T000000Z-node-1.manifest.json",
        "redis-20220101T000000Z-node-1.rdb.gz",
        `${id}.manifest.json`,
        `${id}.rdb.gz`
      ].sort())
    }))

  it.live("BACKUP_STORE=none: nothing to do, Redis is never asked", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const n = yield* testNode(1, { BACKUP_STORE: "none" })
      w.redis.master(redisAt(1))
      const exit = yield* backup(true).pipe(Effect.provide(memoryLayers(n, w, Layer.succeed(BackupStore, none))), Effect.exit)
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      assert.deepStrictEqual(w.redis.calls, [])
    }))
})

describe("backup to Manta (through the signature-verifying emulator)", () => {
  const key = generateTestKey("ecdsa")

  const withManta = (mode: "normal" | "down" | "hang" | "garbage") =>
    Effect.gen(function*() {
      const manta = yield* Effect.acquireRelease(
        Effect.promise(() => startMantaEmulator({ accounts: [{ login: "alice", keys: [key.publicKeySsh] }] })),
        (m) => Effect.promise(() => m.close())
      )
      const w = makeWorlds()
      const n = yield* testNode(1, { MANTA_URL: manta.url, MANTA_USER: "alice", MANTA_PRIVATE_KEY: key.privateKey.replaceAll("\n", "#"), BACKUP_STORE: "manta" })
      w.redis.master(redisAt(1))
      savesDump(w, n)
      yield* Effect.promise(() => manta.setMode(mode))
      const layers = Layer.provideMerge(BackupStore.layer, memoryLayers(n, w))
      const started = Date.now()
      const exit = yield* backup(true).pipe(Effect.provide(layers), Effect.exit)
      return { exit, w, manta, ms: Date.now() - started }
    })

  it.live("uploads under /alice/stor/redis, signed, and records a manifest matching the stored bytes", () =>
    Effect.gen(function*() {
      const { exit, w, manta } = yield* withManta("normal")
      assert.isTrue(Exit.isSuccess(exit), failureOf(exit))
      const manifest = manifestIn(w)
      assert.strictEqual(manifest.store, "manta")
      assert.strictEqual(manifest.path, `/alice/stor/redis/${manifest.id}.rdb.gz`)
      const stored = yield* Effect.promise(() => manta.readObject(manifest.path))
      assert.deepStrictEqual(gunzipSync(stored ?? Buffer.alloc(0)), rdb)
      assert.strictEqual(manifest.sha256, createHash("sha256").update(stored ?? "").digest("hex"))
      assert.isTrue(manta.requests().every((r) => r.signed))
    }).pipe(Effect.scoped))

  for (const mode of ["down", "hang", "garbage"] as const) {
    it.live(`Manta ${mode}: the backup fails, bounded, and no manifest is recorded`, () =>
      Effect.gen(function*() {
        const { exit, w, ms } = yield* withManta(mode)
        assert.match(failureOf(exit), /backup failed, nothing was recorded/)
        assert.isUndefined(manifestIn(w))
        assert.isBelow(ms, 10_000)
      }).pipe(Effect.scoped))
  }

  it.live("a private key that is not a key fails the environment check (exit 2) with a message that does not echo it", () =>
    Effect.gen(function*() {
      const w = makeWorlds()
      const secret = "-----BEGIN RSA PRIVATE KEY-----#c2VjcmV0LWtleS1tYXRlcmlhbA==#-----END RSA PRIVATE KEY-----"
      const n = yield* testNode(1, { BACKUP_STORE: "manta", MANTA_USER: "alice", MANTA_PRIVATE_KEY: secret })
      w.redis.master(redisAt(1))
      const exit = yield* backup(true).pipe(Effect.provide(Layer.provideMerge(BackupStore.layer, memoryLayers(n, w))), Effect.exit)
      assert.match(failureOf(exit), /InvalidEnvironment: invalid environment: MANTA_PRIVATE_KEY \(secret, value not shown\): not a private key/)
      assert.notInclude(failureOf(exit), "c2VjcmV0")
      assert.isFalse(existsSync(join(n.env.DATA_DIR ?? "", "dump.rdb")))
    }))
})

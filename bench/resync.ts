// `npm run bench:resync`: what a replica's graceful restart copies, with a dataset of
// BENCH_RESYNC_MIB (default 1024) MiB on a 3-node cluster (real ContainerPilot and
// Consul, shipped timings): the replica stopped (pre-stop saves its RDB) and started
// again resyncs partially; the baseline, in the same run on the same cluster, is the
// same restart with that RDB removed before the start, which is what every restart did
// before (Redis 7 loads the AOF and keeps no replication ID: a full resync). Printed per
// round: the stop, the time from the start to the replica holding what the master
// holds, the bytes the replica received, the resync kind the master's counters show,
// and when the replica was durable again (its AOF on and written, redis.conf naming
// it). Each stop waits for the replica to be durable first, as a rolling upgrade
// does: Redis refuses to shut down while it writes its first AOF. Exits 1 when a
// graceful restart was not a partial resync.
import { randomBytes } from "node:crypto"
import { readFileSync, rmSync, unlinkSync } from "node:fs"
import { join } from "node:path"
import { exitIfOver, verdict } from "./budget.ts"
import { parseInfo } from "../src/domain/RedisReplies.ts"
import { clusterMode, startCluster, type Cluster, whyNotReal } from "../test/support/cluster/Cluster.ts"
import { indexOf, redisOf, scratchDir, waitFor, waitForTopology } from "../test/support/scenario.ts"

const mib = Number(process.env.BENCH_RESYNC_MIB ?? "1024")
const rounds = Number(process.env.BENCH_ROUNDS ?? "2")
if (clusterMode() !== "real") {
  console.error(`bench:resync needs the real ContainerPilot: ${whyNotReal() ?? ""}`)
  process.exit(2)
}

const info = async (c: Cluster, i: number, section: string) => {
  const client = redisOf(c, i)
  try {
    return parseInfo(await client.info(section))
  } finally {
    client.disconnect()
  }
}
const offsetOf = (c: Cluster, i: number) => info(c, i, "replication").then((r) => Number(r["master_repl_offset"]), () => -1)
const served = async (c: Cluster, i: number) => {
  const stats = await info(c, i, "stats")
  return { full: Number(stats["sync_full"]), partial: Number(stats["sync_partial_ok"]) }
}
/** The AOF on and written, and redis.conf naming it: what a crashed Redis restarts from. */
const durable = async (c: Cluster, i: number) => {
  const p = await info(c, i, "persistence").catch((): Record<string, string> => ({}))
  const conf = readFileSync(join(c.node(i).configDir, "redis.conf"), "utf8")
  return p["aof_enabled"] === "1" && p["aof_rewrite_in_progress"] === "0" && p["aof_rewrite_scheduled"] === "0" && /^appendonly yes$/m.test(conf)
}

/** `count` random (incompressible: an RDB compresses repeated bytes away) values of 1 KiB under `prefix`, pipelined in batches. */
const fill = async (c: Cluster, i: number, prefix: string, count: number) => {
  const client = redisOf(c, i)
  client.options.commandTimeout = 60_000
  try {
    for (let at = 0; at < count; at += 10_000) {
      const pipeline = client.pipeline()
      const values = randomBytes(1024 * 10_000)
      for (let k = at; k < Math.min(count, at + 10_000); k++) pipeline.set(`${prefix}:${k}`, values.subarray((k - at) * 1024, (k - at + 1) * 1024))
      const failed = (await pipeline.exec() ?? []).filter(([e]) => e !== null)
      if (failed.length > 0) throw new Error(`${failed.length} writes refused: ${String(failed[0]?.[0])}`)
    }
  } finally {
    client.disconnect()
  }
}

const root = scratchDir("bench-resync")
const cluster = await startCluster({ nodes: 3, root, env: { BACKUP_CHECK_INTERVAL: "24h" } })
interface Round { readonly kind: "graceful" | "baseline"; readonly stop: number; readonly caughtUp: number; readonly receivedMiB: number; readonly resync: string; readonly durable: number }
const results: Array<Round> = []
try {
  const t = await waitForTopology(cluster, [1, 2, 3], 120_000)
  const master = indexOf(cluster, t.masters[0]?.address ?? "")
  const replica = indexOf(cluster, t.replicas[0]?.address ?? "")
  const filling = Date.now()
  await fill(cluster, master, "data", mib * 1024)
  const filled = await offsetOf(cluster, master)
  for (const r of t.replicas.map((x) => indexOf(cluster, x.address))) {
    await waitFor(`node ${r} holding the dataset`, 600_000, () => offsetOf(cluster, r), (o) => o >= filled, 1_000)
  }
  const used = await info(cluster, master, "memory")
  console.log(`filled ${mib} MiB in random 1 KiB values in ${((Date.now() - filling) / 1000).toFixed(1)} s; master used_memory ${(Number(used["used_memory"]) / 2 ** 20).toFixed(0)} MiB; both replicas in sync`)

  for (let n = 0; n < rounds; n++) {
    for (const kind of ["graceful", "baseline"] as const) {
      await waitFor(`node ${replica} durable before its stop`, 600_000, () => durable(cluster, replica), (x) => x, 500)
      const stopping = Date.now()
      await cluster.stopNode(replica)
      const stop = Date.now() - stopping
      if (kind === "baseline") unlinkSync(join(cluster.node(replica).dataDir, "resync.rdb"))
      await fill(cluster, master, `during-${n}-${kind}`, 1_000)
      const before = await served(cluster, master)
      const starting = Date.now()
      await cluster.startNode(replica)
      const target = await offsetOf(cluster, master)
      await waitFor(`node ${replica} caught up`, 600_000, () => offsetOf(cluster, replica), (o) => o >= target, 100)
      const caughtUp = Date.now() - starting
      const after = await served(cluster, master)
      const received = Number((await info(cluster, replica, "stats"))["total_net_repl_input_bytes"]) / 2 ** 20
      await waitFor(`node ${replica} durable`, 600_000, () => durable(cluster, replica), (x) => x, 100)
      const durableAfter = Date.now() - starting
      const resync = after.partial > before.partial && after.full === before.full ? "partial" : after.full > before.full ? "full" : "none seen"
      results.push({ kind, stop, caughtUp, receivedMiB: received, resync, durable: durableAfter })
      console.log(`round ${n + 1} ${kind.padEnd(8)}: stop ${(stop / 1000).toFixed(2)} s; start → caught up ${(caughtUp / 1000).toFixed(2)} s (${resync} resync, the replica received ${received.toFixed(1)} MiB); durable ${(durableAfter / 1000).toFixed(2)} s after the start`)
      await waitForTopology(cluster, [1, 2, 3], 120_000)
    }
  }
} finally {
  await cluster.close()
  if (process.env.KEEP_SCENARIO === undefined) rmSync(root, { recursive: true, force: true })
  else console.log(`kept in ${root}`)
}

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
const of = (kind: Round["kind"]) => results.filter((r) => r.kind === kind)
const [graceful, baseline] = [of("graceful"), of("baseline")]
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
console.log(`${mib} MiB, ${rounds} rounds each, real ContainerPilot and Consul, Node ${process.version}`)
console.log(`start → caught up: graceful ${s(median(graceful.map((r) => r.caughtUp)))}, baseline (full resync) ${s(median(baseline.map((r) => r.caughtUp)))}: ${(median(baseline.map((r) => r.caughtUp)) / median(graceful.map((r) => r.caughtUp))).toFixed(1)}× faster (medians)`)
console.log(`replica received: graceful ${median(graceful.map((r) => r.receivedMiB)).toFixed(1)} MiB, baseline ${median(baseline.map((r) => r.receivedMiB)).toFixed(1)} MiB`)
console.log(`start → durable (AOF on and written): graceful ${s(median(graceful.map((r) => r.durable)))}, baseline ${s(median(baseline.map((r) => r.durable)))}`)
console.log(`stop (pre-stop's SHUTDOWN SAVE of the whole dataset): ${s(median(results.map((r) => r.stop)))} median, ${s(Math.max(...results.map((r) => r.stop)))} slowest`)
const notPartial = graceful.filter((r) => r.resync !== "partial").length
console.log(`graceful restarts that were partial resyncs: ${graceful.length - notPartial} of ${graceful.length}  ${verdict("graceful restarts not resynced partially", notPartial, 0)}`)
exitIfOver()

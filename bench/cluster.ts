// `npm run bench:cluster`: the cluster budgets of DESIGN.md §10, measured on real
// redis-server/redis-sentinel processes scheduled from containerpilot.json5, with the
// default timings (HEALTH_INTERVAL 5, SENTINEL_DOWN_AFTER 5s):
// - bootstrap: three nodes started at once, to one master, two synced replicas and
//   three sentinels passing in Consul (budget 15 s);
// - failover: SIGKILL of the master's node, to the new master passing in Consul as
//   `redis` and the old one not (budget SENTINEL_DOWN_AFTER + 2 s = 7 s), in steady
//   state: once every sentinel knows both replicas (Sentinel learns them from the
//   master every 10 s; a master dying before that is failed over only on Sentinel's
//   retry, 2 × SENTINEL_FAILOVER_TIMEOUT later — see README).
// Medians of BENCH_RUNS (default 5) fresh clusters each.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { exitIfOver, verdict } from "./budget.ts"
import { startCluster } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"
import { waitForSentinelsToKnowReplicas } from "../test/support/scenario.ts"

const runs = Number(process.env.BENCH_RUNS ?? 5)
const downAfterMs = 5_000
const budgets = { bootstrap: 15_000, failover: downAfterMs + 2_000 }

const until = async (ms: number, what: string, done: () => Promise<boolean>): Promise<void> => {
  const deadline = Date.now() + ms
  while (!(await done().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

const once = async (): Promise<{ readonly bootstrap: number; readonly failover: number }> => {
  const root = mkdtempSync(join(tmpdir(), "bench-cluster-"))
  const started = Date.now()
  const cluster = await startCluster({ nodes: 3, root, consulPort: 0, env: { SENTINEL_DOWN_AFTER: `${downAfterMs}ms`, BACKUP_CHECK_INTERVAL: "24h" } })
  try {
    const fullyUp = async () => {
      const t = await readTopology(cluster.consulAddress)
      return t.masters.length === 1 && t.replicas.length === 2 && t.sentinels.length === 3
    }
    await until(60_000, "three nodes passing", fullyUp)
    const bootstrap = Date.now() - started
    await waitForSentinelsToKnowReplicas(cluster, [1, 2, 3], 2, 30_000)
    const master = (await readTopology(cluster.consulAddress)).masters[0]?.address
    const index = cluster.nodes().find((i) => cluster.node(i).address === master)
    if (index === undefined) throw new Error("no master")
    const killed = Date.now()
    await cluster.killNode(index)
    await until(60_000, "the registry to turn over", async () => {
      const t = await readTopology(cluster.consulAddress)
      return t.masters.length === 1 && t.masters[0]?.address !== master
    })
    return { bootstrap, failover: Date.now() - killed }
  } finally {
    await cluster.close()
    rmSync(root, { recursive: true, force: true })
  }
}

const results: Array<{ readonly bootstrap: number; readonly failover: number }> = []
for (let i = 1; i <= runs; i++) {
  const r = await once()
  results.push(r)
  console.log(`run ${i}: bootstrap ${(r.bootstrap / 1000).toFixed(2)} s, failover to registry ${(r.failover / 1000).toFixed(2)} s`)
}
const line = (label: string, values: ReadonlyArray<number>, budget: number) => {
  const m = median(values)
  return `${label.padEnd(34)} median ${(m / 1000).toFixed(2)} s  (min ${(Math.min(...values) / 1000).toFixed(2)}, max ${(Math.max(...values) / 1000).toFixed(2)})  budget ${(budget / 1000).toFixed(0)} s  ${verdict(`${label.trim()} median (ms)`, m, budget)}`
}
console.log(`${runs} fresh 3-node clusters, Node ${process.version}`)
console.log(line("bootstrap (3 nodes fully passing)", results.map((r) => r.bootstrap), budgets.bootstrap))
console.log(line("failover (kill → registry)", results.map((r) => r.failover), budgets.failover))
exitIfOver()

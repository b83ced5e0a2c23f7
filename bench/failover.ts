// `npm run bench:failover`: every kind of master failure, to a new master passing in
// Consul (DESIGN.md §10: within SENTINEL_DOWN_AFTER + 2 s, every round). One 3-node
// cluster in the real mode (each node a network namespace of its own, the real
// ContainerPilot and Consul), default timings; per round the master is
//   kill    SIGKILL of every process of its node (a crashed container or host),
//   cut     its node cut off from the other nodes and from Consul (packets dropped,
//           no TCP reset: a lost host, a partition),
//   freeze  every process of its node stopped (SIGSTOP: a frozen VM),
// at a random moment 0-10 s after the cluster is whole again (so at a random phase of
// Sentinel's periodic INFO, and sometimes within seconds of becoming whole), then
// repaired. Prints each kind's distribution and exits 1 when a round is over budget.
// BENCH_ROUNDS (default 10) rounds of each kind.
import { rmSync } from "node:fs"
import { exitIfOver, verdict } from "./budget.ts"
import { clusterMode, startCluster, whyNotReal } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"
import { indexOf, scratchDir, waitForSentinelsToKnowReplicas, waitForTopology } from "../test/support/scenario.ts"

type Kind = "kill" | "cut" | "freeze"
const kinds: ReadonlyArray<Kind> = ["kill", "cut", "freeze"]
const rounds = Number(process.env.BENCH_ROUNDS ?? 10)
const downAfterMs = 5_000
const budgetMs = downAfterMs + 2_000

if (clusterMode() !== "real") {
  console.error(`bench:failover needs the real mode (cuts and frozen hosts): ${whyNotReal() ?? ""}`)
  process.exit(2)
}

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN
}

const root = scratchDir("bench-failover")
const cluster = await startCluster({ nodes: 3, root, env: { BACKUP_CHECK_INTERVAL: "24h", LOG_LEVEL: process.env.LOG_LEVEL ?? "info" } })
const nodes = [1, 2, 3]
const results = new Map<Kind, Array<number>>(kinds.map((k) => [k, []]))
try {
  const schedule = kinds.flatMap((k) => Array.from({ length: rounds }, () => k)).sort(() => Math.random() - 0.5)
  for (const [n, kind] of schedule.entries()) {
    await waitForTopology(cluster, nodes, 120_000)
    await waitForSentinelsToKnowReplicas(cluster, nodes, 2, 60_000)
    const wait = Math.random() * 10_000
    await new Promise((r) => setTimeout(r, wait))
    const old = (await readTopology(cluster.consulAddress)).masters[0]?.address ?? ""
    const victim = indexOf(cluster, old)
    const at = Date.now()
    if (kind === "kill") await cluster.killNode(victim)
    if (kind === "cut") cluster.isolate(victim, { consul: true })
    if (kind === "freeze") cluster.freezeNode(victim, true)
    let took = Number.NaN
    for (const deadline = at + 90_000; Date.now() < deadline;) {
      const t = await readTopology(cluster.consulAddress).catch(() => undefined)
      if (t !== undefined && t.masters.some((m) => m.address !== old)) {
        took = Date.now() - at
        break
      }
      await new Promise((r) => setTimeout(r, 20))
    }
    results.get(kind)?.push(took)
    console.log(`${new Date(at).toISOString()} round ${n + 1}/${schedule.length}: ${kind.padEnd(6)} node ${victim} ${(wait / 1000).toFixed(1)} s after whole → new master passing in ${(took / 1000).toFixed(2)} s ${took <= budgetMs ? "" : "OVER"}`)
    if (kind === "kill") await cluster.startNode(victim)
    if (kind === "cut") cluster.heal()
    if (kind === "freeze") cluster.freezeNode(victim, false)
  }
} finally {
  await cluster.close()
  if (process.env.KEEP_SCENARIO === undefined) rmSync(root, { recursive: true, force: true })
  else console.log(`kept in ${root}`)
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
console.log(`${rounds} rounds of each kind, one 3-node cluster (real ContainerPilot and Consul), SENTINEL_DOWN_AFTER ${s(downAfterMs)}, Node ${process.version}`)
for (const kind of kinds) {
  const xs = results.get(kind) ?? []
  const worst = Math.max(...xs.map((x) => (Number.isNaN(x) ? Number.POSITIVE_INFINITY : x)))
  const within = xs.filter((x) => x <= budgetMs).length
  console.log(
    `${kind.padEnd(6)} min ${s(Math.min(...xs))}  median ${s(percentile(xs, 50))}  p90 ${s(percentile(xs, 90))}  max ${s(worst)}  ` +
      `${within} of ${xs.length} within ${s(budgetMs)}  ${verdict(`${kind}: slowest round (ms)`, worst, budgetMs)}`
  )
}
exitIfOver()

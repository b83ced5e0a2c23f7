// `npm run bench:stop`: how long a node's graceful stop takes (DESIGN.md §10: a
// replica's ≤ 3 s; a master's ≤ its handover + 3 s), as `docker stop` sees it: from
// SIGTERM to ContainerPilot until the node's last process is gone, on a 3-node cluster
// with the real ContainerPilot (which always waits its whole stopTimeout after the
// jobs stopped) and Consul, default timings. For the master, its handover is from the
// SIGTERM until another node passes as master in Consul. BENCH_ROUNDS (default 5) of
// each; exits 1 when a round is over its budget.
import { rmSync } from "node:fs"
import { exitIfOver, verdict } from "./budget.ts"
import { clusterMode, startCluster, whyNotReal } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"
import { indexOf, scratchDir, waitForSentinelsToKnowReplicas, waitForTopology } from "../test/support/scenario.ts"

const rounds = Number(process.env.BENCH_ROUNDS ?? 5)
if (clusterMode() !== "real") {
  console.error(`bench:stop needs the real ContainerPilot: ${whyNotReal() ?? ""}`)
  process.exit(2)
}

const root = scratchDir("bench-stop")
const cluster = await startCluster({ nodes: 3, root, env: { BACKUP_CHECK_INTERVAL: "24h" } })
const nodes = [1, 2, 3]
const replicaStops: Array<number> = []
const masterStops: Array<{ readonly stop: number; readonly handover: number }> = []
try {
  for (let n = 0; n < rounds; n++) {
    for (const role of ["replica", "master"] as const) {
      const t = await waitForTopology(cluster, nodes, 120_000)
      await waitForSentinelsToKnowReplicas(cluster, nodes, 2, 60_000)
      const victim = indexOf(cluster, (role === "master" ? t.masters[0] : t.replicas[0])?.address ?? "")
      const old = cluster.node(victim).address
      const at = Date.now()
      let handedOver = Number.NaN
      const watching = role === "master"
        ? (async () => {
          for (const deadline = at + 60_000; Date.now() < deadline;) {
            const now = await readTopology(cluster.consulAddress).catch(() => undefined)
            if (now !== undefined && now.masters.length === 1 && now.masters[0]?.address !== old) return void (handedOver = Date.now() - at)
            await new Promise((r) => setTimeout(r, 20))
          }
        })()
        : Promise.resolve()
      await cluster.stopNode(victim)
      const stopped = Date.now() - at
      await watching
      if (role === "replica") replicaStops.push(stopped)
      else masterStops.push({ stop: stopped, handover: handedOver })
      console.log(`round ${n + 1}: ${role} node ${victim} stopped in ${(stopped / 1000).toFixed(2)} s${role === "master" ? `, another master passing after ${(handedOver / 1000).toFixed(2)} s` : ""}`)
      await cluster.startNode(victim)
    }
  }
} finally {
  await cluster.close()
  rmSync(root, { recursive: true, force: true })
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`
const worstReplica = Math.max(...replicaStops)
const worstMasterOver = Math.max(...masterStops.map((m) => m.stop - m.handover))
console.log(`${rounds} rounds, real ContainerPilot (stopTimeout as shipped) and Consul, Node ${process.version}`)
console.log(`replica stop: ${replicaStops.map(s).join(", ")}; slowest ${s(worstReplica)}, budget 3 s  ${verdict("replica stop (ms)", worstReplica, 3_000)}`)
console.log(`master stop: ${masterStops.map((m) => `${s(m.stop)} (handover ${s(m.handover)})`).join(", ")}; stop beyond its handover at most ${s(worstMasterOver)}, budget 3 s  ${verdict("master stop beyond its handover (ms)", worstMasterOver, 3_000)}`)
exitIfOver()

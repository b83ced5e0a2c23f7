// `npm run bench:cluster`: the cluster budgets of DESIGN.md §10, measured on real
// redis-server/redis-sentinel processes scheduled from containerpilot.json5, with the
// default timings (HEALTH_INTERVAL 5, SENTINEL_DOWN_AFTER 5s):
// - bootstrap: three nodes started at once, to one master, two synced replicas and
//   three sentinels passing in Consul (budget 15 s);
// - failover: SIGKILL of the master's node, to the new master passing in Consul as
//   `redis` and the old one not (budget SENTINEL_DOWN_AFTER + 2 s = 7 s), in steady
//   state: once every sentinel knows both replicas (Sentinel learns them from the
//   master every 10 s; a master dying before that is failed over only on Sentinel's
//   retry, 2 × SENTINEL_FAILOVER_TIMEOUT later — see README);
// - registry lag: from the first `+switch-master` any surviving sentinel publishes to
//   the same registry turnover (budget 0.2 s): the part the node agents own.
// - TLS: the same with TLS on every link (a CA and node certificates made with
//   openssl), runs alternating with the plaintext ones: the failover's registry
//   turnover with TLS ÷ without, budget 1.10 (issue 20).
// Medians of BENCH_RUNS (default 5) fresh clusters each; exits 1 when a median is over
// its budget.
import { rmSync } from "node:fs"
import { exitIfOver, verdict } from "./budget.ts"
import { startCluster } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"
import { scratchDir, sentinelOf, waitForSentinelsToKnowReplicas } from "../test/support/scenario.ts"
import { makeTestPki } from "../test/support/tls.ts"

const runs = Number(process.env.BENCH_RUNS ?? 5)
const downAfterMs = 5_000
const budgets = { bootstrap: 15_000, failover: downAfterMs + 2_000, registryLag: 200, tlsFailoverRatio: 1.1 }
const pkiDir = scratchDir("bench-cluster-pki")
const pki = makeTestPki(pkiDir)

const until = async (ms: number, what: string, done: () => Promise<boolean>, everyMs = 50): Promise<void> => {
  const deadline = Date.now() + ms
  while (!(await done().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}

interface Run {
  readonly bootstrap: number
  readonly failover: number
  readonly registryLag: number
}

const once = async (tls: boolean): Promise<Run> => {
  const root = scratchDir("bench-cluster")
  const started = Date.now()
  const cluster = await startCluster({
    nodes: 3,
    root,
    consulPort: 0,
    env: { SENTINEL_DOWN_AFTER: `${downAfterMs}ms`, BACKUP_CHECK_INTERVAL: "24h" },
    ...(tls ? { perNodeEnv: (i: number, addressOf: (j: number) => string) => pki.envFor(`node-${i}`, addressOf(i)) } : {})
  })
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
    // Every surviving sentinel's +switch-master; the first one starts the registry's clock.
    let switched: number | undefined
    const listeners = cluster.nodes().filter((i) => i !== index).map((i) => {
      const sentinel = sentinelOf(cluster, i)
      sentinel.on("message", (channel: string) => {
        if (channel === "+switch-master" && switched === undefined) switched = Date.now()
      })
      return sentinel
    })
    try {
      await Promise.all(listeners.map((l) => l.subscribe("+switch-master")))
      const killed = Date.now()
      await cluster.killNode(index)
      await until(60_000, "the registry to turn over", async () => {
        const t = await readTopology(cluster.consulAddress)
        return t.masters.length === 1 && t.masters[0]?.address !== master
      }, 10)
      const turned = Date.now()
      if (switched === undefined) throw new Error("the registry turned over before any sentinel published +switch-master")
      return { bootstrap, failover: turned - killed, registryLag: turned - switched }
    } finally {
      for (const l of listeners) l.disconnect()
    }
  } finally {
    await cluster.close()
    rmSync(root, { recursive: true, force: true })
  }
}

const plain: Array<Run> = []
const withTls: Array<Run> = []
try {
  for (let i = 1; i <= runs; i++) {
    for (const tls of [false, true]) {
      const r = await once(tls)
      ;(tls ? withTls : plain).push(r)
      console.log(`run ${i}${tls ? " TLS" : "    "}: bootstrap ${(r.bootstrap / 1000).toFixed(2)} s, failover to registry ${(r.failover / 1000).toFixed(2)} s, registry lag after +switch-master ${r.registryLag} ms`)
    }
  }
} finally {
  rmSync(pkiDir, { recursive: true, force: true })
}
const line = (label: string, values: ReadonlyArray<number>, budget: number) => {
  const m = median(values)
  const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`
  return `${label.padEnd(40)} median ${s(m)}  (min ${s(Math.min(...values))}, max ${s(Math.max(...values))})  budget ${s(budget)}  ${verdict(`${label.trim()} median (ms)`, m, budget)}`
}
console.log(`${runs} fresh 3-node clusters each, plaintext and TLS alternating, Node ${process.version}`)
for (const [name, results] of [["", plain], ["TLS: ", withTls]] as const) {
  console.log(line(`${name}bootstrap (3 nodes fully passing)`, results.map((r) => r.bootstrap), budgets.bootstrap))
  console.log(line(`${name}failover (kill → registry)`, results.map((r) => r.failover), budgets.failover))
  console.log(line(`${name}registry lag after +switch-master`, results.map((r) => r.registryLag), budgets.registryLag))
}
const ratio = median(withTls.map((r) => r.failover)) / median(plain.map((r) => r.failover))
console.log(`TLS ÷ plaintext, failover (kill → registry) medians: ${ratio.toFixed(3)}×  budget ${budgets.tlsFailoverRatio}×  ${verdict("TLS failover ratio", ratio, budgets.tlsFailoverRatio)}`)
exitIfOver()

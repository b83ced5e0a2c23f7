// `npm run bench:founding`: the figures FOUNDING_GRACE's default rests on (README,
// "Budgets and measured figures"), on real processes with the default timings:
// - Consul loses its whole state while the cluster runs: until every registration is
//   back and the master's agent has written the cluster's record again (a node that
//   starts empty meanwhile must still be watching when they are);
// - the whole cluster stops and starts at the same instant with the master's data
//   directory removed: until every node serves every key again;
// - how far apart the nodes of one simultaneous start announce themselves.
// BENCH_RUNS (default 5) repetitions of each, one cluster per scenario.
import { rmSync } from "node:fs"
import { Redis } from "ioredis"
import { type Cluster, startCluster } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"

import { exitIfOver, verdict } from "./budget.ts"
import { scratchDir } from "../test/support/scenario.ts"

const runs = Number(process.env.BENCH_RUNS ?? 5)
const nodes = [1, 2, 3]
const keys = 1000

const until = async <A>(ms: number, what: string, probe: () => Promise<A>, done: (a: A) => boolean): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const a = await probe().catch(() => undefined)
    if (a !== undefined && done(a)) return a
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const client = (c: Cluster, i: number) => {
  const r = new Redis({ host: c.node(i).address, port: c.node(i).redisPort, retryStrategy: () => null, maxRetriesPerRequest: 1, commandTimeout: 2000 })
  r.on("error", () => {})
  return r
}
const dbsize = async (c: Cluster, i: number) => {
  const r = client(c, i)
  try {
    return await r.dbsize()
  } finally {
    r.disconnect()
  }
}
const passing = (c: Cluster) => until(90_000, "three nodes passing", () => readTopology(c.consulAddress), (t) => t.masters.length === 1 && t.replicas.length === 2 && t.sentinels.length === 3)
const recordNames = async (c: Cluster, address: string) => {
  const r = await fetch(`http://${c.consulAddress}/v1/kv/service/redis/cluster?raw`)
  return r.status === 200 && (await r.text()).includes(`"address":"${address}"`)
}
const masterIndex = async (c: Cluster) => {
  const address = (await passing(c)).masters[0]?.address
  const i = nodes.find((n) => c.node(n).address === address)
  if (i === undefined || address === undefined) throw new Error("no master")
  return { i, address }
}

const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2
}
const report = (label: string, xs: ReadonlyArray<number>) =>
  console.log(`${label.padEnd(58)} median ${(median(xs) / 1000).toFixed(2)} s  (min ${(Math.min(...xs) / 1000).toFixed(2)}, max ${(Math.max(...xs) / 1000).toFixed(2)})`)

const withCluster = async <A>(f: (c: Cluster) => Promise<A>): Promise<A> => {
  const root = scratchDir("bench-founding")
  const c = await startCluster({ nodes: 3, root, consulPort: 0, env: { BACKUP_CHECK_INTERVAL: "24h" } })
  try {
    return await f(c)
  } finally {
    await c.close()
    rmSync(root, { recursive: true, force: true })
  }
}

const reRegistered: Array<number> = []
const recordBack: Array<number> = []
await withCluster(async (c) => {
  const consul = c.consul
  if (consul === undefined) throw new Error("needs the emulator")
  for (let k = 0; k < runs; k++) {
    const { address } = await masterIndex(c)
    await until(30_000, "the record", () => recordNames(c, address), (x) => x)
    await consul.restartEmpty()
    const lost = Date.now()
    await passing(c)
    reRegistered.push(Date.now() - lost)
    await until(30_000, "the record again", () => recordNames(c, address), (x) => x)
    recordBack.push(Date.now() - lost)
    console.log(`Consul wiped ${k + 1}: registrations back ${reRegistered.at(-1)} ms, cluster record back ${recordBack.at(-1)} ms`)
  }
})

const recovered: Array<number> = []
const spread: Array<number> = []
await withCluster(async (c) => {
  const first = await masterIndex(c)
  const w = client(c, first.i)
  for (let k = 0; k < keys; k++) await w.set(`key:${k}`, String(k))
  w.disconnect()
  for (let k = 0; k < runs; k++) {
    const { i, address } = await masterIndex(c)
    for (const n of nodes) await until(30_000, "replicated", () => dbsize(c, n), (x) => x === keys)
    await until(30_000, "the record", () => recordNames(c, address), (x) => x)
    await c.stopNodes(nodes)
    const started = Date.now()
    const announced = new Map<string, number>()
    const watching = (async () => {
      while (announced.size < nodes.length && Date.now() - started < 30_000) {
        const r = await fetch(`http://${c.consulAddress}/v1/kv/service/redis/starting/?keys`).catch(() => undefined)
        const list: unknown = r?.status === 200 ? await r.json() : []
        if (Array.isArray(list)) for (const key of list) if (typeof key === "string" && !announced.has(key)) announced.set(key, Date.now())
        await new Promise((res) => setTimeout(res, 20))
      }
    })()
    await c.startNodes(nodes, { wipeData: [i] })
    await passing(c)
    for (const n of nodes) await until(60_000, "every key everywhere", () => dbsize(c, n), (x) => x === keys)
    recovered.push(Date.now() - started)
    await watching
    const times = [...announced.values()]
    if (times.length > 1) spread.push(Math.max(...times) - Math.min(...times))
    console.log(`restart ${k + 1} (master node ${i} wiped): every key everywhere ${recovered.at(-1)} ms; announcements ${spread.at(-1) ?? "?"} ms apart`)
  }
})

console.log(`${runs} runs each, 3 nodes, default timings, Node ${process.version}`)
report("Consul wiped: every registration back", reRegistered)
console.log(`  budget (DESIGN.md §10) 10 s: ${verdict("Consul wiped: every registration back, median (ms)", median(reRegistered), 10_000)}`)
report("Consul wiped: the cluster's record back", recordBack)
report("whole restart, master's volume lost: every key everywhere", recovered)
report("simultaneous start: first to last announcement (20 ms polls)", spread)
exitIfOver()

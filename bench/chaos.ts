// `npm run chaos -- --minutes N` (default 10): a 3-node cluster in the real mode (each
// node a network namespace of its own, the real ContainerPilot and Consul, default
// timings) under a Sentinel-aware writer (README, "Connecting clients") and random
// faults, one at a time, on a random node: SIGKILL of every process, a graceful stop,
// a freeze (SIGSTOP of every process), a cut from the other nodes and Consul; each
// repaired after a random hold of 3-20 s, the next one 0-10 s after the cluster is
// whole again. Consul is sampled ten times a second throughout. At the end it prints
// the acknowledged writes lost (and whether each fell in a fence window: from a cut or
// freeze of the master to FENCE_AFTER after it, or after its wake; the last 250 ms
// before a master was killed, when a write may still be on its way to the replicas),
// the seconds with two masters passing and with none, and the slowest recovery; it
// exits 1 on two masters passing, a lost write outside every window, or a fault not
// repaired (whole again) within 30 s.
import { rmSync } from "node:fs"
import { parseArgs } from "node:util"
import { Redis } from "ioredis"
import { clusterMode, startCluster, whyNotReal } from "../test/support/cluster/Cluster.ts"
import { readTopology } from "../test/support/cluster/Topology.ts"
import { indexOf, redisOf, scratchDir, sentinelClient, waitForSentinelsToKnowReplicas, waitForTopology } from "../test/support/scenario.ts"

const { values } = parseArgs({ options: { minutes: { type: "string", default: "10" } } })
const minutes = Number(values.minutes)
if (!Number.isFinite(minutes) || minutes <= 0) throw new Error(`--minutes ${values.minutes}: expected a positive number`)
if (clusterMode() !== "real") {
  console.error(`chaos needs the real mode (cuts and frozen hosts): ${whyNotReal() ?? ""}`)
  process.exit(2)
}

type Kind = "kill" | "stop" | "freeze" | "cut"
const kinds: ReadonlyArray<Kind> = ["kill", "stop", "freeze", "cut"]
const fenceAfterMs = 2_000
/** Measuring from this process: its clock reads acks and faults a little late. */
const slackMs = 500
const repairBudgetMs = 30_000
const nodes = [1, 2, 3]
const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(Math.random() * xs.length)] as A
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const stamp = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`

const root = scratchDir("chaos")
const cluster = await startCluster({ nodes: 3, root, env: { BACKUP_CHECK_INTERVAL: "24h" } })
const t0 = Date.now()
const windows: Array<{ readonly from: number; readonly to: number; readonly why: string }> = []
const acked: Array<{ readonly n: number; readonly at: number }> = []
const samples: Array<{ readonly at: number; readonly masters: number }> = []
const recoveries: Array<{ readonly kind: Kind; readonly ms: number }> = []
let sampling = true
let writing = true
let writer: Promise<void> = Promise.resolve()
let client: Redis | undefined
try {
  await waitForTopology(cluster, nodes, 120_000)
  await waitForSentinelsToKnowReplicas(cluster, nodes, 2, 60_000)
  const sampler = (async () => {
    while (sampling) {
      const t = await readTopology(cluster.consulAddress).catch(() => undefined)
      if (t !== undefined) samples.push({ at: Date.now(), masters: t.masters.length })
      await sleep(100)
    }
  })()
  client = sentinelClient(cluster, (await readTopology(cluster.consulAddress)).sentinels)
  const app = client
  writer = (async () => {
    for (let n = 0; writing; n++) {
      try {
        await app.set(`chaos:${n}`, String(n))
        acked.push({ n, at: Date.now() })
      } catch {
        await sleep(20)
      }
    }
  })()

  const end = t0 + minutes * 60_000
  let faults = 0
  while (Date.now() < end) {
    await sleep(Math.random() * 10_000)
    const kind = pick(kinds)
    const victim = pick(nodes)
    const before = await readTopology(cluster.consulAddress)
    const wasMaster = before.masters.some((m) => m.address === cluster.node(victim).address)
    const at = Date.now()
    if (kind === "kill") {
      if (wasMaster) windows.push({ from: at - 250, to: at, why: `kill of master node ${victim}: replication in flight` })
      await cluster.killNode(victim)
    }
    if (kind === "stop") await cluster.stopNode(victim)
    if (kind === "freeze") cluster.freezeNode(victim, true)
    if (kind === "cut") cluster.isolate(victim, { consul: true })
    if (wasMaster && (kind === "freeze" || kind === "cut")) windows.push({ from: at, to: at + fenceAfterMs + slackMs, why: `${kind} of master node ${victim}` })
    const hold = 3_000 + Math.random() * 17_000
    console.log(`${stamp(t0)} ${kind} node ${victim}${wasMaster ? " (master)" : ""}, held ${(hold / 1000).toFixed(1)} s`)
    await sleep(hold)
    const repairedAt = Date.now()
    if (kind === "kill" || kind === "stop") await cluster.startNode(victim)
    if (kind === "freeze") {
      cluster.freezeNode(victim, false)
      // Writes queued while it was frozen are answered when it wakes, before its agent can act.
      if (wasMaster) windows.push({ from: repairedAt, to: repairedAt + fenceAfterMs + slackMs, why: `master node ${victim} woken` })
    }
    if (kind === "cut") cluster.heal()
    try {
      await waitForTopology(cluster, nodes, repairBudgetMs)
      const ms = Date.now() - repairedAt
      recoveries.push({ kind, ms })
      console.log(`${stamp(t0)} whole again ${(ms / 1000).toFixed(1)} s after the repair`)
    } catch (e) {
      recoveries.push({ kind, ms: Number.POSITIVE_INFINITY })
      console.log(`${stamp(t0)} NOT whole within ${repairBudgetMs / 1000} s of the repair: ${e instanceof Error ? e.message : String(e)}`)
      await waitForTopology(cluster, nodes, 120_000)
    }
    await waitForSentinelsToKnowReplicas(cluster, nodes, 2, 60_000).catch(() => undefined)
    faults++
  }
  writing = false
  await writer
  sampling = false
  await sampler

  const t = await waitForTopology(cluster, nodes, 60_000)
  const reader = redisOf(cluster, indexOf(cluster, t.masters[0]?.address ?? ""))
  const lost: Array<{ readonly n: number; readonly at: number }> = []
  try {
    for (let i = 0; i < acked.length; i += 1000) {
      const batch = acked.slice(i, i + 1000)
      const got = await reader.mget(...batch.map((a) => `chaos:${a.n}`))
      batch.forEach((a, k) => {
        if (got[k] !== String(a.n)) lost.push(a)
      })
    }
  } finally {
    reader.disconnect()
  }
  const inWindow = (at: number) => windows.find((w) => at >= w.from && at <= w.to)
  const outside = lost.filter((l) => inWindow(l.at) === undefined)
  const byWindow = new Map<string, number>()
  for (const l of lost) {
    const w = inWindow(l.at)
    if (w !== undefined) byWindow.set(w.why, (byWindow.get(w.why) ?? 0) + 1)
  }
  const seconds = (f: (masters: number) => boolean) => samples.filter((x) => f(x.masters)).length / 10
  const slowest = recoveries.reduce((m, r) => (r.ms > m.ms ? r : m), { kind: "kill" as Kind, ms: 0 })
  console.log(`\nchaos: ${minutes} min, ${faults} faults, ${acked.length} writes acknowledged`)
  console.log(`lost: ${lost.length} (${outside.length} outside every fence window)${[...byWindow].map(([why, n]) => `\n  ${n} within ${why}`).join("")}`)
  for (const o of outside.slice(0, 10)) console.log(`  lost outside a window: chaos:${o.n} acknowledged at ${stamp(o.at)}`)
  console.log(`seconds with two masters passing in Consul: ${seconds((m) => m > 1)}`)
  console.log(`seconds with no master passing in Consul: ${seconds((m) => m === 0)}`)
  console.log(`slowest recovery (repair to whole): ${(slowest.ms / 1000).toFixed(1)} s after a ${slowest.kind}`)
  const failed = [
    ...(seconds((m) => m > 1) > 0 ? ["two masters passing"] : []),
    ...(outside.length > 0 ? [`${outside.length} acknowledged writes lost outside fence windows`] : []),
    ...(slowest.ms > repairBudgetMs ? [`a fault not repaired within ${repairBudgetMs / 1000} s`] : [])
  ]
  if (failed.length > 0) {
    console.error(`chaos FAILED: ${failed.join("; ")}`)
    process.exitCode = 1
  }
} finally {
  writing = false
  sampling = false
  await writer.catch(() => undefined)
  client?.disconnect()
  await cluster.close()
  if (process.env.KEEP_SCENARIO === undefined) rmSync(root, { recursive: true, force: true })
  else console.log(`kept in ${root}`)
}

// The shipped image end to end (DESIGN.md §9): builds it from the repository root,
// runs a real Consul and three nodes on a private network, and checks what an
// operator sees in Consul and from the health checks ContainerPilot runs (agent-check,
// the thin client of each node's agent) through bootstrap, a master stop and a
// restore into a brand-new cluster. Reports itself skipped, with the reason, within
// seconds where no Docker engine answers; it never starts anything there.
import { fileURLToPath } from "node:url"
import { randomUUID } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from "vitest"
import {
  GenericContainer,
  getContainerRuntimeClient,
  Network,
  type StartedNetwork,
  type StartedTestContainer,
  Wait
} from "testcontainers"

/** Why no container engine can be used, or undefined when one answers; bounded, so a dead DOCKER_HOST cannot stall the run. */
const probeDocker = async (): Promise<string | undefined> => {
  let timer: NodeJS.Timeout | undefined
  const giveUp = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no answer from the container engine within 10 s")), 10_000)
  })
  try {
    await Promise.race([getContainerRuntimeClient(), giveUp])
    return undefined
  } catch (e) {
    return e instanceof Error ? e.message.split("\n")[0] : String(e)
  } finally {
    clearTimeout(timer)
  }
}

const noEngine = await probeDocker()
const skipReason = noEngine === undefined ? undefined : `needs a Docker engine: ${noEngine}`
// The default reporter shows no per-test skip notes; this line says why in any of them.
if (skipReason !== undefined) console.warn(`test/docker/cluster.test.ts skipped: ${skipReason}`)

const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
const consulImage = "hashicorp/consul:1.20"
/** docker-compose.yml's stop_grace_period: pre-stop's handover plus Redis's shutdown. */
const stopGracePeriodMs = 30_000
const keys = Array.from({ length: 50 }, (_, i) => `key:${i}`)

/** One service instance Consul reports passing. */
interface Passing {
  readonly id: string
  readonly address: string
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

const decodePassing = (body: unknown): ReadonlyArray<Passing> => {
  if (!Array.isArray(body)) throw new Error(`unexpected Consul health answer: ${JSON.stringify(body)}`)
  return body.map((entry: unknown) => {
    const service = isRecord(entry) ? entry["Service"] : undefined
    if (!isRecord(service) || typeof service["ID"] !== "string" || typeof service["Address"] !== "string") {
      throw new Error(`unexpected Consul health entry: ${JSON.stringify(entry)}`)
    }
    return { id: service["ID"], address: service["Address"] }
  })
}

interface Cluster {
  readonly network: StartedNetwork
  readonly consul: StartedTestContainer
  readonly consulUrl: string
  readonly nodes: Array<StartedTestContainer>
}

const logs = new Map<string, Array<string>>()
const collectLogs = (label: string) => (stream: NodeJS.ReadableStream): void => {
  const lines: Array<string> = []
  logs.set(label, lines)
  stream.on("data", (chunk: unknown) => {
    lines.push(String(chunk).trimEnd())
    if (lines.length > 400) lines.shift()
  })
}
const dumpLogsOnFailure = (): void => {
  onTestFailed(() => {
    for (const [label, lines] of logs) console.error(`----- ${label} (last ${lines.length} lines)\n${lines.join("\n")}`)
  })
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls `probe` every second until it returns a value, or fails naming what it waited for and what it last saw. */
const waitFor = async <A>(what: string, timeoutMs: number, probe: () => Promise<A | undefined>): Promise<A> => {
  const until = Date.now() + timeoutMs
  let last = "nothing yet"
  for (;;) {
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}`)
    await sleep(1000)
  }
}

const passing = async (cluster: Cluster, service: string): Promise<ReadonlyArray<Passing>> => {
  const res = await fetch(`${cluster.consulUrl}/v1/health/service/${service}?passing`, { signal: AbortSignal.timeout(5000) })
  if (!res.ok) throw new Error(`Consul answered ${res.status} for ${service}`)
  return decodePassing(await res.json())
}

/** Waits until Consul shows exactly this many passing instances of each role; returns the master's instance. */
const waitForTopology = async (
  cluster: Cluster,
  want: { readonly replicas: number; readonly sentinels: number; readonly notAt?: string },
  timeoutMs: number
): Promise<Passing> =>
  waitFor(`1 redis, ${want.replicas} redis-replica, ${want.sentinels} redis-sentinel passing`, timeoutMs, async () => {
    const [masters, replicas, sentinels] = await Promise.all([
      passing(cluster, "redis"),
      passing(cluster, "redis-replica"),
      passing(cluster, "redis-sentinel")
    ])
    const seen = `redis ${masters.map((m) => m.address).join(",")}; replicas ${replicas.length}; sentinels ${sentinels.length}`
    const [master] = masters
    if (masters.length !== 1 || master === undefined || replicas.length !== want.replicas || sentinels.length !== want.sentinels) {
      throw new Error(seen)
    }
    if (master.address === want.notAt) throw new Error(`${seen} (still the old master)`)
    return master
  })

const nodeAt = (cluster: Cluster, address: string): StartedTestContainer => {
  const node = cluster.nodes.find((n) => n.getIpAddress(cluster.network.getName()) === address)
  if (node === undefined) throw new Error(`no node of this cluster has address ${address}`)
  return node
}

const redisCli = async (node: StartedTestContainer, ...args: ReadonlyArray<string>): Promise<string> => {
  const result = await node.exec(["redis-cli", "--raw", ...args])
  if (result.exitCode !== 0) throw new Error(`redis-cli ${args.join(" ")} exited ${result.exitCode}: ${result.output}`)
  return result.stdout.trim()
}

const waitForKeys = (node: StartedTestContainer, label: string, timeoutMs: number): Promise<boolean> =>
  waitFor(`${keys.length} keys on ${label}`, timeoutMs, async () => {
    const size = await redisCli(node, "DBSIZE")
    if (size !== String(keys.length)) throw new Error(`DBSIZE ${size}`)
    return true
  })

const startCluster = async (image: string, backupsVolume: string, label: string): Promise<Cluster> => {
  const network = await new Network().start()
  // No network alias: with one, testcontainers creates the container on the default
  // bridge and then attaches it to this network, and a Consul with two private
  // addresses refuses to start (testcontainers-node #808). The nodes get its address.
  const consul = await new GenericContainer(consulImage)
    .withNetwork(network)
    .withCommand(["agent", "-server", "-bootstrap-expect=1", "-client=0.0.0.0", "-hcl=performance { raft_multiplier = 1 }"])
    .withExposedPorts(8500)
    .withLogConsumer(collectLogs(`${label} consul`))
    // The leader endpoint answers "" until the single server has elected itself.
    .withWaitStrategy(Wait.forHttp("/v1/status/leader", 8500).forResponsePredicate((body) => /:\d+"$/.test(body.trim())))
    .start()
  const consulAddress = consul.getIpAddress(network.getName())
  // All three at once, as `docker compose up --scale redis=3` does: the bootstrap race
  // must still end with one master (DESIGN.md §5).
  const nodes = await Promise.all([1, 2, 3].map((i) =>
    new GenericContainer(image)
      .withNetwork(network)
      .withEnvironment({ CONSUL: consulAddress })
      // A name without a slash is a named volume: the shared `local` backup store.
      .withBindMounts([{ source: backupsVolume, target: "/backups" }])
      .withLogConsumer(collectLogs(`${label} node ${i}`))
      .start()
  ))
  return { network, consul, consulUrl: `http://${consul.getHost()}:${consul.getMappedPort(8500)}`, nodes }
}

const stopCluster = async (cluster: Cluster | undefined): Promise<void> => {
  if (cluster === undefined) return
  await Promise.allSettled(cluster.nodes.map((n) => n.stop()))
  await cluster.consul.stop().catch(() => undefined)
  await cluster.network.stop().catch(() => undefined)
}

/** Exit code of `agent-check <path>` inside a node: the health check ContainerPilot runs. */
const agentCheck = async (node: StartedTestContainer, path: string): Promise<number> => (await node.exec(["agent-check", path])).exitCode

describe.skipIf(skipReason !== undefined)("the image as a three-node cluster on Docker", () => {
  const backupsVolume = `autopilot-redis-test-backups-${randomUUID().slice(0, 8)}`
  let image = ""
  let first: Cluster | undefined
  let second: Cluster | undefined

  beforeAll(async () => {
    // Where the Dockerfile's downloads cannot be reached (docker-lab builds the image
    // with them served locally), the image built beforehand.
    const given = process.env["DOCKER_TEST_IMAGE"]
    if (given !== undefined && given !== "") {
      image = given
      return
    }
    const built = `autopilot-redis-test:${randomUUID().slice(0, 8)}`
    await GenericContainer.fromDockerfile(repoRoot).build(built, { deleteOnExit: true })
    image = built
  }, 20 * 60_000)

  afterAll(async () => {
    await stopCluster(first)
    await stopCluster(second)
    const client = await getContainerRuntimeClient()
    await client.container.dockerode.getVolume(backupsVolume).remove().catch(() => undefined)
  }, 5 * 60_000)

  it("forms one master, two replicas and three sentinels in Consul", async () => {
    dumpLogsOnFailure()
    first = await startCluster(image, backupsVolume, "first")
    const master = await waitForTopology(first, { replicas: 2, sentinels: 3 }, 3 * 60_000)
    const masterNode = nodeAt(first, master.address)
    // Each node's agent answers the checks ContainerPilot runs: exactly one role per node.
    for (const node of first.nodes) {
      const isMaster = node === masterNode
      expect(await agentCheck(node, "/master"), "agent-check /master").toBe(isMaster ? 0 : 1)
      expect(await agentCheck(node, "/replica"), "agent-check /replica").toBe(isMaster ? 1 : 0)
      expect(await agentCheck(node, "/sentinel"), "agent-check /sentinel").toBe(0)
    }
    const status = await masterNode.exec(["manage", "status"])
    expect(status.exitCode, status.output).toBe(0)
    expect(await redisCli(masterNode, "MSET", ...keys.flatMap((k) => [k, `value of ${k}`]))).toBe("OK")
    for (const node of first.nodes) if (node !== masterNode) await waitForKeys(node, "a replica", 60_000)
  }, 5 * 60_000)

  it("moves the master role to another node when the master container stops", async () => {
    dumpLogsOnFailure()
    if (first === undefined) throw new Error("the first cluster did not start")
    const old = await waitForTopology(first, { replicas: 2, sentinels: 3 }, 60_000)
    const oldNode = nodeAt(first, old.address)
    // A graceful stop, as `docker compose stop` does: pre-stop hands the role over.
    await oldNode.stop({ timeout: stopGracePeriodMs })
    first.nodes.splice(first.nodes.indexOf(oldNode), 1)
    const next = await waitForTopology(first, { replicas: 1, sentinels: 2, notAt: old.address }, 2 * 60_000)
    await waitForKeys(nodeAt(first, next.address), "the new master", 30_000)
  }, 5 * 60_000)

  it("restores the last backup into a brand-new cluster with empty data", async () => {
    dumpLogsOnFailure()
    const cluster = first
    if (cluster === undefined) throw new Error("the first cluster did not start")
    const [replica] = await passing(cluster, "redis-replica")
    if (replica === undefined) throw new Error("no passing replica to take the backup")
    const backup = await nodeAt(cluster, replica.address).exec(["manage", "backup", "--now"])
    expect(backup.exitCode, backup.output).toBe(0)
    const manifest = await fetch(`${cluster.consulUrl}/v1/kv/service/redis/last-backup`)
    expect(manifest.status).toBe(200)
    await stopCluster(cluster)
    first = undefined

    // New Consul, new nodes with empty /data volumes; only the backups volume is shared.
    second = await startCluster(image, backupsVolume, "second")
    const master = await waitForTopology(second, { replicas: 2, sentinels: 3 }, 4 * 60_000)
    const masterNode = nodeAt(second, master.address)
    await waitForKeys(masterNode, "the restored master", 30_000)
    const firstKey = keys[0] ?? ""
    expect(await redisCli(masterNode, "GET", firstKey)).toBe(`value of ${firstKey}`)
    for (const node of second.nodes) if (node !== masterNode) await waitForKeys(node, "a replica of the restored master", 60_000)
  }, 10 * 60_000)
})

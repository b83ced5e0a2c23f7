// Building blocks of the integration scenarios: a real cluster with test timings,
// waiting for a condition with a deadline (never a fixed sleep), and ioredis clients
// to a node or through the sentinels, the way an application connects.
import { execFile } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Redis } from "ioredis"
import { ApplicationClient } from "./applicationClient.ts"
import { agentCheckScript, type Cluster, type ClusterOptions, clusterMode, startCluster } from "./cluster/Cluster.ts"
import { readTopology, type Topology } from "./cluster/Topology.ts"
import { clientTlsOf } from "./tls.ts"

/**
 * Short timings so scenarios take seconds: checks every 2 s (a check run costs
 * ~0.2 CPU-seconds and this machine has 2 cores), failover after 2 s of silence.
 */
export const scenarioEnv: Readonly<Record<string, string>> = {
  HEALTH_INTERVAL: "2",
  HEALTH_TTL: "6",
  HEALTH_TIMEOUT: "2s",
  SENTINEL_DOWN_AFTER: "2s",
  SENTINEL_FAILOVER_TIMEOUT: "10s",
  MASTER_WAIT_TIMEOUT: "30s",
  PRESTOP_TIMEOUT: "10s",
  BACKUP_CHECK_INTERVAL: "24h",
  // debug for a post-mortem of a rare failure: every look and every slow call, logged.
  LOG_LEVEL: process.env["SCENARIO_LOG_LEVEL"] ?? "info"
}

export interface Scenario {
  readonly cluster: Cluster
  readonly root: string
  close(): Promise<void>
}

/**
 * A fresh directory for a cluster's files. Not under /tmp in the real mode, where
 * every node has a /tmp of its own: /var/tmp (SCRATCH_DIR overrides).
 */
export const scratchDir = (name: string): string => {
  const base = process.env["SCRATCH_DIR"] ?? (clusterMode() === "real" ? "/var/tmp/autopilot-redis" : tmpdir())
  mkdirSync(base, { recursive: true })
  return mkdtempSync(join(base, `${name}-`))
}

/** A cluster in its own directory, with the real Consul and ContainerPilot where given, else their emulators (Consul on a free port). */
export const scenario = async (
  nodes: number,
  env: Readonly<Record<string, string>> = {},
  options: Pick<ClusterOptions, "perNodeEnv" | "consulHttps"> = {}
): Promise<Scenario> => {
  const root = scratchDir("scenario")
  const cluster = await startCluster({ nodes, root, consulPort: 0, env: { ...scenarioEnv, ...env }, ...options })
  return {
    cluster,
    root,
    close: async () => {
      await cluster.close()
      // KEEP_SCENARIO=1 keeps every node's logs and state for a post-mortem.
      if (process.env.KEEP_SCENARIO !== undefined) console.log(`scenario kept in ${root}`)
      else rmSync(root, { recursive: true, force: true })
    }
  }
}

/** Polls `probe` until `done` holds, or throws after `ms` naming what was last seen. */
export const waitFor = async <A>(what: string, ms: number, probe: () => Promise<A>, done: (a: A) => boolean, everyMs = 200): Promise<A> => {
  const deadline = Date.now() + ms
  let last: A | undefined
  let error: unknown
  for (;;) {
    try {
      last = await probe()
      if (done(last)) return last
    } catch (e) {
      error = e
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${ms} ms; last seen ${JSON.stringify(last) ?? String(error)}`)
    }
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

export const topology = (c: Cluster): Promise<Topology> => readTopology(c.consulAddress)

export const addresses = (xs: ReadonlyArray<{ readonly address: string }>): ReadonlyArray<string> => xs.map((x) => x.address).sort()

/** Waits until Consul shows one passing master, every other node a passing replica, a passing sentinel per node. */
export const waitForTopology = (c: Cluster, nodes: ReadonlyArray<number>, ms: number): Promise<Topology> =>
  waitFor(`${nodes.length} nodes fully passing`, ms, () => topology(c), (t) =>
    t.masters.length === 1 && t.replicas.length === nodes.length - 1 && t.sentinels.length === nodes.length &&
    [...t.masters, ...t.replicas].every((i) => nodes.some((n) => c.node(n).address === i.address)))

/** The index of the node at `address`. */
export const indexOf = (c: Cluster, address: string): number => {
  const i = c.nodes().find((n) => c.node(n).address === address)
  if (i === undefined) throw new Error(`no node at ${address}`)
  return i
}

/** A secret of node i's environment, given directly or as `<NAME>_FILE`. */
const secretOf = (c: Cluster, i: number, name: string): string | undefined => {
  const env = c.node(i).env
  const file = env[`${name}_FILE`]
  const value = file !== undefined && file !== "" ? readFileSync(file, "utf8").replace(/(?:\r?\n)+$/, "") : env[name]
  return value === "" ? undefined : value
}

/** REDIS_PASSWORD of node i, which guards its Redis and its Sentinel alike (the `manage` user's, with ACL users). */
export const passwordOf = (c: Cluster, i: number): string | undefined => secretOf(c, i, "REDIS_PASSWORD")

/** The user `manage` logs in as on node i: `manage` with ACL users (REDIS_APP_PASSWORD), else the default user. */
const adminUserOf = (c: Cluster, i: number): string | undefined => (secretOf(c, i, "REDIS_APP_PASSWORD") !== undefined ? "manage" : undefined)

/** The application's user and password with ACL users on node i. */
export const appCredentialsOf = (c: Cluster, i: number): { readonly username: string; readonly password: string } | undefined => {
  const password = secretOf(c, i, "REDIS_APP_PASSWORD")
  return password === undefined ? undefined : { username: c.node(i).env["REDIS_APP_USER"] ?? "app", password }
}

/** A plain client to one node's Redis, authenticated as the node is configured; fails fast instead of queueing. */
export const redisOf = (c: Cluster, i: number, password = passwordOf(c, i)): Redis =>
  plainClient(c.node(i).address, c.node(i).redisPort, password, clientTlsOf(c.node(i).env), adminUserOf(c, i))

/** One server, no reconnects, every command bounded: a test sees a failure instead of a queue. With TLS and the user as the node has them. */
const plainClient = (host: string, port: number, password: string | undefined, tls: ReturnType<typeof clientTlsOf>, username?: string): Redis => {
  const client = new Redis({
    host,
    port,
    ...(password !== undefined ? { password } : {}),
    ...(username !== undefined && password !== undefined ? { username } : {}),
    ...(tls !== undefined ? { tls } : {}),
    lazyConnect: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: () => null
  })
  client.on("error", () => {})
  return client
}

/** What node i's Redis answers to ROLE (`master`, `slave`), or `down`. */
export const roleOf = async (c: Cluster, i: number): Promise<string> => {
  const client = redisOf(c, i)
  try {
    const role = await client.call("ROLE")
    return Array.isArray(role) && typeof role[0] === "string" ? role[0] : "unknown"
  } catch {
    return "down"
  } finally {
    client.disconnect()
  }
}

/** An application's client: finds the master through the passing sentinels (README, "Connecting clients"). */
export const sentinelClient = (c: Cluster, sentinels: ReadonlyArray<{ readonly address: string; readonly port: number }>): Redis => {
  const [first] = c.nodes()
  const password = first === undefined ? undefined : passwordOf(c, first)
  const app = first === undefined ? undefined : appCredentialsOf(c, first)
  const tls = first === undefined ? undefined : clientTlsOf(c.node(first).env)
  return new ApplicationClient({
    sentinels: sentinels.map((s) => ({ host: s.address, port: s.port })),
    name: "mymaster",
    // With ACL users the application's own user, on Redis and on Sentinel alike.
    ...(app !== undefined
      ? { username: app.username, password: app.password, sentinelUsername: app.username, sentinelPassword: app.password }
      : password !== undefined
      ? { password, sentinelPassword: password }
      : {}),
    // TLS to the sentinels and to the master they name (README, "Connecting clients").
    ...(tls !== undefined ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {})
  })
}

/** A plain client to node i's Sentinel, authenticated as the node is configured; fails fast. */
export const sentinelOf = (c: Cluster, i: number, password = passwordOf(c, i)): Redis =>
  plainClient(c.node(i).address, c.node(i).sentinelPort, password, clientTlsOf(c.node(i).env), adminUserOf(c, i))

/** The last lines of every log of node i, for failure messages. */
export const logsOf = (c: Cluster, i: number): string => {
  const dir = c.node(i).logDir
  try {
    return readdirSync(dir).map((f) => `--- ${f}\n${readFileSync(join(dir, f), "utf8").split("\n").slice(-25).join("\n")}`).join("\n")
  } catch {
    return "(no logs)"
  }
}

/**
 * Steady state: every running node's Sentinel knows `replicas` replicas up and every
 * other running node's Sentinel. Sentinel learns replicas from the master's INFO and
 * peers from hellos every 2 s; until a master's agent knows its peers it counts itself
 * alone, so a master cut off in those first seconds is not fenced (README, "A young
 * cluster's first seconds"), and a master dying before the sentinels know the replicas
 * can only be failed over on a later attempt.
 */
export const waitForSentinelsToKnowReplicas = (c: Cluster, nodes: ReadonlyArray<number>, replicas: number, ms: number) =>
  waitFor(`every sentinel knowing ${replicas} replicas and ${nodes.length - 1} other sentinels`, ms, async () => {
    const counts = await Promise.all(nodes.map(async (i) => {
      const client = sentinelOf(c, i)
      try {
        const rows = await client.call("SENTINEL", "replicas", "mymaster")
        const master = await client.call("SENTINEL", "master", "mymaster")
        const fields = Array.isArray(master) ? master.map(String) : []
        return {
          replicas: Array.isArray(rows) ? rows.filter((r) => Array.isArray(r) && !String(r[r.indexOf("flags") + 1]).includes("down")).length : 0,
          sentinels: Number(fields[fields.indexOf("num-other-sentinels") + 1] ?? 0)
        }
      } catch {
        return { replicas: 0, sentinels: 0 }
      } finally {
        client.disconnect()
      }
    }))
    return counts
  }, (counts) => counts.every((n) => n.replicas === replicas && n.sentinels >= nodes.length - 1))

/**
 * Every running node's Sentinel names the same master and has no failover in progress:
 * a switchover's last phase (reconfiguring the replicas) can outlast its `manage`
 * command by a second, and a master lost inside it waits out failover-timeout.
 */
export const waitForSentinelsSettled = (c: Cluster, nodes: ReadonlyArray<number>, ms: number) =>
  waitFor("every sentinel naming one master, no failover in progress", ms, async () =>
    Promise.all(nodes.map(async (i) => {
      const client = sentinelOf(c, i)
      try {
        const row = await client.call("SENTINEL", "master", "mymaster")
        const fields = Array.isArray(row) ? row.map(String) : []
        const field = (name: string) => fields[fields.indexOf(name) + 1] ?? ""
        return `${field("ip")} ${field("flags")}`
      } catch {
        return "down"
      } finally {
        client.disconnect()
      }
    })), (rows) => rows.every((r) => r === rows[0] && r.endsWith(" master")))

/**
 * Runs ContainerPilot's health check for `path` (`/master`, `/replica`, `/sentinel`)
 * against node i's agent, as the shipped containerpilot.json5 does: whether it passed
 * and how long it took.
 */
export const agentCheck = (c: Cluster, i: number, path: string): Promise<{ readonly passed: boolean; readonly ms: number }> =>
  new Promise((resolve) => {
    const n = c.node(i)
    const started = Date.now()
    execFile(agentCheckScript, [path, n.address, n.env["API_PORT"] ?? "8008", n.env["HEALTH_INTERVAL"] ?? "5"], { timeout: 30_000 }, (error) =>
      resolve({ passed: error === null, ms: Date.now() - started }))
  })

// The local cluster runner: N nodes on one machine the way Docker + ContainerPilot
// run them, each on its own loopback address with the standard ports, real
// redis-server/redis-sentinel processes, the built `dist/manage.mjs` as `manage`, and
// Consul (the emulator on 127.0.0.1:8500 unless an address or CONSUL_HTTP_ADDR is
// given). It starts and stops nodes; it never decides anything the handlers decide.
import { execFile } from "node:child_process"
import { chmodSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { type ConsulEmulator, startConsulEmulator } from "../consul/ConsulEmulator.ts"
import { ClusterNode, type NodeLayout } from "./ClusterNode.ts"

export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
export const manageScript = join(repoRoot, "dist", "manage.mjs")
/** The health checks' thin client, installed in the image as /usr/local/bin/agent-check. */
export const agentCheckScript = join(repoRoot, "scripts", "agent-check")
const configPath = join(repoRoot, "containerpilot.json5")

export interface ClusterOptions {
  readonly nodes: number
  /** Added to every node's environment (and seen by containerpilot.json5's template). */
  readonly env?: Readonly<Record<string, string>>
  readonly perNodeEnv?: (i: number) => Readonly<Record<string, string>>
  /** Default `.cluster` (relative to the working directory). */
  readonly root?: string
  /** Use this Consul (host:port); else CONSUL_HTTP_ADDR; else start the emulator. */
  readonly consul?: { readonly address: string }
  /** Port of the emulator when the runner starts one: default 8500, 0 for any free port. */
  readonly consulPort?: number
  /** Node i gets `<addressPrefix>.<10+i>`; default "127.0.0" (must stay inside 127.0.0.0/8). */
  readonly addressPrefix?: string
}

export interface NodeInfo {
  readonly index: number
  readonly address: string
  readonly redisPort: number
  readonly sentinelPort: number
  readonly dataDir: string
  readonly configDir: string
  readonly logDir: string
  readonly env: Readonly<Record<string, string>>
  running(): boolean
  pid(job: string): number | undefined
}

export interface Cluster {
  /** The emulator when the runner started one. */
  readonly consul: ConsulEmulator | undefined
  /** host:port */
  readonly consulAddress: string
  readonly root: string
  node(i: number): NodeInfo
  /** Indexes of every node ever added (running or not), ascending. */
  nodes(): ReadonlyArray<number>
  addNode(): Promise<number>
  stopNode(i: number): Promise<void>
  killNode(i: number): Promise<void>
  killProcess(i: number, job: string): void
  /** SIGSTOP (a frozen process: a stuck VM, a long GC pause) or SIGCONT of one job's process. */
  freezeProcess(i: number, job: string, frozen: boolean): void
  startNode(i: number, options?: { readonly wipeData?: boolean }): Promise<void>
  /** Stops these nodes all at once (gracefully, like `docker stop` of each), as a host shutdown does. */
  stopNodes(is: ReadonlyArray<number>): Promise<void>
  /**
   * Starts these nodes at the same instant (as a host boot or `docker compose up`
   * does): every check first, then every container in one loop; `wipeData` removes
   * those nodes' data directories first (a lost volume).
   */
  startNodes(is: ReadonlyArray<number>, options?: { readonly wipeData?: ReadonlyArray<number> }): Promise<void>
  status(json?: boolean): Promise<string>
  close(): Promise<void>
}

/** Environment a container would have without the host's: nothing of the developer's shell leaks into a node. */
const baseEnvironment = (): Record<string, string> => {
  const keep = ["HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"]
  return Object.fromEntries(keep.flatMap((k) => (process.env[k] !== undefined ? [[k, process.env[k] ?? ""]] : [])))
}

const stripScheme = (address: string): string => address.replace(/^https?:\/\//, "").replace(/\/+$/, "")

const writeManageShim = (binDir: string): void => {
  mkdirSync(binDir, { recursive: true })
  const shim = join(binDir, "manage")
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`
  writeFileSync(shim, `#!/bin/sh\nexec ${q(process.execPath)} ${q(manageScript)} "$@"\n`)
  chmodSync(shim, 0o755)
  const check = join(binDir, "agent-check")
  rmSync(check, { force: true })
  symlinkSync(agentCheckScript, check)
}

const startEmulator = async (port: number): Promise<ConsulEmulator> => {
  try {
    return await startConsulEmulator({ host: "127.0.0.1", port })
  } catch (e) {
    const busy = e instanceof Error && "code" in e && e.code === "EADDRINUSE"
    throw new Error(busy
      ? `127.0.0.1:${port} is in use (another \`npm run cluster\`, or a Consul agent?): stop it, or set CONSUL_HTTP_ADDR to use that Consul`
      : `cannot start the Consul emulator: ${e instanceof Error ? e.message : String(e)}`)
  }
}

export const startCluster = async (options: ClusterOptions): Promise<Cluster> => {
  if (!existsSync(manageScript)) throw new Error(`${manageScript} is missing: run \`npm run build\` first`)
  const root = resolve(options.root ?? ".cluster")
  const prefix = options.addressPrefix ?? "127.0.0"
  if (!/^127\.\d{1,3}\.\d{1,3}$/.test(prefix)) throw new Error(`addressPrefix ${JSON.stringify(prefix)}: expected 127.<n>.<n>`)
  const binDir = join(root, "bin")
  mkdirSync(root, { recursive: true })
  writeManageShim(binDir)

  const external = options.consul?.address ?? process.env["CONSUL_HTTP_ADDR"]
  const emulator = external === undefined ? await startEmulator(options.consulPort ?? 8500) : undefined
  const consulAddress = emulator?.address ?? stripScheme(external ?? "")
  const token = options.consul === undefined ? process.env["CONSUL_HTTP_TOKEN"] : undefined

  const nodes = new Map<number, ClusterNode>()
  const layout = (i: number): NodeLayout => {
    const dir = join(root, `node-${i}`)
    const address = `${prefix}.${10 + i}`
    const given = { ...options.env, ...options.perNodeEnv?.(i) }
    const env: Record<string, string> = {
      ...baseEnvironment(),
      HOSTNAME: `node-${i}`,
      ANNOUNCE_IP: address,
      BIND_ADDRESS: address,
      DATA_DIR: join(dir, "data"),
      CONFIG_DIR: join(dir, "etc"),
      BACKUP_DIR: join(root, "backups"),
      CONSUL: consulAddress,
      ...(token !== undefined && token !== "" ? { CONSUL_HTTP_TOKEN: token } : {}),
      ...given
    }
    env["PATH"] = `${binDir}:${given["PATH"] ?? process.env["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"}`
    return {
      index: i,
      address: env["ANNOUNCE_IP"] ?? address,
      redisPort: Number(env["REDIS_PORT"] ?? 6379),
      sentinelPort: Number(env["SENTINEL_PORT"] ?? 26379),
      dir,
      dataDir: env["DATA_DIR"] ?? join(dir, "data"),
      configDir: env["CONFIG_DIR"] ?? join(dir, "etc"),
      logDir: join(dir, "logs"),
      env,
      configPath
    }
  }
  const get = (i: number): ClusterNode => {
    const n = nodes.get(i)
    if (n === undefined) throw new Error(`no node ${i} (nodes: ${[...nodes.keys()].join(", ") || "none"})`)
    return n
  }
  const addNode = async (): Promise<number> => {
    const i = Math.max(0, ...nodes.keys()) + 1
    if (10 + i > 254) throw new Error("no loopback address left for another node")
    const node = new ClusterNode(layout(i))
    nodes.set(i, node)
    await node.start()
    return i
  }

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await Promise.allSettled([...nodes.values()].map((n) => n.stop()))
      await emulator?.close()
    })()
    return closing
  }

  const cluster: Cluster = {
    consul: emulator,
    consulAddress,
    root,
    node: (i) => {
      const n = get(i)
      const l = n.layout
      return {
        index: i,
        address: l.address,
        redisPort: l.redisPort,
        sentinelPort: l.sentinelPort,
        dataDir: l.dataDir,
        configDir: l.configDir,
        logDir: l.logDir,
        env: l.env,
        running: () => n.running(),
        pid: (job) => n.pid(job)
      }
    },
    nodes: () => [...nodes.keys()].sort((a, b) => a - b),
    addNode,
    stopNode: (i) => get(i).stop(),
    killNode: (i) => get(i).kill(),
    killProcess: (i, job) => get(i).signalProcess(job, "SIGKILL"),
    freezeProcess: (i, job, frozen) => get(i).signalProcess(job, frozen ? "SIGSTOP" : "SIGCONT"),
    startNode: (i, o) => get(i).start(o ?? {}),
    stopNodes: async (is) => {
      await Promise.all(is.map((i) => get(i).stop()))
    },
    startNodes: async (is, o) => {
      const nodesToStart = is.map(get)
      await Promise.all(nodesToStart.map((n, k) => n.prepare({ wipeData: o?.wipeData?.includes(is[k] ?? -1) ?? false })))
      for (const n of nodesToStart) n.go()
    },
    status: (json = false) => {
      const first = [...nodes.keys()].sort((a, b) => a - b)[0]
      if (first === undefined) return Promise.reject(new Error("status: the cluster has no node"))
      return runManage(get(first).layout.env, ["status", ...(json ? ["--json"] : [])])
    },
    close
  }

  try {
    await Promise.all(Array.from({ length: options.nodes }, () => addNode()))
  } catch (e) {
    await close()
    throw e
  }
  return cluster
}

/** Runs `manage <args>` with a node's environment; stdout, or an error carrying stderr. Killed after `timeoutMs` (30 s). */
export const runManage = (env: Readonly<Record<string, string>>, args: ReadonlyArray<string>, options: { readonly timeoutMs?: number } = {}): Promise<string> =>
  new Promise((resolvePromise, reject) => {
    execFile(process.execPath, [manageScript, ...args], { env, timeout: options.timeoutMs ?? 30_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`manage ${args.join(" ")} failed (${error.message.split("\n")[0] ?? ""}): ${String(stderr).trim()}`))
      else resolvePromise(String(stdout))
    })
  })

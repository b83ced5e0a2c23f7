// A real Consul agent (CONSUL_BIN, 1.10.3 here) for the cluster runner and the
// contract suite: one dev-mode server (in memory, its own leader) on one address, or a
// client agent that joins one (a node's own agent, CONSUL_AGENT).
// Its faults are real ones: `hang` is SIGSTOP (the kernel still accepts connections,
// nothing answers), losing its state is a restart (dev mode keeps nothing), and
// `down` (refused) is up to the runner, which rejects the nodes' packets to it.
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream } from "node:fs"

export interface RealConsul {
  /** host:port of its HTTP API. */
  readonly address: string
  /** SIGSTOP (true) or SIGCONT of the agent. */
  freeze(frozen: boolean): void
  /** Kills it and starts it afresh: every service, check, key and session is gone. */
  restartEmpty(): Promise<void>
  /** SIGKILL: gone without leaving, as an agent whose host was lost. */
  kill(): Promise<void>
  /** GET /v1/agent/services, as the emulator's services() lists them. */
  services(): Promise<ReadonlyArray<{ readonly id: string; readonly name: string; readonly address: string; readonly port: number }>>
  close(): Promise<void>
}

const leaderUp = async (address: string, ms: number): Promise<void> => {
  const deadline = Date.now() + ms
  let last = "no answer"
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://${address}/v1/status/leader`, { signal: AbortSignal.timeout(1_000) })
      const body = await r.text()
      if (r.ok && /^"[^"]+"$/.test(body.trim())) return
      last = `HTTP ${r.status} ${body.trim()}`
    } catch (e) {
      last = e instanceof Error ? e.message : String(e)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`Consul at ${address} elected no leader within ${ms} ms (${last})`)
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null

export interface ConsulHttps {
  readonly port: number
  readonly certFile: string
  readonly keyFile: string
  readonly caFile: string
}

/**
 * `https`: the API on that port too, over TLS with that certificate (plain HTTP stays
 * on `port` for the test's own reads, as an operator's local agent would keep it).
 */
export const startRealConsul = async (options: {
  readonly bin: string
  readonly bind: string
  readonly logFile: string
  readonly port?: number
  readonly https?: ConsulHttps
  /** A client agent of this name that joins the server at `join` (a node's own agent, CONSUL_AGENT), keeping its state in `dataDir`, instead of a dev-mode server. */
  readonly client?: { readonly node: string; readonly join: string; readonly dataDir: string }
}): Promise<RealConsul> => {
  const port = options.port ?? 8500
  const address = `${options.bind}:${port}`
  const https = options.https === undefined ? [] : [
    "-hcl", `ports { https = ${options.https.port} }`,
    "-hcl", `cert_file = ${JSON.stringify(options.https.certFile)}`,
    "-hcl", `key_file = ${JSON.stringify(options.https.keyFile)}`,
    "-hcl", `ca_file = ${JSON.stringify(options.https.caFile)}`
  ]
  const log = createWriteStream(options.logFile, { flags: "a" })
  log.on("error", () => {})
  let child: ChildProcess | undefined
  const launch = async (): Promise<void> => {
    const mode = options.client === undefined
      ? ["-dev", "-node", "consul"]
      : ["-node", options.client.node, "-data-dir", options.client.dataDir, "-retry-join", options.client.join]
    const started = spawn(options.bin, [
      "agent", ...mode, "-bind", options.bind, "-client", options.bind, "-http-port", String(port),
      "-dns-port", "-1", "-grpc-port", "-1", "-log-level", "warn", ...https
    ], { stdio: ["ignore", "pipe", "pipe"] })
    started.stdout?.pipe(log, { end: false })
    started.stderr?.pipe(log, { end: false })
    child = started
    const exited = new Promise<never>((_, reject) => started.once("exit", (code, signal) => reject(new Error(`consul exited (${signal ?? code ?? "?"}) before electing a leader; see ${options.logFile}`))))
    exited.catch(() => undefined)
    await Promise.race([leaderUp(address, 20_000), exited])
  }
  const stop = async (): Promise<void> => {
    const c = child
    child = undefined
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const gone = new Promise((r) => c.once("exit", r))
    c.kill("SIGCONT")
    c.kill("SIGKILL")
    await gone
  }
  const onExit = () => child?.kill("SIGKILL")
  process.once("exit", onExit)
  await launch()
  return {
    address,
    freeze: (frozen) => child?.kill(frozen ? "SIGSTOP" : "SIGCONT"),
    kill: stop,
    restartEmpty: async () => {
      await stop()
      await launch()
    },
    services: async () => {
      const r = await fetch(`http://${address}/v1/agent/services`, { signal: AbortSignal.timeout(2_000) })
      const body: unknown = await r.json()
      if (!isRecord(body)) throw new Error("GET /v1/agent/services: not an object")
      return Object.values(body).flatMap((s) =>
        isRecord(s) && typeof s["ID"] === "string" && typeof s["Service"] === "string"
          ? [{ id: s["ID"], name: s["Service"], address: typeof s["Address"] === "string" ? s["Address"] : "", port: typeof s["Port"] === "number" ? s["Port"] : 0 }]
          : [])
    },
    close: async () => {
      process.removeListener("exit", onExit)
      await stop()
      log.end()
    }
  }
}

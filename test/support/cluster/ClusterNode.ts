// One node of the local cluster as Docker would keep one container: its directories,
// its environment, and compose's `restart: unless-stopped` (a node whose PID 1 ended
// on its own is started again, fresh pre-start and all, with Docker's doubling delay;
// one the operator stopped or killed stays down until started again).
import { mkdirSync, rmSync } from "node:fs"
import { connect } from "node:net"
import { type ContainerExit, type Pilot, type PilotOptions } from "./ContainerPilot.ts"
import { appendLine } from "./ProcessGroup.ts"

export interface NodeLayout {
  readonly index: number
  readonly address: string
  readonly redisPort: number
  readonly sentinelPort: number
  readonly dir: string
  readonly dataDir: string
  readonly configDir: string
  readonly logDir: string
  readonly env: Readonly<Record<string, string>>
  readonly configPath: string
  /** Starts this node's ContainerPilot: the emulator, or the real binary in the node's own host. */
  readonly startPilot: (options: PilotOptions) => Pilot
}

/** Docker's restart delay: 100 ms doubling per quick exit, reset after 10 s of running (capped lower than Docker's 1 min for tests). */
const restartDelay = { firstMs: 100, maxMs: 10_000, resetAfterMs: 10_000 } as const

/** Resolves true when something accepts TCP connections at host:port. */
const answers = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (up: boolean) => {
      socket.destroy()
      resolve(up)
    }
    socket.setTimeout(500, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

export class ClusterNode {
  private pilot: Pilot | undefined
  private operatorStopped = true
  private restartTimer: NodeJS.Timeout | undefined
  private delayMs = 0
  private startedAt = 0

  readonly layout: NodeLayout

  constructor(layout: NodeLayout) {
    this.layout = layout
  }

  running(): boolean {
    return this.pilot !== undefined || this.restartTimer !== undefined
  }

  pid(job: string): number | undefined {
    return this.pilot?.pid(job)
  }

  /** Starts the node (its data dir kept unless `wipeData`); refuses when its addresses are taken. */
  async start(options: { readonly wipeData?: boolean } = {}): Promise<void> {
    await this.prepare(options)
    this.go()
  }

  /** Everything a start does before the container runs: checks its addresses are free, wipes and creates its directories. */
  async prepare(options: { readonly wipeData?: boolean } = {}): Promise<void> {
    if (this.running()) throw new Error(`node ${this.layout.index} is already running`)
    const l = this.layout
    for (const port of [l.redisPort, l.sentinelPort]) {
      if (await answers(l.address, port)) {
        throw new Error(`${l.address}:${port} is already in use (a Redis left over from an earlier run? see \`pgrep -a redis\`)`)
      }
    }
    if (options.wipeData === true) rmSync(l.dataDir, { recursive: true, force: true })
    for (const dir of [l.dataDir, l.configDir, l.logDir]) mkdirSync(dir, { recursive: true })
  }

  /** Runs the prepared container now (synchronously: several nodes started in one loop start at the same instant). */
  go(): void {
    this.operatorStopped = false
    this.delayMs = 0
    this.launch()
  }

  /** Graceful, like `docker stop`; the node stays down. */
  async stop(): Promise<void> {
    this.operatorStopped = true
    this.cancelRestart()
    await this.pilot?.stop()
  }

  /** SIGKILL of every process at once, like `docker kill`; the node stays down, its services stay registered. */
  async kill(): Promise<void> {
    this.operatorStopped = true
    this.cancelRestart()
    await this.pilot?.kill()
  }

  signalProcess(job: string, signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): void {
    if (this.pilot === undefined) throw new Error(`node ${this.layout.index} is not running`)
    if (!this.pilot.signalProcess(job, signal)) throw new Error(`node ${this.layout.index}: job ${job} has no running process`)
  }

  private launch(): void {
    const l = this.layout
    const pilot = l.startPilot({ configPath: l.configPath, env: l.env, logDir: l.logDir, cwd: l.dir })
    this.pilot = pilot
    this.startedAt = Date.now()
    void pilot.exited.then((how) => this.onExit(pilot, how))
  }

  private onExit(pilot: Pilot, how: ContainerExit): void {
    if (this.pilot !== pilot) return
    this.pilot = undefined
    if (this.operatorStopped || how === "stopped" || how === "killed") return
    const ranMs = Date.now() - this.startedAt
    this.delayMs = ranMs >= restartDelay.resetAfterMs || this.delayMs === 0 ? restartDelay.firstMs : Math.min(this.delayMs * 2, restartDelay.maxMs)
    appendLine(`${this.layout.logDir}/containerpilot.log`, `container exited (${how}) after ${ranMs} ms: restarting in ${this.delayMs} ms (restart: unless-stopped)`)
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined
      if (this.operatorStopped) return
      try {
        this.launch()
      } catch (e) {
        appendLine(`${this.layout.logDir}/containerpilot.log`, `restart failed: ${e instanceof Error ? e.message : String(e)}`)
      }
    }, this.delayMs)
  }

  private cancelRestart(): void {
    clearTimeout(this.restartTimer)
    this.restartTimer = undefined
  }
}

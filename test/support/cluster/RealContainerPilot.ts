// One node's real ContainerPilot 3.8.0 (CONTAINERPILOT_BIN), run as a container runs
// it: inside the node's own network namespace with a /tmp of its own (its control
// socket lives there), over the shipped containerpilot.json5 and the node's
// environment. Its output is kept whole in containerpilot.log and split per job
// (`job=<name>`) into <job>.log, the layout the emulator writes. A stop is SIGTERM to
// it, then SIGKILL of whatever is left in the namespace once it exited (Docker kills
// a container's other processes when PID 1 ends); a kill is SIGKILL of everything.
import { spawn } from "node:child_process"
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs"
import { basename, join } from "node:path"
import { createInterface } from "node:readline"
import { type ContainerPilotConfig, loadContainerPilotConfig, parseExec } from "../containerpilot/template.ts"
import { type ContainerExit, type Pilot, type PilotOptions } from "./ContainerPilot.ts"
import { type NodeHost } from "./Network.ts"

/** `/usr/bin/env A=b cmd args` runs `cmd args`: what the process list shows. */
const unwrapEnv = (argv: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (argv[0] === undefined || basename(argv[0]) !== "env") return argv
  const rest = argv.slice(1)
  const at = rest.findIndex((a) => !a.includes("="))
  return at < 0 ? [] : rest.slice(at)
}

/** Whether a process's command line is this job's exec (Redis rewrites its title; `manage` runs as node + the bundle). */
const runsExec = (exec: ReadonlyArray<string>) => (argv: ReadonlyArray<string>): boolean => {
  const [command, ...args] = exec
  if (command === undefined || argv.length === 0) return false
  const name = basename(command)
  const shown = [basename(argv[0] ?? ""), basename(argv[1] ?? "")]
  if (name.startsWith("redis-")) return shown[0]?.startsWith(name) === true
  if (!shown.some((s) => s.startsWith(name))) return false
  return args.length === 0 || argv.at(-1) === args.at(-1)
}

export class RealContainerPilot implements Pilot {
  private exitResolve: (how: ContainerExit) => void = () => {}
  readonly exited: Promise<ContainerExit> = new Promise((resolve) => (this.exitResolve = resolve))
  private requested: "stopped" | "killed" | undefined
  private readonly logs = new Map<string, WriteStream>()
  private readonly pilotPid: number | undefined

  private readonly options: PilotOptions
  private readonly host: NodeHost
  private readonly config: ContainerPilotConfig

  private constructor(options: PilotOptions, host: NodeHost, bin: string) {
    this.options = options
    this.host = host
    this.config = loadContainerPilotConfig(options.configPath, options.env)
    mkdirSync(options.logDir, { recursive: true })
    const hostname = options.env["HOSTNAME"] ?? "localhost"
    const { command, args } = host.wrap(bin, ["-config", options.configPath], { container: { hostname } })
    const child = spawn(command, [...args], { env: options.env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] })
    this.pilotPid = child.pid
    for (const stream of [child.stdout, child.stderr]) createInterface({ input: stream }).on("line", (line) => this.logLine(line))
    child.once("error", (e) => {
      this.logLine(`cannot run ${bin}: ${e.message}`)
      this.finish("crashed")
    })
    child.once("exit", () => {
      // Docker ends every other process of a container with its PID 1.
      this.host.killAll()
    })
    // After its output is read to the end.
    child.once("close", (code, signal) => {
      this.logLine(`containerpilot exited: ${signal ?? `code ${code ?? "?"}`}`)
      this.finish(this.requested ?? (code === 0 ? "terminated" : "crashed"))
    })
  }

  static start(options: PilotOptions, host: NodeHost, bin: string): RealContainerPilot {
    return new RealContainerPilot(options, host, bin)
  }

  pid(job: string): number | undefined {
    const exec = this.execOf(job)
    return exec === undefined ? undefined : this.host.findProcess(runsExec(exec))
  }

  signalProcess(job: string, signal: "SIGKILL" | "SIGSTOP" | "SIGCONT"): boolean {
    const pid = this.pid(job)
    if (pid === undefined) return false
    this.logLine(`operator: ${signal} ${job} (pid ${pid})`)
    try {
      process.kill(pid, signal)
      return true
    } catch {
      return false
    }
  }

  stop(): Promise<void> {
    this.requested ??= "stopped"
    if (this.pilotPid !== undefined) {
      try {
        process.kill(this.pilotPid, "SIGTERM")
      } catch {
        // exited already
      }
    }
    return this.exited.then(() => undefined)
  }

  kill(): Promise<void> {
    this.requested = "killed"
    this.host.killAll()
    return this.exited.then(() => undefined)
  }

  private execOf(job: string): ReadonlyArray<string> | undefined {
    const found = this.config.jobs.find((j) => j.name === job)
    if (found === undefined) throw new Error(`no job named ${JSON.stringify(job)} (jobs: ${this.config.jobs.map((j) => j.name).join(", ")})`)
    if (found.exec === undefined) return undefined
    const { command, args } = parseExec(found.exec)
    return unwrapEnv([command, ...args])
  }

  private finish(how: ContainerExit): void {
    for (const stream of this.logs.values()) stream.end()
    this.logs.clear()
    this.exitResolve(how)
  }

  private write(file: string, line: string): void {
    let stream = this.logs.get(file)
    if (stream === undefined) {
      stream = createWriteStream(join(this.options.logDir, file), { flags: "a" })
      stream.on("error", () => {})
      this.logs.set(file, stream)
    }
    stream.write(`${line}\n`)
  }

  private logLine(line: string): void {
    this.write("containerpilot.log", line)
    // time="…" level=info msg="<the job's own line>" job=<name> pid=<n>
    const job = / msg="(.*)" job=([a-zA-Z0-9-]+) pid=\d+\s*$/.exec(line)
    if (job?.[1] !== undefined && job[2] !== undefined) this.write(`${job[2]}.log`, job[1])
  }
}

// One child process in its own process group, as ContainerPilot runs every exec
// (Setpgid, signals sent to the whole group so a Redis BGSAVE child dies with its
// parent). Output is appended to a log file through an inherited descriptor, so it
// survives the runner. Every group started here is tracked until it exits, so a
// dying runner can SIGKILL what is left; nothing else is ever signalled.
import { type ChildProcess, spawn } from "node:child_process"
import { appendFileSync, closeSync, mkdirSync, openSync } from "node:fs"
import { dirname } from "node:path"

export interface ProcessExit {
  /** Exit code, or null when a signal ended the process. */
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  /** Spawn failure (e.g. ENOENT), or "timeout" when the timeout killed it. */
  readonly error?: string
}

/** ContainerPilot's rule: only a clean exit 0 is a success; killed or failed to start is a failure. */
export const succeeded = (exit: ProcessExit): boolean => exit.code === 0 && exit.error === undefined

export const describeExit = (exit: ProcessExit): string =>
  exit.error !== undefined ? exit.error : exit.signal !== null ? `killed by ${exit.signal}` : `exit ${exit.code ?? "?"}`

export interface ProcessGroup {
  /** Undefined when the command could not be started. */
  readonly pid: number | undefined
  readonly exited: Promise<ProcessExit>
  running(): boolean
  /** Signals the whole group; a no-op once the leader has exited. */
  signal(signal: "SIGTERM" | "SIGKILL" | "SIGSTOP" | "SIGCONT"): void
}

export interface SpawnOptions {
  readonly command: string
  readonly args: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly cwd: string
  /** Appended to; created with its directory when missing. */
  readonly logFile: string
  /** SIGKILL of the group after this many milliseconds (ContainerPilot's exec timeout). */
  readonly timeoutMs?: number
}

const live = new Set<ChildProcess>()

const signalGroup = (pid: number, signal: NodeJS.Signals): void => {
  try {
    process.kill(-pid, signal)
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** SIGKILLs every group this module started that has not exited: the runner's last resort. */
export const killAllGroups = (): void => {
  for (const child of live) if (child.pid !== undefined) signalGroup(child.pid, "SIGKILL")
}

process.once("exit", killAllGroups)

export const appendLine = (file: string, line: string): void => {
  try {
    mkdirSync(dirname(file), { recursive: true })
    appendFileSync(file, `${new Date().toISOString()} ${line}\n`)
  } catch {
    // A log line is never worth failing a run for (e.g. the directory was removed).
  }
}

export const spawnGroup = (options: SpawnOptions): ProcessGroup => {
  mkdirSync(dirname(options.logFile), { recursive: true })
  const fd = openSync(options.logFile, "a")
  let child: ChildProcess
  try {
    child = spawn(options.command, [...options.args], {
      env: options.env,
      cwd: options.cwd,
      detached: true,
      stdio: ["ignore", fd, fd]
    })
  } finally {
    closeSync(fd)
  }
  const pid = child.pid
  let done = false
  let timedOut = false
  if (pid !== undefined) live.add(child)
  const exited = new Promise<ProcessExit>((resolve) => {
    const finish = (exit: ProcessExit): void => {
      if (done) return
      done = true
      live.delete(child)
      clearTimeout(timer)
      resolve(exit)
    }
    child.once("error", (e) => finish({ code: null, signal: null, error: `cannot run ${options.command}: ${e.message}` }))
    child.once("exit", (code, signal) => finish({ code, signal, ...(timedOut ? { error: "timeout" } : {}) }))
  })
  const timer = options.timeoutMs === undefined || pid === undefined
    ? undefined
    : setTimeout(() => {
      timedOut = true
      signalGroup(pid, "SIGKILL")
    }, options.timeoutMs)
  return {
    pid,
    exited,
    running: () => pid !== undefined && !done,
    signal: (signal) => {
      // Only while the leader lives: once it is reaped its PID (the group id) may be reused.
      if (pid !== undefined && !done) signalGroup(pid, signal)
    }
  }
}

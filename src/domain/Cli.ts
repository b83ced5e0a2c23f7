// The `manage` command line: every handler ContainerPilot or an operator calls,
// parsed into a closed union.
export type Command =
  | { readonly _tag: "pre-start" }
  | { readonly _tag: "health"; readonly role: "master" | "replica" }
  | { readonly _tag: "health-sentinel" }
  | { readonly _tag: "agent" }
  | { readonly _tag: "backup"; readonly now: boolean }
  | { readonly _tag: "pre-stop" }
  | { readonly _tag: "status"; readonly json: boolean }
  | { readonly _tag: "list"; readonly json: boolean }
  | { readonly _tag: "switchover"; readonly to: string | undefined }
  | { readonly _tag: "pause" }
  | { readonly _tag: "resume" }
  | { readonly _tag: "config-docs" }
  | { readonly _tag: "setup-env"; readonly key: string; readonly out: string; readonly followSymlinks: boolean }
  | { readonly _tag: "help" }

export interface Handler {
  readonly usage: string
  readonly summary: string
}

/** Every handler, in the order `--help` lists them; tests check containerpilot.json5 against these names. */
export const handlers = {
  "pre-start": { usage: "pre-start", summary: "choose this node's role, restore if founding an empty cluster, render redis.conf and sentinel.conf" },
  agent: { usage: "agent", summary: "the node's long-lived controller: verdicts, Consul registrations, read-only HTTP API on API_PORT" },
  health: { usage: "health master|replica", summary: "the agent's verdict (exit 0 pass, 1 fail); judged here when the agent does not answer" },
  "health-sentinel": { usage: "health-sentinel", summary: "pass if the local Sentinel monitors MASTER_NAME (the agent's verdict)" },
  backup: { usage: "backup [--now]", summary: "take a verified backup when due and this node is elected (--now: regardless)" },
  "pre-stop": { usage: "pre-stop", summary: "hand the master role to a caught-up replica before Redis stops" },
  status: { usage: "status [--json]", summary: "print the cluster: master, replicas and lag, sentinels, last backup" },
  list: { usage: "list [--json]", summary: "one line per node: address, role, state, lag in bytes, priority, last check" },
  switchover: { usage: "switchover [--to NODE]", summary: "hand the master role to a caught-up replica (NODE: name or address) with no acknowledged write lost" },
  pause: { usage: "pause", summary: "maintenance: no automatic failover (every replica at priority 0), agents and handlers change nothing" },
  resume: { usage: "resume", summary: "end maintenance: every node's REPLICA_PRIORITY back, automatic failover again" },
  config: { usage: "config --docs", summary: "print every environment variable, its default and what it expects (markdown)" },
  "setup-env": {
    usage: "setup-env --key <ssh private key> [--out _env] [--follow-symlinks]",
    summary: "write MANTA_KEY_ID and MANTA_PRIVATE_KEY for that key into _env (a regular file; a symlink only with --follow-symlinks)"
  }
} as const satisfies Record<string, Handler>

export const usage = (): string =>
  [
    "usage: manage <handler> [args]",
    "",
    ...Object.values(handlers).map((h) => `  ${h.usage.padEnd(48)} ${h.summary}`),
    "",
    "Configuration comes from the environment: see `manage config --docs`.",
    "Exit codes: 0 success or pass, 1 failure, 2 invalid usage or environment."
  ].join("\n")

export type Parsed = { readonly _tag: "Ok"; readonly command: Command } | { readonly _tag: "Usage"; readonly problem: string }

const ok = (command: Command): Parsed => ({ _tag: "Ok", command })
const bad = (problem: string): Parsed => ({ _tag: "Usage", problem })

const flags = (rest: ReadonlyArray<string>, allowed: ReadonlyArray<string>): Set<string> | string => {
  const unknown = rest.filter((a) => !allowed.includes(a))
  return unknown.length > 0 ? `unexpected argument ${JSON.stringify(unknown[0])}` : new Set(rest)
}

export const parseCommand = (argv: ReadonlyArray<string>): Parsed => {
  const [name, ...rest] = argv
  switch (name) {
    case undefined:
      return bad("no handler given")
    case "--help":
    case "-h":
    case "help":
      return ok({ _tag: "help" })
    case "pre-start":
    case "health-sentinel":
    case "pre-stop":
    case "pause":
    case "resume":
    case "agent":
      return rest.length === 0 ? ok({ _tag: name }) : bad(`${name} takes no arguments`)
    case "health":
      return rest.length === 1 && (rest[0] === "master" || rest[0] === "replica")
        ? ok({ _tag: "health", role: rest[0] })
        : bad("health takes one argument: master or replica")
    case "backup":
    case "list":
    case "status": {
      const f = flags(rest, [name === "backup" ? "--now" : "--json"])
      if (typeof f === "string") return bad(`${name}: ${f}`)
      return ok(name === "backup" ? { _tag: "backup", now: f.has("--now") } : { _tag: name, json: f.has("--json") })
    }
    case "switchover":
      if (rest.length === 0) return ok({ _tag: "switchover", to: undefined })
      return rest.length === 2 && rest[0] === "--to" && rest[1] !== undefined && rest[1] !== "" && !rest[1].startsWith("-")
        ? ok({ _tag: "switchover", to: rest[1] })
        : bad("switchover takes [--to NODE]")
    case "config":
      return rest.length === 1 && rest[0] === "--docs" ? ok({ _tag: "config-docs" }) : bad("config takes --docs")
    case "setup-env": {
      const usage = bad("setup-env takes --key <file> [--out <file>] [--follow-symlinks]")
      const options = new Map<string, string>()
      let followSymlinks = false
      let i = 0
      while (i < rest.length) {
        const [name, value] = [rest[i], rest[i + 1]]
        if (name === "--follow-symlinks") {
          followSymlinks = true
          i += 1
          continue
        }
        if ((name !== "--key" && name !== "--out") || value === undefined || value.startsWith("--") || value === "" || options.has(name)) {
          return usage
        }
        options.set(name, value)
        i += 2
      }
      const key = options.get("--key")
      return key === undefined ? usage : ok({ _tag: "setup-env", key, out: options.get("--out") ?? "_env", followSymlinks })
    }
    default:
      return bad(`unknown handler ${JSON.stringify(name)}`)
  }
}

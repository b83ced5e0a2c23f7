// The `manage` command line: every handler ContainerPilot or an operator calls, as a
// closed union, and the table of handlers with their usage and summary (the help text
// and the checks of containerpilot.json5 read it). Parsing is Effect's CLI module (src/cli.ts).
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

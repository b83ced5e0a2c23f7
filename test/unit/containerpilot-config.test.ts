// containerpilot.json5 as ContainerPilot 3.8.0 would see it: rendered over an empty
// environment (every default) and over a full `_env` (every variable changed), then
// checked job by job against DESIGN.md §1 and the handler contract. Also pins the
// template renderer's ContainerPilot semantics and _env.example's completeness.
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import JSON5 from "json5"
import { describe, expect, it } from "vitest"
import { Effect } from "effect"
import { cliEnvironment, parseArgs } from "../../src/cli.ts"
import { variables } from "../../src/domain/Settings.ts"
import {
  type ContainerPilotConfig,
  type Job,
  jobNamePattern,
  loadContainerPilotConfig,
  parseDuration,
  parseExec,
  renderContainerPilotTemplate,
  TemplateError
} from "../support/containerpilot/template.ts"

const configPath = fileURLToPath(new URL("../../containerpilot.json5", import.meta.url))
const envExamplePath = fileURLToPath(new URL("../../_env.example", import.meta.url))

/** A `manage` invocation is allowed when the real CLI parses it as a handler. */
const isManageHandler = (args: ReadonlyArray<string>): boolean =>
  Effect.runSync(parseArgs(args).pipe(Effect.provide(cliEnvironment)))._tag === "Ok"
const binaries: ReadonlyArray<string> = ["redis-server", "redis-sentinel", "/bin/sh", "agent-check", "consul"]

/** The environment contract: every variable and its literal default (undefined: none, or derived). Checked against src/domain/Settings.ts below. */
const contractDefaults: Readonly<Record<string, string | undefined>> = {
  CONSUL: "consul", CONSUL_AGENT: "false", CONSUL_HTTP_TOKEN: undefined, CONSUL_HTTP_TOKEN_FILE: undefined, LOG_LEVEL: "info", LOG_FORMAT: "text",
  CONSUL_HTTP_SSL: "false", CONSUL_CACERT: undefined, CONSUL_TLS_SERVER_NAME: undefined,
  TLS_CERT_FILE: undefined, TLS_KEY_FILE: undefined, TLS_CA_FILE: undefined, TLS_AUTH_CLIENTS: "no",
  SERVICE_NAME: "redis", MASTER_NAME: "mymaster", HOSTNAME: undefined,
  REDIS_PORT: "6379", SENTINEL_PORT: "26379", REDIS_PASSWORD: undefined, REDIS_PASSWORD_FILE: undefined,
  REDIS_APP_PASSWORD: undefined, REDIS_APP_PASSWORD_FILE: undefined, REDIS_APP_USER: "app",
  REDIS_PASSWORD_ACCEPTED: undefined, REDIS_PASSWORD_ACCEPTED_FILE: undefined, REDIS_APP_PASSWORD_ACCEPTED: undefined, REDIS_APP_PASSWORD_ACCEPTED_FILE: undefined, ANNOUNCE_IP: undefined, BIND_ADDRESS: "0.0.0.0", API_PORT: "8008",
  PEERS: undefined, FOUNDING_GRACE: "20s",
  SENTINEL_QUORUM: "2", SENTINEL_DOWN_AFTER: "5s", SENTINEL_FAILOVER_TIMEOUT: "30s", SENTINEL_PARALLEL_SYNCS: "1",
  REDIS_MIN_REPLICAS_TO_WRITE: "0", REDIS_MIN_REPLICAS_MAX_LAG: "5s", FENCE_AFTER: undefined, REPLICA_PRIORITY: "100", REDIS_REPL_BACKLOG_SIZE: "64mb", MASTER_WAIT_TIMEOUT: "60s",
  DATA_DIR: "/data", CONFIG_DIR: "/etc/redis",
  HEALTH_INTERVAL: "5", HEALTH_TTL: "15", HEALTH_TIMEOUT: "4s", PRESTART_TIMEOUT: "10m", PRESTOP_TIMEOUT: "15s",
  BACKUP_STORE: undefined, BACKUP_INTERVAL: "24h", BACKUP_CHECK_INTERVAL: "5m", BACKUP_TIMEOUT: "30m", BACKUP_STALL_TIMEOUT: "60s", BACKUP_KEEP: "7",
  BACKUP_DIR: "/backups",
  MANTA_URL: "https://us-central.manta.mnx.io", MANTA_USER: undefined, MANTA_SUBUSER: undefined, MANTA_ROLE: undefined,
  MANTA_KEY_ID: undefined, MANTA_PRIVATE_KEY: undefined, MANTA_PRIVATE_KEY_FILE: undefined, MANTA_BUCKET: undefined
}

/**
 * A full `_env`: every variable set, none to its default. (`manage` refuses a secret
 * beside its `_FILE`; the template reads neither `_FILE`, so both are set here.)
 */
const fullEnv: Readonly<Record<string, string>> = {
  CONSUL: "consul.internal:8600", CONSUL_AGENT: "true", CONSUL_HTTP_TOKEN: "6f1c0a52-token", CONSUL_HTTP_SSL: "true", CONSUL_CACERT: "/srv/consul/ca.pem", CONSUL_TLS_SERVER_NAME: "server.dc1.consul", LOG_LEVEL: "debug", LOG_FORMAT: "json",
  TLS_CERT_FILE: "/srv/tls/node.pem", TLS_KEY_FILE: "/srv/tls/node-key.pem", TLS_CA_FILE: "/srv/tls/ca.pem", TLS_AUTH_CLIENTS: "optional",
  SERVICE_NAME: "cache", MASTER_NAME: "cachemaster", HOSTNAME: "node-1",
  REDIS_PORT: "7000", SENTINEL_PORT: "27000", REDIS_PASSWORD: "s3cret", REDIS_APP_PASSWORD: "app-s3cret", REDIS_APP_USER: "web",
  REDIS_PASSWORD_ACCEPTED: "next-s3cret", REDIS_APP_PASSWORD_ACCEPTED: "app-next-s3cret", ANNOUNCE_IP: "10.1.2.3", BIND_ADDRESS: "10.1.2.3", API_PORT: "8018",
  PEERS: "cache", FOUNDING_GRACE: "40s",
  SENTINEL_QUORUM: "3", SENTINEL_DOWN_AFTER: "3s", SENTINEL_FAILOVER_TIMEOUT: "1m", SENTINEL_PARALLEL_SYNCS: "2",
  REDIS_MIN_REPLICAS_TO_WRITE: "1", REDIS_MIN_REPLICAS_MAX_LAG: "10s", FENCE_AFTER: "1s", REPLICA_PRIORITY: "50", REDIS_REPL_BACKLOG_SIZE: "256mb", MASTER_WAIT_TIMEOUT: "2m",
  DATA_DIR: "/srv/redis/data", CONFIG_DIR: "/srv/redis/conf",
  HEALTH_INTERVAL: "3", HEALTH_TTL: "10", HEALTH_TIMEOUT: "2500ms", PRESTART_TIMEOUT: "20m", PRESTOP_TIMEOUT: "25s",
  BACKUP_STORE: "manta", BACKUP_INTERVAL: "6h", BACKUP_CHECK_INTERVAL: "10m", BACKUP_TIMEOUT: "45m", BACKUP_STALL_TIMEOUT: "2m", BACKUP_KEEP: "14",
  BACKUP_DIR: "/srv/backups",
  MANTA_URL: "https://manta.example.com", MANTA_USER: "acme", MANTA_SUBUSER: "ops", MANTA_ROLE: "backup",
  MANTA_KEY_ID: "SHA256:Xq0m7fS1lqvRZ3aR3lNKMQ1j1cFq6hPnZpB3cJ8bq0A",
  MANTA_PRIVATE_KEY: "-----BEGIN OPENSSH PRIVATE KEY-----#b3BlbnNzaC1rZXktdjEAAAAA#-----END OPENSSH PRIVATE KEY-----",
  MANTA_BUCKET: "/acme/stor/cache-backups",
  CONSUL_HTTP_TOKEN_FILE: "/run/secrets/consul_http_token", REDIS_PASSWORD_FILE: "/run/secrets/redis_password", REDIS_APP_PASSWORD_FILE: "/run/secrets/redis_app_password",
  REDIS_PASSWORD_ACCEPTED_FILE: "/run/secrets/redis_password_accepted", REDIS_APP_PASSWORD_ACCEPTED_FILE: "/run/secrets/redis_app_password_accepted",
  MANTA_PRIVATE_KEY_FILE: "/run/secrets/manta_private_key"
}

const topLevelKeys = ["consul", "logging", "stopTimeout", "jobs", "watches", "control", "telemetry"]

const load = (env: Readonly<Record<string, string | undefined>>): ContainerPilotConfig => loadContainerPilotConfig(configPath, env)
const rawConfig = (env: Readonly<Record<string, string | undefined>>): Record<string, unknown> =>
  JSON5.parse(renderContainerPilotTemplate(readFileSync(configPath, "utf8"), env))

const job = (config: ContainerPilotConfig, name: string): Job => {
  const found = config.jobs.find((j) => j.name === name)
  if (found === undefined) throw new Error(`no job ${name} in ${config.jobs.map((j) => j.name).join(", ")}`)
  return found
}

/** `/usr/bin/env VAR=value … command args`: the command that really runs, and the variables it gets. */
const unwrapEnv = (command: string, args: ReadonlyArray<string>): { readonly command: string; readonly args: ReadonlyArray<string>; readonly env: ReadonlyArray<string> } => {
  if (command !== "/usr/bin/env") return { command, args, env: [] }
  const env = args.filter((_, i) => args.slice(0, i + 1).every((b) => b.includes("=")))
  const [real = "", ...rest] = args.slice(env.length)
  return { command: real, args: rest, env }
}

const expectAllowedCommand = (where: string, exec: Job["exec"]): void => {
  if (exec === undefined) throw new Error(`${where}: no exec`)
  const parsed = parseExec(exec)
  const { command, args, env } = unwrapEnv(parsed.command, parsed.args)
  for (const e of env) expect(e, `${where}: only NODE_OPTIONS and GLIBC_TUNABLES may be set`).toMatch(/^(NODE_OPTIONS|GLIBC_TUNABLES)=/)
  if (command === "manage") expect(isManageHandler(args), `${where}: manage ${args.join(" ")} is not a handler the CLI accepts`).toBe(true)
  else expect(binaries, `${where}: ${command}`).toContain(command)
}

/** The rendered values that depend on the environment, per scenario. */
interface Expected {
  /** The consul-agent job's exec when CONSUL_AGENT=true, else undefined (no such job). */
  readonly agent: ReadonlyArray<string> | undefined
  readonly consul: { readonly address: string; readonly scheme: "http" | "https"; readonly verify: boolean }
  readonly service: string
  readonly redisPort: number
  readonly sentinelPort: number
  readonly interfaces: ReadonlyArray<string>
  /** Where the health checks find this node's agent: BIND_ADDRESS (loopback when all interfaces) and API_PORT. */
  readonly api: readonly [string, string]
  readonly interval: number
  readonly ttl: number
  readonly checkTimeout: string
  readonly configDir: string
  readonly prestart: string
  readonly prestop: string
  readonly backupEvery: string
  readonly backupTimeout: string
  readonly logging: { readonly level: string; readonly format: string }
}

const scenarios: ReadonlyArray<readonly [string, Readonly<Record<string, string | undefined>>, Expected]> = [
  ["the defaults (empty environment)", {}, {
    agent: undefined,
    consul: { address: "consul:8500", scheme: "http", verify: false }, service: "redis", redisPort: 6379, sentinelPort: 26379, interfaces: ["eth0:inet", "inet"], api: ["127.0.0.1", "8008"],
    interval: 5, ttl: 15, checkTimeout: "4s", configDir: "/etc/redis", prestart: "10m", prestop: "15s",
    backupEvery: "5m", backupTimeout: "30m", logging: { level: "info", format: "text" }
  }],
  // Beside CONSUL_AGENT manage refuses a port in CONSUL and HTTPS: the rest of the full _env.
  ["a full _env, with this node's own Consul agent", { ...fullEnv, CONSUL: "consul.internal", CONSUL_HTTP_SSL: "false", CONSUL_CACERT: undefined, CONSUL_TLS_SERVER_NAME: undefined }, {
    agent: ["consul", "agent", "-data-dir=/tmp/consul-agent", "-client=127.0.0.1", "-retry-join=consul.internal", "-bind=0.0.0.0", "-advertise=10.1.2.3", "-log-level=warn"],
    consul: { address: "127.0.0.1:8500", scheme: "http", verify: false }, service: "cache", redisPort: 7000, sentinelPort: 27000, interfaces: ["static:10.1.2.3"], api: ["10.1.2.3", "8018"],
    interval: 3, ttl: 10, checkTimeout: "2500ms", configDir: "/srv/redis/conf", prestart: "20m", prestop: "25s",
    backupEvery: "10m", backupTimeout: "45m", logging: { level: "debug", format: "json" }
  }],
  ["a full _env, Consul over HTTPS (no agent of its own)", { ...fullEnv, CONSUL_AGENT: "false" }, {
    agent: undefined,
    consul: { address: "consul.internal:8600", scheme: "https", verify: true }, service: "cache", redisPort: 7000, sentinelPort: 27000, interfaces: ["static:10.1.2.3"], api: ["10.1.2.3", "8018"],
    interval: 3, ttl: 10, checkTimeout: "2500ms", configDir: "/srv/redis/conf", prestart: "20m", prestop: "25s",
    backupEvery: "10m", backupTimeout: "45m", logging: { level: "debug", format: "json" }
  }]
]

describe("containerpilot.json5", () => {
  describe.each(scenarios)("rendered for %s", (_, env, x) => {
    const config = load(env)

    it("has only ContainerPilot's top-level keys", () => {
      for (const key of Object.keys(rawConfig(env))) expect(topLevelKeys).toContain(key)
    })

    it("points at Consul as host:port, over HTTPS verifying its certificate when asked, and logs as asked", () => {
      expect(config.consul).toEqual(x.consul)
      expect(config.logging).toEqual({ ...x.logging, output: "stdout" })
    })

    it("names every job by ContainerPilot's rule, once", () => {
      const names = config.jobs.map((j) => j.name)
      for (const name of names) expect(name).toMatch(jobNamePattern)
      expect(new Set(names).size).toBe(names.length)
      expect(names).toEqual([
        ...(x.agent === undefined ? [] : ["consul-agent", "consul-agent-hold"]),
        "preStart", "preStart-failed", "redis-server", "agent", `${x.service}-sentinel`, x.service, `${x.service}-replica`, "backup", "preStop"
      ])
    })

    it("runs only manage handlers of the contract and the expected binaries", () => {
      for (const j of config.jobs) {
        if (j.exec !== undefined) expectAllowedCommand(`${j.name}.exec`, j.exec)
        if (j.health !== undefined) expectAllowedCommand(`${j.name}.health.exec`, j.health.exec)
      }
    })

    it("listens only to events of jobs that exist", () => {
      const names = new Set(config.jobs.map((j) => j.name))
      for (const j of config.jobs) if (j.when !== undefined && "source" in j.when) expect(names).toContain(j.when.source)
    })

    it("starts with pre-start, bounded by PRESTART_TIMEOUT, and stops the container when it fails", () => {
      expect(job(config, "preStart")).toEqual({
        name: "preStart",
        exec: ["/usr/bin/env", "NODE_OPTIONS=--max-semi-space-size=1", "manage", "pre-start"],
        timeout: x.prestart
      })
      const failed = job(config, "preStart-failed")
      expect(failed.when).toEqual({ source: "preStart", once: "exitFailed" })
      expect(failed.exec).toEqual(["/bin/sh", "-c", "kill -TERM \"$CONTAINERPILOT_PID\""])
    })

    it("runs this node's own Consul agent, joining CONSUL and restarted, only with CONSUL_AGENT=true", () => {
      if (x.agent === undefined) {
        expect(config.jobs.map((j) => j.name)).not.toContain("consul-agent")
        return
      }
      // Started beside pre-start, not before it: pre-start waits for Consul as for any outage.
      expect(job(config, "consul-agent")).toEqual({ name: "consul-agent", exec: x.agent, restarts: "unlimited", stopTimeout: x.prestop })
      // On a stop its SIGTERM (and so its leave) is held until Redis has exited.
      expect(job(config, "consul-agent-hold")).toEqual({
        name: "consul-agent-hold",
        exec: ["/bin/sh", "-c", "while kill -0 \"$CONTAINERPILOT_REDIS_SERVER_PID\" 2>/dev/null; do sleep 0.1; done"],
        when: { source: "consul-agent", once: "stopping" },
        timeout: x.prestop
      })
    })

    it("runs redis-server after pre-start, restarted, and waiting PRESTOP_TIMEOUT for pre-stop", () => {
      expect(job(config, "redis-server")).toEqual({
        name: "redis-server",
        exec: ["redis-server", `${x.configDir}/redis.conf`],
        when: { source: "preStart", once: "exitSuccess" },
        restarts: "unlimited",
        stopTimeout: x.prestop
      })
    })

    it("runs the agent after pre-start, restarted whenever it exits, with its memory settings", () => {
      expect(job(config, "agent")).toEqual({
        name: "agent",
        exec: ["/usr/bin/env", "NODE_OPTIONS=--jitless --max-semi-space-size=1", "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=16384", "manage", "agent"],
        when: { source: "preStart", once: "exitSuccess" },
        restarts: "unlimited"
      })
    })

    it("runs pre-stop when redis-server is stopping, within the same bound", () => {
      expect(job(config, "preStop")).toEqual({
        name: "preStop",
        exec: ["manage", "pre-stop"],
        when: { source: "redis-server", once: "stopping" },
        timeout: x.prestop
      })
    })

    it("advertises the sentinel on SENTINEL_PORT with its health check", () => {
      expect(job(config, `${x.service}-sentinel`)).toEqual({
        name: `${x.service}-sentinel`,
        exec: ["redis-sentinel", `${x.configDir}/sentinel.conf`],
        when: { source: "preStart", once: "exitSuccess" },
        restarts: "unlimited",
        port: x.sentinelPort,
        interfaces: x.interfaces,
        health: { exec: ["agent-check", "/sentinel", ...x.api, String(x.interval)], interval: x.interval, ttl: x.ttl, timeout: x.checkTimeout }
      })
    })

    it.each([{ suffix: "", role: "master" }, { suffix: "-replica", role: "replica" }])("advertises the exec-less $role role job on REDIS_PORT", ({ suffix, role }) => {
      const name = `${x.service}${suffix}`
      expect(job(config, name)).toEqual({
        name,
        when: { source: "preStart", once: "exitSuccess" },
        port: x.redisPort,
        interfaces: x.interfaces,
        health: { exec: ["agent-check", `/${role}`, ...x.api, String(x.interval)], interval: x.interval, ttl: x.ttl, timeout: x.checkTimeout }
      })
      // ContainerPilot never re-registers a service Consul removed (DESIGN.md §1).
      const raw = (rawConfig(env)["jobs"] as ReadonlyArray<Record<string, unknown>>).find((j) => j["name"] === name)
      expect(raw).toBeDefined()
      expect(raw).not.toHaveProperty("exec")
      expect(raw).not.toHaveProperty("consul")
    })

    it("checks health within the interval and heartbeats within the TTL", () => {
      for (const j of config.jobs) {
        if (j.health === undefined) continue
        expect(parseDuration(j.health.timeout ?? "0")).toBeGreaterThan(0)
        expect(parseDuration(j.health.timeout ?? "0")).toBeLessThanOrEqual(j.health.interval * 1000)
        expect(j.health.ttl).toBeGreaterThan(j.health.interval)
      }
    })

    it("checks for a due backup every BACKUP_CHECK_INTERVAL, killed after BACKUP_TIMEOUT", () => {
      expect(job(config, "backup")).toEqual({
        name: "backup",
        exec: ["/usr/bin/env", "NODE_OPTIONS=--max-semi-space-size=1", "manage", "backup"],
        when: { interval: x.backupEvery },
        restarts: "unlimited",
        timeout: x.backupTimeout
      })
    })

    it("waits only a moment after the jobs stopped (ContainerPilot always waits all of it): Redis was shut down by pre-stop, on redis-server's stopping", () => {
      expect(Number.isInteger(config.stopTimeout)).toBe(true)
      expect(config.stopTimeout).toBeLessThanOrEqual(1)
      expect(job(config, "preStop").when).toEqual({ source: "redis-server", once: "stopping" })
    })
  })

  it.each([
    ["a bare host", "10.0.0.9", "10.0.0.9:8500"],
    ["a host with a port", "10.0.0.9:8501", "10.0.0.9:8501"],
    ["a name with a port", "consul.service:9500", "consul.service:9500"],
    ["an empty value (as compose writes CONSUL=)", "", "consul:8500"]
  ])("turns CONSUL given as %s into host:port", (_, consul, expected) => {
    expect(load({ CONSUL: consul }).consul.address).toBe(expected)
    expect(load({ CONSUL: consul, CONSUL_HTTP_SSL: "true" }).consul).toEqual({ address: expected, scheme: "https", verify: true })
  })

  it("lets the agent bind eth0's address through Consul's own template when ANNOUNCE_IP is unset (a Swarm task has two private addresses)", () => {
    const agent = load({ CONSUL_AGENT: "true", CONSUL: "tasks.consul" })
    expect(agent.consul).toEqual({ address: "127.0.0.1:8500", scheme: "http", verify: false })
    expect(job(agent, "consul-agent").exec).toEqual([
      "consul", "agent", "-data-dir=/tmp/consul-agent", "-client=127.0.0.1", "-retry-join=tasks.consul", "-bind={{ GetInterfaceIP \"eth0\" }}", "-log-level=warn"
    ])
  })

  it("interfaces fall back to eth0 when ANNOUNCE_IP is empty", () => {
    expect(job(load({ ANNOUNCE_IP: "" }), "redis").interfaces).toEqual(["eth0:inet", "inet"])
  })
})

describe("_env.example", () => {
  const lines = readFileSync(envExamplePath, "utf8").split("\n")
  const shown = new Map<string, string>()
  for (const line of lines) {
    const m = /^#?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m?.[1] !== undefined) shown.set(m[1], m[2] ?? "")
  }

  it("documents every variable of the contract with its default", () => {
    for (const [name, def] of Object.entries(contractDefaults)) {
      expect(shown.has(name), name).toBe(true)
      if (def !== undefined) expect(shown.get(name), name).toBe(def)
    }
  })

  it("shows MANTA_PRIVATE_KEY on one line, newlines written as '#'", () => {
    expect(shown.get("MANTA_PRIVATE_KEY")).toMatch(/^-----BEGIN [A-Z ]*PRIVATE KEY-----#.+#-----END [A-Z ]*PRIVATE KEY-----$/)
  })

  it("the full _env of these tests sets every variable to a non-default value", () => {
    for (const [name, def] of Object.entries(contractDefaults)) {
      expect(fullEnv[name], name).toBeDefined()
      expect(fullEnv[name], name).not.toBe(def)
    }
  })
})

describe("renderContainerPilotTemplate (ContainerPilot 3.8.0 semantics)", () => {
  const render = (text: string, env: Readonly<Record<string, string | undefined>> = {}) => renderContainerPilotTemplate(text, env)

  it("renders a missing variable as empty and `default` replaces empty values", () => {
    expect(render("a{{ .MISSING }}b")).toBe("ab")
    expect(render("{{ .X | default \"y\" }}", { X: "" })).toBe("y")
    expect(render("{{ .X | default \"y\" }}", { X: "x" })).toBe("x")
    expect(render("{{ .X | default 5 }}")).toBe("5")
  })

  it("chooses if/else branches by Go truthiness", () => {
    expect(render("{{ if .X }}yes{{ else }}no{{ end }}", { X: "1" })).toBe("yes")
    expect(render("{{ if .X }}yes{{ else }}no{{ end }}", { X: "" })).toBe("no")
    expect(render("{{ if .X }}{{ if .Y }}xy{{ else }}x{{ end }}{{ end }}", { X: "1" })).toBe("x")
    expect(render("{{ if .X | split \":\" }}parts{{ else }}none{{ end }}", { X: "  " })).toBe("none")
  })

  it("splits, counts and compares like split, len and eq", () => {
    expect(render("{{ .X | split \":\" }}", { X: " a:b " })).toBe("[a b]")
    expect(render("{{ len (.X | split \":\") }}", { X: "a:b:c" })).toBe("3")
    expect(render("{{ len .X }}", { X: "né" })).toBe("3")
    expect(render("{{ if eq 2 1 2 }}t{{ end }}")).toBe("t")
  })

  it.each([
    ["a function ContainerPilot lacks", "{{ .X | upper }}", /not defined/],
    ["a function this renderer does not implement", "{{ .X | join \",\" }}", /does not implement/],
    ["trim markers", "{{- .X }}", /trim markers/],
    ["variables", "{{ $x := .X }}", /unsupported syntax/],
    ["range", "{{ range .X }}{{ end }}", /not supported/],
    ["else if", "{{ if .X }}{{ else if .Y }}{{ end }}", /else-if/],
    ["a missing end", "{{ if .X }}", /missing \{\{ end \}\}/],
    ["arguments to a field", "{{ .X 1 }}", /non-function/],
    ["comparing a string with a number", "{{ eq .X 1 }}", /incompatible types/]
  ])("rejects %s with a clear error", (_, text, message) => {
    expect(() => render(text)).toThrow(TemplateError)
    expect(() => render(text)).toThrow(message)
  })
})

describe("ContainerPilot's exec and duration rules", () => {
  it("splits a string exec on single spaces, without a shell", () => {
    expect(parseExec("manage health master")).toEqual({ command: "manage", args: ["health", "master"] })
    expect(parseExec(" manage  pre-stop ")).toEqual({ command: "manage", args: ["", "pre-stop"] })
    expect(parseExec(["/bin/sh", "-c", "a | b"])).toEqual({ command: "/bin/sh", args: ["-c", "a | b"] })
    expect(() => parseExec("")).toThrow(/zero-length/)
  })

  it("reads durations as Go does, integers as seconds", () => {
    expect(parseDuration("500ms")).toBe(500)
    expect(parseDuration("1m30s")).toBe(90_000)
    expect(parseDuration("24h")).toBe(86_400_000)
    expect(parseDuration("10")).toBe(10_000)
    expect(() => parseDuration("5 s")).toThrow(/invalid duration/)
  })
})

describe("the environment contract of this file", () => {
  it("is exactly the handlers' Settings table, with the same defaults", () => {
    expect(Object.keys(contractDefaults).sort()).toEqual(Object.keys(variables).sort())
    for (const [name, v] of Object.entries(variables)) {
      expect(contractDefaults[name], name).toBe("default" in v ? v.default : undefined)
    }
  })
})

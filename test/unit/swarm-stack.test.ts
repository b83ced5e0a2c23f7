// docker-stack.yml as `docker stack deploy` reads it: `docker stack config` runs the
// same loader (schema, interpolation, env_file) on the client and needs no Docker
// engine, so where the docker CLI exists this checks the file an operator deploys,
// and what it promises: a rolling upgrade one node at a time that lets a master hand
// over, nodes on an overlay network that know their peers, Consul's state kept.
// Where the CLI is missing, the file reports itself skipped with the reason.
import { execFile, execFileSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Option } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parseGoDuration } from "../../src/domain/EnvValue.ts"
import { variables } from "../../src/domain/Settings.ts"
import { loadContainerPilotConfig } from "../support/containerpilot/template.ts"

const repo = (file: string) => fileURLToPath(new URL(`../../${file}`, import.meta.url))

/** Why the docker CLI cannot be used here, or undefined when it can. */
const cliMissing = ((): string | undefined => {
  try {
    execFileSync("docker", ["--version"], { stdio: "ignore", timeout: 10_000 })
    return undefined
  } catch (e) {
    return e instanceof Error && "code" in e && e.code === "ENOENT" ? "no docker CLI on PATH" : `docker --version failed: ${String(e)}`
  }
})()
if (cliMissing !== undefined) console.warn(`test/unit/swarm-stack.test.ts skipped: needs the docker CLI (no engine): ${cliMissing}`)

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** `docker stack config -c <file>` in `dir`, with only the given variables set. */
const stackConfig = (dir: string, file: string, env: Readonly<Record<string, string>>): Promise<Run> =>
  new Promise((resolve) => {
    execFile("docker", ["stack", "config", "-c", file], {
      cwd: dir,
      env: { PATH: process.env["PATH"] ?? "/usr/bin:/bin", HOME: dir, ...env },
      timeout: 30_000
    }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    })
  })

/**
 * The value at `path` in block-style YAML as `docker stack config` prints it: a
 * scalar, or the lines of a nested block trimmed and joined with newlines.
 */
const at = (yaml: string, ...path: ReadonlyArray<string>): string | undefined => {
  const indent = (l: string) => l.length - l.trimStart().length
  let lines = yaml.split("\n").filter((l) => l.trim() !== "")
  let value = ""
  for (const key of path) {
    const level = Math.min(...lines.map(indent))
    const i = lines.findIndex((l) => indent(l) === level && l.trimStart().startsWith(`${key}:`))
    if (i < 0) return undefined
    value = (lines[i] ?? "").trimStart().slice(key.length + 1).trim()
    const rest = lines.slice(i + 1)
    const end = rest.findIndex((l) => indent(l) <= level)
    lines = end < 0 ? rest : rest.slice(0, end)
  }
  return value !== "" ? value : lines.map((l) => l.trim()).join("\n")
}

const seconds = (text: string | undefined): number =>
  Option.getOrElse(parseGoDuration(text ?? ""), () => Number.NaN) / 1000

const image = "registry.example.com/autopilot-redis:1.0"

describe.skipIf(cliMissing !== undefined)("docker-stack.yml, as docker stack deploy reads it", () => {
  let dir = ""
  let config = ""

  beforeAll(async () => {
    // What the README tells an operator to have beside the file: an `_env`.
    dir = mkdtempSync(join(tmpdir(), "swarm-stack-"))
    copyFileSync(repo("docker-stack.yml"), join(dir, "docker-stack.yml"))
    copyFileSync(repo("docker-compose.yml"), join(dir, "docker-compose.yml"))
    copyFileSync(repo("_env.example"), join(dir, "_env"))
    const run = await stackConfig(dir, "docker-stack.yml", { AUTOPILOT_REDIS_IMAGE: image })
    expect(run.code, run.stderr).toBe(0)
    config = run.stdout
  })

  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true })
  })

  it("is a valid stack file, deploying the image the operator names", () => {
    expect(at(config, "services", "redis", "image")).toBe(image)
    expect(at(config, "services", "redis", "env_file")).toBe("- _env")
  })

  it("refuses to deploy without the image, naming the variable", async () => {
    const run = await stackConfig(dir, "docker-stack.yml", {})
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain("required variable AUTOPILOT_REDIS_IMAGE is missing a value")
  })

  it("upgrades one node at a time, each old node stopped (a master handing over) before its replacement starts", () => {
    for (const policy of ["update_config", "rollback_config"]) {
      expect(at(config, "services", "redis", "deploy", policy, "parallelism"), policy).toBe("1")
      expect(at(config, "services", "redis", "deploy", policy, "order"), policy).toBe("stop-first")
      expect(at(config, "services", "redis", "deploy", policy, "failure_action"), policy).toBe("pause")
      // Every sentinel must know the new node before the next one stops: hellos every
      // 2 s, the master's INFO every second (the agents' tuning); twice the slower.
      expect(seconds(at(config, "services", "redis", "deploy", policy, "delay")), policy).toBeGreaterThanOrEqual(4)
    }
  })

  it("moves on only once the new node serves, as master or as a replica in sync (the check `compose up --wait` uses too)", () => {
    expect(at(config, "services", "redis", "healthcheck", "test")).toBe("- CMD-SHELL\n- agent-check /master || agent-check /replica")
    expect(readFileSync(repo("docker-compose.yml"), "utf8")).toContain(`test: ["CMD-SHELL", "agent-check /master || agent-check /replica"]`)
    // Swarm replaces a task that turns unhealthy; failovers fail checks for seconds.
    const tolerated = seconds(at(config, "services", "redis", "healthcheck", "interval")) *
      Number(at(config, "services", "redis", "healthcheck", "retries"))
    expect(tolerated).toBeGreaterThanOrEqual(24 * 3600)
  })

  it("gives a stopping master the whole handover budget, as docker-compose.yml does", () => {
    const handover = seconds(variables.PRESTOP_TIMEOUT.default)
    const afterJobs = loadContainerPilotConfig(repo("containerpilot.json5"), {}).stopTimeout
    const grace = seconds(at(config, "services", "redis", "stop_grace_period"))
    expect(grace).toBeGreaterThan(handover + afterJobs)
    const compose = /^\s*stop_grace_period:\s*(\S+)\s*$/m.exec(readFileSync(repo("docker-compose.yml"), "utf8"))?.[1]
    expect(grace).toBe(seconds(compose))
  })

  it("runs three nodes, one per host, on an attachable overlay network, without a virtual IP, knowing their peers", () => {
    expect(at(config, "services", "redis", "deploy", "replicas")).toBe("3")
    expect(at(config, "services", "redis", "deploy", "placement", "max_replicas_per_node")).toBe("1")
    expect(at(config, "services", "redis", "deploy", "endpoint_mode")).toBe("dnsrr")
    expect(at(config, "services", "redis", "networks")).toBe("cluster: null")
    expect(at(config, "networks", "cluster", "driver")).toBe("overlay")
    expect(at(config, "networks", "cluster", "attachable")).toBe("true")
    expect(at(config, "services", "redis", "environment", "PEERS")).toBe("tasks.redis")
    // Across hosts the password is a Swarm secret, never an environment value.
    expect(at(config, "services", "redis", "environment", "REDIS_PASSWORD_FILE")).toBe("/run/secrets/redis_password")
    expect(at(config, "services", "redis", "secrets")).toContain("source: redis_password")
    expect(at(config, "secrets", "redis_password", "external")).toBe("true")
    expect(at(config, "services", "redis", "ports")).toBeUndefined()
  })

  it("keeps each node's data per task slot, and runs three Consul servers, one per host, each with its state per slot", () => {
    // Declared at the top level (deploy refuses an undeclared source), named per slot.
    expect(at(config, "services", "redis", "volumes")).toContain("source: redis-data\ntarget: /data")
    expect(at(config, "volumes", "redis-data", "name")).toBe("redis-data-{{.Task.Slot}}")
    expect(at(config, "services", "consul", "volumes")).toBe("- type: volume\nsource: consul-data\ntarget: /consul/data")
    expect(at(config, "volumes", "consul-data", "name")).toBe("consul-data-{{.Task.Slot}}")
    // Losing any one host leaves a majority of servers: the registry never depends on one host.
    expect(at(config, "services", "consul", "deploy", "replicas")).toBe("3")
    expect(at(config, "services", "consul", "deploy", "placement", "max_replicas_per_node")).toBe("1")
    expect(at(config, "services", "consul", "command")).toContain("-bootstrap-expect=3")
    expect(at(config, "services", "consul", "command")).toContain("-retry-join=tasks.consul")
    expect(at(config, "services", "consul", "deploy", "update_config", "parallelism")).toBe("1")
    expect(at(config, "services", "consul", "deploy", "update_config", "order")).toBe("stop-first")
    expect(at(config, "services", "consul", "command")).toContain(`-bind={{ GetInterfaceIP "eth0" }}`)
  })

  it("gives every node its own Consul agent joining those servers, under a name per task slot", () => {
    expect(at(config, "services", "redis", "environment", "CONSUL_AGENT")).toBe("\"true\"")
    expect(at(config, "services", "redis", "environment", "CONSUL")).toBe("tasks.consul")
    expect(at(config, "services", "redis", "hostname")).toBe("redis-{{.Task.Slot}}")
  })

  it("docker-compose.yml itself is no stack file: Swarm refuses its optional env_file", async () => {
    const run = await stackConfig(dir, "docker-compose.yml", {})
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain("env_file")
  })
})

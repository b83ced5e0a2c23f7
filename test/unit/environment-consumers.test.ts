// The environment check and ContainerPilot agree: every value `manage` accepts for a
// variable containerpilot.json5 reads renders into a configuration ContainerPilot
// 3.8.0 parses (our renderer with flynn/json5's string rules), with the same meaning;
// and the values the issue found ContainerPilot rejecting are rejected by `manage`
// too, naming the variable. Which variables the template reads is taken from the file.
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Duration, Option, Result } from "effect"
import fc from "fast-check"
import { inspectPrivateKey } from "../../src/domain/MantaKey.ts"
import { decodeSettings, variables } from "../../src/domain/Settings.ts"
import { type ContainerPilotConfig, loadContainerPilotConfig } from "../support/containerpilot/template.ts"
import { hostFacts } from "../support/scenarios.ts"

const configPath = fileURLToPath(new URL("../../containerpilot.json5", import.meta.url))
const template = readFileSync(configPath, "utf8")

/** Every `.NAME` inside a template action. */
const readByContainerPilot = [...new Set([...template.matchAll(/\{\{[^}]*\}\}/g)].flatMap(([action]) => [...action.matchAll(/\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1] ?? "")))]

const decode = (env: Readonly<Record<string, string>>) => decodeSettings(env, hostFacts, inspectPrivateKey)

const loads = (env: Readonly<Record<string, string>>): Result.Result<ContainerPilotConfig, string> => {
  try {
    return Result.succeed(loadContainerPilotConfig(configPath, env))
  } catch (e) {
    return Result.fail(e instanceof Error ? e.message : String(e))
  }
}

/** A value that decodes, for each variable the template reads. */
const valid: Readonly<Record<string, string>> = {
  CONSUL: "consul.internal:8600", CONSUL_AGENT: "true", CONSUL_HTTP_SSL: "true", LOG_LEVEL: "Debug", LOG_FORMAT: "JSON", SERVICE_NAME: "cache", SENTINEL_PORT: "27000",
  REDIS_PORT: "7000", ANNOUNCE_IP: "10.1.2.3", BIND_ADDRESS: "10.1.2.3", API_PORT: "9008", HEALTH_INTERVAL: "3", HEALTH_TTL: "10", HEALTH_TIMEOUT: "2500ms",
  CONFIG_DIR: "/srv/redis conf", PRESTART_TIMEOUT: "20m", PRESTOP_TIMEOUT: "25s", BACKUP_CHECK_INTERVAL: "10m", BACKUP_TIMEOUT: "45m"
}

/** Near misses of a valid value: the shapes fuzzing found slipping through. */
const mutations = (value: string) =>
  fc.oneof(
    fc.constant(value),
    fc.constantFrom(" ", "\t", "\u00a0", "0", "00", "+", "-", "'", "\"", "\\", "\u0001", "\u001b", "\uFFFD", "{{", "/", ".", ":").chain((bit) =>
      fc.constantFrom(`${bit}${value}`, `${value}${bit}`, `${value.slice(0, 1)}${bit}${value.slice(1)}`)
    ),
    fc.string({ maxLength: 12 }),
    fc.string({ maxLength: 6, unit: "binary" })
  )

describe("manage and ContainerPilot read the same environment", () => {
  it("the template reads only documented variables, and each has a test value", () => {
    assert.isAbove(readByContainerPilot.length, 10)
    for (const name of readByContainerPilot) {
      assert.include(Object.keys(variables), name)
      assert.property(valid, name, `add a valid ${name} to this test`)
    }
  })

  for (const name of readByContainerPilot) {
    it(`${name}: every value manage accepts renders into a configuration ContainerPilot parses, with the same meaning`, () => {
      fc.assert(
        fc.property(mutations(valid[name] ?? ""), (value) => {
          const settings = decode({ [name]: value })
          if (Result.isFailure(settings)) return
          const config = loads({ [name]: value })
          assert.isTrue(Result.isSuccess(config), `manage accepts ${name}=${JSON.stringify(value)}, ContainerPilot would not: ${Result.isFailure(config) ? config.failure : ""}`)
          if (Result.isFailure(config)) return
          const s = settings.success
          const c = config.success
          const role = c.jobs.find((j) => j.name === s.serviceName)
          assert.strictEqual(role?.port, s.redis.port)
          assert.strictEqual(c.jobs.find((j) => j.name === `${s.serviceName}-sentinel`)?.port, s.sentinel.port)
          assert.strictEqual(role?.health?.interval, Duration.toSeconds(s.health.interval))
          assert.strictEqual(role?.health?.ttl, Duration.toSeconds(s.health.ttl))
          assert.strictEqual(c.consul.address, `${s.consul.host}:${s.consul.port}`)
          assert.deepStrictEqual([c.consul.scheme, c.consul.verify], Option.isSome(s.consul.https) ? ["https", true] : ["http", false])
          assert.strictEqual(c.logging?.level?.toLowerCase(), s.log.level)
          assert.strictEqual(c.logging?.format?.toLowerCase(), s.log.format)
          assert.deepStrictEqual(c.jobs.find((j) => j.name === "redis-server")?.exec, ["redis-server", `${s.configDir}/redis.conf`])
          const check = role?.health?.exec ?? []
          assert.includeMembers(typeof check === "string" ? check.split(" ") : [...check], [String(s.node.apiPort)])
        }),
        { numRuns: 200 }
      )
    })
  }

  // The values the issue reports: each breaks ContainerPilot's configuration, so manage must refuse it first.
  const rejectedByContainerPilot: ReadonlyArray<readonly [string, string]> = [
    ["HEALTH_INTERVAL", "05"],
    ["HEALTH_TTL", "015"],
    ["REDIS_PORT", "06379"],
    ["SENTINEL_PORT", "026379"],
    ["HEALTH_TIMEOUT", " 4s"],
    ["PRESTOP_TIMEOUT", "15s "],
    ["BACKUP_CHECK_INTERVAL", "5m\t"],
    ["LOG_LEVEL", " info"],
    ["LOG_FORMAT", "json\u0001"],
    ["SERVICE_NAME", "a"],
    ["CONFIG_DIR", "/etc/it's"],
    ["CONFIG_DIR", "/etc/re\\dis"],
    ["CONFIG_DIR", "/etc/re\tdis"],
    ["HEALTH_INTERVAL", " "],
    ["ANNOUNCE_IP", "10.0.0.1\u001b"]
  ]
  for (const [name, value] of rejectedByContainerPilot) {
    it(`${name}=${JSON.stringify(value)}: ContainerPilot rejects it, and so does manage, naming ${name}`, () => {
      assert.isTrue(Result.isFailure(loads({ [name]: value })), "ContainerPilot (emulated) accepts it: the case proves nothing")
      const settings = decode({ [name]: value })
      assert.deepStrictEqual(Result.isFailure(settings) ? settings.failure.map((p) => p.variable) : [], [name])
    })
  }
})

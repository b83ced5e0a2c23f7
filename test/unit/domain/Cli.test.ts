// The `manage` command line as ContainerPilot and operators call it:
// every handler in the table parses, anything else is a usage error with a reason.
import { assert, describe, it } from "@effect/vitest"
import { type Command, handlers, type Parsed, parseCommand, usage } from "../../../src/domain/Cli.ts"

const ok = (argv: ReadonlyArray<string>): Command => {
  const parsed: Parsed = parseCommand(argv)
  if (parsed._tag !== "Ok") return assert.fail(`${argv.join(" ")}: ${parsed.problem}`)
  return parsed.command
}
const problem = (argv: ReadonlyArray<string>): string => {
  const parsed = parseCommand(argv)
  if (parsed._tag !== "Usage") return assert.fail(`${JSON.stringify(argv)} should be a usage error, parsed as ${JSON.stringify(parsed.command)}`)
  return parsed.problem
}

/** One invocation per handler in `handlers`, written as its usage line says. */
const examples: Record<keyof typeof handlers, ReadonlyArray<string>> = {
  "pre-start": ["pre-start"],
  health: ["health", "master"],
  "health-sentinel": ["health-sentinel"],
  agent: ["agent"],
  backup: ["backup"],
  "pre-stop": ["pre-stop"],
  status: ["status"],
  list: ["list", "--json"],
  switchover: ["switchover", "--to", "node-2"],
  pause: ["pause"],
  resume: ["resume"],
  config: ["config", "--docs"],
  "setup-env": ["setup-env", "--key", "id_rsa"]
}

describe("parseCommand", () => {
  it("every handler in the table parses", () => {
    for (const [name, argv] of Object.entries(examples)) {
      assert.property(handlers, name)
      ok(argv)
    }
    assert.sameMembers(Object.keys(examples), Object.keys(handlers))
  })

  it("parses each handler into its command", () => {
    assert.deepStrictEqual(ok(["pre-start"]), { _tag: "pre-start" })
    assert.deepStrictEqual(ok(["health", "replica"]), { _tag: "health", role: "replica" })
    assert.deepStrictEqual(ok(["health-sentinel"]), { _tag: "health-sentinel" })
    assert.deepStrictEqual(ok(["pre-stop"]), { _tag: "pre-stop" })
    assert.deepStrictEqual(ok(["backup"]), { _tag: "backup", now: false })
    assert.deepStrictEqual(ok(["backup", "--now"]), { _tag: "backup", now: true })
    assert.deepStrictEqual(ok(["status"]), { _tag: "status", json: false })
    assert.deepStrictEqual(ok(["status", "--json"]), { _tag: "status", json: true })
    assert.deepStrictEqual(ok(["config", "--docs"]), { _tag: "config-docs" })
    assert.deepStrictEqual(ok(["setup-env", "--key", "k"]), { _tag: "setup-env", key: "k", out: "_env", followSymlinks: false })
    assert.deepStrictEqual(ok(["setup-env", "--out", "x.env", "--key", "k"]), { _tag: "setup-env", key: "k", out: "x.env", followSymlinks: false })
    assert.deepStrictEqual(ok(["setup-env", "--follow-symlinks", "--key", "k"]), { _tag: "setup-env", key: "k", out: "_env", followSymlinks: true })
    assert.deepStrictEqual(ok(["setup-env", "--key", "k", "--follow-symlinks"]), { _tag: "setup-env", key: "k", out: "_env", followSymlinks: true })
  })

  it("agent takes no arguments", () => {
    assert.deepStrictEqual(ok(["agent"]), { _tag: "agent" })
    assert.include(problem(["agent", "--once"]), "takes no arguments")
  })

  it("--help, -h and help ask for help", () => {
    for (const flag of ["--help", "-h", "help"]) assert.deepStrictEqual(ok([flag]), { _tag: "help" })
  })

  it("health requires exactly master or replica", () => {
    for (const argv of [["health"], ["health", "sentinel"], ["health", "Master"], ["health", "master", "replica"]]) {
      assert.include(problem(argv), "master or replica")
    }
  })

  it("an unknown handler or no handler is a usage error naming it", () => {
    assert.include(problem(["pre_start"]), `"pre_start"`)
    assert.include(problem(["restore"]), `"restore"`)
    assert.strictEqual(problem([]), "no handler given")
  })

  it("bad arguments are usage errors", () => {
    assert.include(problem(["pre-start", "now"]), "takes no arguments")
    assert.include(problem(["health-sentinel", "mymaster"]), "takes no arguments")
    assert.include(problem(["backup", "--force"]), `"--force"`)
    assert.include(problem(["status", "--now"]), `"--now"`)
    assert.include(problem(["backup", "--json"]), `"--json"`)
    assert.include(problem(["config"]), "--docs")
    assert.include(problem(["setup-env"]), "--key")
    assert.include(problem(["setup-env", "--key", "k", "--verbose"]), "--key")
  })

  // Otherwise `--key --out f` would read a key file named "--out", and a dangling
  // `--out` would silently write ./_env.
  it("setup-env options without a value are usage errors", () => {
    problem(["setup-env", "--key", "--out", "f"])
    problem(["setup-env", "--key", "k", "--out"])
    problem(["setup-env", "--key", "k", "--key", "j"])
    problem(["setup-env", "--key", ""])
  })
})

describe("usage", () => {
  it("lists every handler's usage line and summary, and the exit codes", () => {
    const text = usage()
    for (const h of Object.values(handlers)) {
      assert.include(text, h.usage)
      assert.include(text, h.summary)
    }
    assert.include(text, "2 invalid usage")
  })
})

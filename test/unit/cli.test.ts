// The `manage` command line (Effect's CLI module) as ContainerPilot and operators call
// it: every handler in the table parses into its command, anything else is a usage
// error with a reason (exit 2 in main.ts), and help, version and completions print
// without running a handler.
import { assert, describe, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { cliEnvironment, parseArgs, version } from "../../src/cli.ts"
import { type Command, handlers } from "../../src/domain/Cli.ts"

const parse = (argv: ReadonlyArray<string>) => parseArgs(argv).pipe(Effect.provide(cliEnvironment))

const ok = (argv: ReadonlyArray<string>) =>
  Effect.map(parse(argv), (p): Command => (p._tag === "Ok" ? p.command : assert.fail(`${argv.join(" ")}: ${JSON.stringify(p)}`)))
const problem = (argv: ReadonlyArray<string>) =>
  Effect.map(parse(argv), (p): string => (p._tag === "Usage" ? p.problem : assert.fail(`${JSON.stringify(argv)} should be a usage error, got ${JSON.stringify(p)}`)))

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

describe("manage's command line", () => {
  it.effect("every handler in the table parses", () =>
    Effect.gen(function*() {
      for (const argv of Object.values(examples)) yield* ok(argv)
      assert.sameMembers(Object.keys(examples), Object.keys(handlers))
    }))

  it.effect("parses each handler into its command", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [ReadonlyArray<string>, Command]> = [
        [["pre-start"], { _tag: "pre-start" }],
        [["health", "replica"], { _tag: "health", role: "replica" }],
        [["health-sentinel"], { _tag: "health-sentinel" }],
        [["pre-stop"], { _tag: "pre-stop" }],
        [["backup"], { _tag: "backup", now: false }],
        [["backup", "--now"], { _tag: "backup", now: true }],
        [["status"], { _tag: "status", json: false }],
        [["status", "--json"], { _tag: "status", json: true }],
        [["list"], { _tag: "list", json: false }],
        [["switchover"], { _tag: "switchover", to: undefined }],
        [["switchover", "--to", "10.0.0.3"], { _tag: "switchover", to: "10.0.0.3" }],
        [["switchover", "--to=node-3"], { _tag: "switchover", to: "node-3" }],
        [["pause"], { _tag: "pause" }],
        [["resume"], { _tag: "resume" }],
        [["config", "--docs"], { _tag: "config-docs" }],
        [["setup-env", "--key", "k"], { _tag: "setup-env", key: "k", out: "_env", followSymlinks: false }],
        [["setup-env", "--out", "x.env", "--key", "k"], { _tag: "setup-env", key: "k", out: "x.env", followSymlinks: false }],
        [["setup-env", "--follow-symlinks", "--key", "k"], { _tag: "setup-env", key: "k", out: "_env", followSymlinks: true }]
      ]
      for (const [argv, command] of cases) assert.deepStrictEqual(yield* ok(argv), command, argv.join(" "))
    }))

  it.effect("help, version and completions print and run nothing", () =>
    Effect.gen(function*() {
      for (const argv of [["--help"], ["-h"], ["switchover", "--help"], ["--version"], ["--completions", "bash"]]) {
        assert.deepStrictEqual(yield* parse(argv), { _tag: "Printed" }, argv.join(" "))
      }
    }))

  it.effect("usage errors name the problem", () =>
    Effect.gen(function*() {
      assert.include(yield* problem([]), "no handler given")
      assert.include(yield* problem(["pre_start"]), "pre_start")
      assert.include(yield* problem(["health"]), "health")
      assert.include(yield* problem(["health", "sentinel"]), "sentinel")
      assert.include(yield* problem(["agent", "--once"]), "--once")
      assert.include(yield* problem(["pre-start", "now"]), "now")
      assert.include(yield* problem(["backup", "--force"]), "--force")
      assert.include(yield* problem(["status", "--now"]), "--now")
      assert.include(yield* problem(["switchover", "--to"]), "--to")
      assert.include(yield* problem(["switchover", "node-2"]), "node-2")
      assert.include(yield* problem(["config"]), "docs")
      assert.include(yield* problem(["setup-env"]), "key")
    }))

  it("--version is package.json's", () => {
    const pkg: unknown = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"))
    assert.strictEqual(typeof pkg === "object" && pkg !== null && "version" in pkg ? pkg.version : undefined, version)
  })
})

// The `manage` command line on Effect's CLI module (`effect/cli`): one subcommand per
// handler, each turning its validated flags into the closed `Command` union of
// domain/Cli.ts and handing it to `dispatch`, so main.ts decides what runs (and imports
// a handler only when it runs) and tests can parse without running anything. Built in
// are generated help per command (`--help`), `--version`, `--completions bash|zsh|fish`
// and `--log-level`; the interactive `--wizard` is left out (no terminal in a container).
// A usage error is one line on stderr and exit 2 (main.ts), not a help page.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import { Console, Effect, Layer, Option, Ref, Stdio, Terminal } from "effect"
import { CliConfig, CliError, CliOutput, Command as Cli, Flag, GlobalFlag } from "effect/cli"
import { ChildProcessSpawner } from "effect/process"
import { type Command, handlers } from "./domain/Cli.ts"

/** `manage --version`; a unit test keeps it equal to package.json's. */
export const version = "0.1.0"

type Dispatch<E, R> = (command: Command) => Effect.Effect<void, E, R>

const json = Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("print JSON instead of a table"))

/** The command tree; every leaf calls `dispatch` with what it parsed. */
export const manageCommand = <E, R>(dispatch: Dispatch<E, R>) => {
  const plain = (name: "pre-start" | "agent" | "pre-stop" | "pause" | "resume" | "health-sentinel") =>
    Cli.make(name, {}, () => dispatch({ _tag: name })).pipe(Cli.withDescription(handlers[name].summary))
  const health = Cli.make("health", {}).pipe(
    Cli.withDescription(handlers.health.summary),
    Cli.withSubcommands([
      Cli.make("master", {}, () => dispatch({ _tag: "health", role: "master" })).pipe(Cli.withDescription("the master check (exit 0 pass, 1 fail)")),
      Cli.make("replica", {}, () => dispatch({ _tag: "health", role: "replica" })).pipe(Cli.withDescription("the replica check (exit 0 pass, 1 fail)"))
    ])
  )
  const backup = Cli.make("backup", { now: Flag.Boolean("now").pipe(Flag.withDefault(false), Flag.withDescription("take one now, due or not, on this node")) }, ({ now }) =>
    dispatch({ _tag: "backup", now })).pipe(Cli.withDescription(handlers.backup.summary))
  const status = Cli.make("status", { json }, (o) => dispatch({ _tag: "status", json: o.json })).pipe(Cli.withDescription(handlers.status.summary))
  const list = Cli.make("list", { json }, (o) => dispatch({ _tag: "list", json: o.json })).pipe(Cli.withDescription(handlers.list.summary))
  const switchover = Cli.make("switchover", {
    to: Flag.String("to").pipe(
      Flag.withMetavar("NODE"),
      Flag.withDescription("the replica to promote: its node name (HOSTNAME), address or address:port; default: the one Sentinel would prefer"),
      Flag.optional
    )
  }, ({ to }) => dispatch({ _tag: "switchover", to: Option.getOrUndefined(to) })).pipe(Cli.withDescription(handlers.switchover.summary))
  const config = Cli.make("config", { docs: Flag.Boolean("docs").pipe(Flag.withDefault(false), Flag.withDescription("print the table as markdown")) }, ({ docs }): Effect.Effect<void, E | CliError.CliError, R> =>
    docs
      ? dispatch({ _tag: "config-docs" })
      : Effect.fail(new CliError.MissingOption({ option: "docs" }))).pipe(Cli.withDescription(handlers.config.summary))
  const setupEnv = Cli.make("setup-env", {
    key: Flag.String("key").pipe(Flag.withMetavar("FILE"), Flag.withDescription("the SSH private key Manta requests are signed with")),
    out: Flag.String("out").pipe(Flag.withMetavar("FILE"), Flag.withDefault("_env"), Flag.withDescription("the env file to write")),
    followSymlinks: Flag.Boolean("follow-symlinks").pipe(Flag.withDefault(false), Flag.withDescription("write through --out when it is a symlink"))
  }, (o) => dispatch({ _tag: "setup-env", key: o.key, out: o.out, followSymlinks: o.followSymlinks })).pipe(
    Cli.withDescription(handlers["setup-env"].summary)
  )
  return Cli.make("manage", {}).pipe(
    Cli.withDescription("The handlers ContainerPilot runs on a node and the operator's controls. Configuration comes from the environment (`manage config --docs`). Exit codes: 0 success or pass, 1 failure or refusal, 2 invalid usage or environment."),
    Cli.withSubcommands([
      plain("pre-start"),
      plain("agent"),
      health,
      plain("health-sentinel"),
      backup,
      plain("pre-stop"),
      status,
      list,
      switchover,
      plain("pause"),
      plain("resume"),
      config,
      setupEnv
    ])
  )
}

/** Built-in flags without `--wizard`; help and version on stdout, parse errors left to main.ts (one line, exit 2). */
export const cliLayer = Layer.mergeAll(
  CliConfig.layer({ builtIns: GlobalFlag.BuiltIns.filter((f) => f !== GlobalFlag.Wizard) }),
  CliOutput.layerPresenter({
    present: (event) =>
      Effect.gen(function*() {
        const formatter = yield* CliOutput.Formatter
        switch (event._tag) {
          case "Help":
            // An implicit help page (a usage error) is replaced by main.ts's one line.
            if (event.reason === "Requested") yield* Console.log(formatter.formatHelpDoc(event.helpDoc))
            return
          case "Version":
            return yield* Console.log(formatter.formatVersion(event.name, event.version))
          case "InvalidInvocation":
            return
        }
      })
  })
)

/**
 * What the CLI module needs besides the file system: it prompts (Terminal) and spawns
 * (ChildProcessSpawner) only for --wizard and prompts, which manage does not have, and
 * reads Stdio only to ask whether stdout is a terminal (no colours: output goes to
 * ContainerPilot's log or a pipe). Stand-ins instead of NodeServices.layer keep
 * node:readline and node:child_process out of every run.
 */
export const cliEnvironment = Layer.mergeAll(
  NodeFileSystem.layer,
  NodePath.layer,
  Stdio.layerTest({}),
  Layer.succeed(Terminal.Terminal, Terminal.make({
    columns: Effect.succeed(100),
    rows: Effect.succeed(40),
    size: Effect.die("manage has no interactive terminal"),
    readInput: Effect.die("manage has no interactive terminal"),
    readLine: Effect.die("manage has no interactive terminal"),
    display: () => Effect.void
  })),
  Layer.succeed(ChildProcessSpawner.ChildProcessSpawner, ChildProcessSpawner.make(() => Effect.die("manage's command line spawns nothing")))
)

/** The one-line reason of a usage error (`ShowHelp` with errors, or a command that needs a subcommand). */
export const usageProblem = (error: CliError.CliError): Option.Option<string> => {
  if (error._tag !== "ShowHelp") return Option.some(error.message)
  const [first] = error.errors
  if (first !== undefined) return Option.some(`${error.errors.map((e) => e.message).join("; ")} (see \`${error.commandPath.join(" ")} --help\`)`)
  return error.commandPath.length <= 1 ? Option.some("no handler given (see `manage --help`)") : Option.some(`${error.commandPath.join(" ")} needs more (see \`${error.commandPath.join(" ")} --help\`)`)
}

export type Parsed =
  | { readonly _tag: "Ok"; readonly command: Command }
  | { readonly _tag: "Usage"; readonly problem: string }
  /** --help, --version or --completions: printed, nothing to run. */
  | { readonly _tag: "Printed" }

/** What the command line means, without running anything (tests; containerpilot.json5's checks). */
export const parseArgs = (argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make(Option.none<Command>())
    const outcome = yield* Cli.runWith(manageCommand((command) => Ref.set(seen, Option.some(command))), { version, renderErrors: false })(argv).pipe(Effect.result)
    if (outcome._tag === "Failure") {
      return Option.match(usageProblem(outcome.failure), {
        onNone: (): Parsed => ({ _tag: "Printed" }),
        onSome: (problem): Parsed => ({ _tag: "Usage", problem })
      })
    }
    return Option.match(yield* Ref.get(seen), { onNone: (): Parsed => ({ _tag: "Printed" }), onSome: (command): Parsed => ({ _tag: "Ok", command }) })
  }).pipe(Effect.provide(cliLayer))

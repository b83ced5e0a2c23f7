// `manage <handler> [args]`: the only composition root. Parses the command line with
// Effect's CLI module (cli.ts), provides the live layers once, logs a failure as one line for the operator (in
// LOG_FORMAT, even when the rest of the environment is invalid), and leaves the exit
// code to the error (1 by default, 2 for usage and environment), exiting only once
// that line and everything before it have been written.
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Layer, Logger, type LogLevel, Option, References, Runtime } from "effect"
import { CliError, Command as Cli } from "effect/cli"
import { cliEnvironment, cliLayer, manageCommand, usageProblem, version } from "./cli.ts"
import { type Command } from "./domain/Cli.ts"
import { agentTimings, Timings } from "./domain/Timings.ts"
import { AgentApi } from "./layers/AgentApi.ts"
import { BackupStore } from "./layers/BackupStore.ts"
import { Consul } from "./layers/Consul.ts"
import { Dns } from "./layers/Dns.ts"
import { Redis } from "./layers/Redis.ts"
import { Sentinel } from "./layers/Sentinel.ts"
import { Settings } from "./layers/Settings.ts"
import { exitAfterFlush } from "./programs/exitAfterFlush.ts"
import { UsageError } from "./programs/UsageError.ts"

const levels: Record<Settings["Service"]["log"]["level"], LogLevel.LogLevel> = { debug: "Debug", info: "Info", warn: "Warn", error: "Error" }

const stderrLogger = (format: "text" | "json") =>
  Logger.layer([(format === "json" ? Logger.formatJson : Logger.formatLogFmt).pipe(Logger.withConsoleError)])

const logging = Layer.unwrap(Effect.gen(function*() {
  const { log } = yield* Settings
  return Layer.mergeAll(stderrLogger(log.format), Layer.succeed(References.MinimumLogLevel, levels[log.level]))
}))

const platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer)
const clients = Layer.mergeAll(Consul.layer, Redis.layer, Sentinel.layer, AgentApi.layer)
const live = Layer.mergeAll(clients, logging).pipe(Layer.provideMerge(Layer.mergeAll(Settings.layer, platform)))
/** The agent's clients never retry within a call: its next round is the retry (Timings.ts). */
const agentLive = Layer.mergeAll(clients, logging).pipe(
  Layer.provideMerge(Layer.mergeAll(Settings.layer, platform, Layer.succeed(Timings, agentTimings)))
)
const withStore = BackupStore.layer.pipe(Layer.provideMerge(live))

/** Handlers are imported on dispatch: a run evaluates only the code its handler needs. */
const load = <M, A, E, R>(module: () => Promise<M>, program: (m: M) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.promise(module), program)

const run = (command: Command): Effect.Effect<void, unknown> => {
  switch (command._tag) {
    case "config-docs":
      return load(() => import("./programs/configDocs.ts"), (m) => m.configDocs)
    case "setup-env":
      return load(() => import("./programs/setupEnv.ts"), (m) => m.setupEnv(command.key, command.out, { followSymlinks: command.followSymlinks })).pipe(Effect.provide(platform))
    case "pre-start":
      return load(() => import("./programs/preStart.ts"), (m) => m.preStart).pipe(Effect.provide(Layer.merge(withStore, Dns.layer)))
    case "agent":
      return load(() => import("./programs/agent.ts"), (m) => m.agent).pipe(Effect.provide(agentLive))
    case "health":
      return load(() => import("./programs/health.ts"), (m) => m.health(command.role)).pipe(Effect.provide(live))
    case "health-sentinel":
      return load(() => import("./programs/health.ts"), (m) => m.health("sentinel")).pipe(Effect.provide(live))
    case "backup":
      return load(() => import("./programs/backup.ts"), (m) => m.backup(command.now)).pipe(Effect.provide(withStore))
    case "pre-stop":
      return load(() => import("./programs/preStop.ts"), (m) => m.preStop).pipe(Effect.provide(live))
    case "status":
      return load(() => import("./programs/status.ts"), (m) => m.status(command.json)).pipe(Effect.provide(live))
    case "list":
      return load(() => import("./programs/list.ts"), (m) => m.list(command.json)).pipe(Effect.provide(live))
    case "switchover":
      return load(() => import("./programs/switchover.ts"), (m) => m.switchover(Option.fromUndefinedOr(command.to))).pipe(Effect.provide(live))
    case "pause":
      return load(() => import("./programs/maintenance.ts"), (m) => m.pause).pipe(Effect.provide(live))
    case "resume":
      return load(() => import("./programs/maintenance.ts"), (m) => m.resume).pipe(Effect.provide(live))
  }
}

/** One line per failure; a role check failing because the node has the other role is only debug. */
const report = (cause: Cause.Cause<unknown>) => {
  const error = Cause.squash(cause)
  const message = error instanceof Error ? error.message : String(error)
  const expected = typeof error === "object" && error !== null && "expected" in error && error.expected === true
  return expected ? Effect.logDebug(message) : Effect.logError(message)
}

const dispatch = (command: Command) => run(command).pipe(Effect.annotateLogs({ handler: command._tag }))

const main = Cli.runWith(manageCommand(dispatch), { version, renderErrors: false })(process.argv.slice(2)).pipe(
  Effect.catchIf(CliError.isCliError, (e) =>
    Option.match(usageProblem(e), { onNone: () => Effect.void, onSome: (detail) => Effect.fail(new UsageError({ detail })) })),
  Effect.provide(Layer.mergeAll(cliEnvironment, cliLayer))
)

main.pipe(
  Effect.tapCause((cause) => (Cause.hasInterruptsOnly(cause) ? Effect.void : report(cause))),
  Effect.provide(stderrLogger(Settings.logFormat())),
  NodeRuntime.runMain({
    disableErrorReporting: true,
    // Exit as soon as the handler is done, also on success: ContainerPilot starts Redis
    // on pre-start's exit, so a socket or timer a library leaves open must never keep
    // the process (and the node) waiting.
    teardown: (exit, onExit) => Runtime.defaultTeardown(exit, (code) => {
      onExit(code)
      exitAfterFlush(code)
    })
  })
)

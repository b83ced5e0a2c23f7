// A StrykerJS ignore-plugin for `npm run mutation`. A mutant inside an
// `Effect.log*(…)` call, or in the condition of an `if` whose only effect is such a
// call, changes only whether or how a log line reads. No test reads log lines and no
// operator decision rests on them (the reasons that decide are asserted where they are
// made, in src/domain). Such mutants survive by design and, surviving, cost a full run
// of every test that covers them, so they are left out of the score and the run.
// An `if` that returns after logging is not ignored: its condition decides.
// Also left out: the options object of Effect.all/forEach/filter when it holds only
// `concurrency` and `discard`. Changing it runs the same calls one after another or
// keeps a result nobody reads: the outcome is the same, only the time differs, and
// the bounds that depend on that time are asserted by the failure matrices
// (failureMatrix, agentFaults: real sockets that hang), which this run leaves out.
import { declareValuePlugin, PluginKind } from "@stryker-mutator/api/plugin"

const logCalls = new Set(["log", "logDebug", "logInfo", "logWarning", "logError"])

const isLogCall = (node) =>
  node.type === "CallExpression" &&
  node.callee.type === "MemberExpression" &&
  node.callee.object.type === "Identifier" &&
  node.callee.object.name === "Effect" &&
  node.callee.property.type === "Identifier" &&
  logCalls.has(node.callee.property.name)

/** `Effect.log(…)` or `yield* Effect.log(…)` as a statement of its own. */
const isLogStatement = (node) => {
  if (node.type === "BlockStatement") return node.body.length === 1 && isLogStatement(node.body[0])
  if (node.type !== "ExpressionStatement") return false
  const e = node.expression
  return isLogCall(e) || (e.type === "YieldExpression" && e.delegate && e.argument !== null && isLogCall(e.argument))
}

const executionOptions = new Set(["concurrency", "discard"])

/** `{ concurrency: "unbounded" }`, `{ concurrency: 2, discard: true }`: how, not what. */
const isExecutionOptions = (node) =>
  node.type === "ObjectExpression" &&
  node.properties.length > 0 &&
  node.properties.every((p) => p.type === "ObjectProperty" && p.key.type === "Identifier" && executionOptions.has(p.key.name))

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, "log-and-options", {
    shouldIgnore(path) {
      const node = path.node
      if (isExecutionOptions(node)) return "concurrency or discard: the same outcome, only its timing differs (README, Mutation testing)"
      if (isLogCall(node)) return "log text: no test reads log lines (README, Mutation testing)"
      if (node.type === "IfStatement" && node.alternate == null && isLogStatement(node.consequent)) {
        return "whether a line is logged: no test reads log lines (README, Mutation testing)"
      }
      return undefined
    }
  })
]

// A StrykerJS ignore-plugin for `npm run mutation`: a mutant inside an
// `Effect.log*(…)` call, or in the condition of an `if` whose only effect is such a
// call, changes only whether or how a log line reads. No test reads log lines and no
// operator decision rests on them (the reasons that decide are asserted where they are
// made, in src/domain). Such mutants survive by design and, surviving, cost a full run
// of every test that covers them, so they are left out of the score and the run.
// An `if` that returns after logging is not ignored: its condition decides.
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

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, "effect-log", {
    shouldIgnore(path) {
      const node = path.node
      if (isLogCall(node)) return "log text: no test reads log lines (README, Mutation testing)"
      if (node.type === "IfStatement" && node.alternate == null && isLogStatement(node.consequent)) {
        return "whether a line is logged: no test reads log lines (README, Mutation testing)"
      }
      return undefined
    }
  })
]

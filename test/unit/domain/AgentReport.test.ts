// The one shape a node agent writes at GET /status and `manage status`/`list` read back
// from every node: a report of this version decodes whole, one of an earlier version
// (no priority, no fence) still decodes, and a report that says something else (a role
// or a field the reader does not know how to read) is refused rather than misread.
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { AgentReport, AgentReportFromJson } from "../../../src/domain/AgentReport.ts"

const verdict = { pass: true, reason: "master with 2 replicas", since: "2026-12-07T06:00:00.000Z" }
const report: AgentReport = {
  node: "node-1",
  redis: "10.0.0.11:6379",
  role: "master",
  following: null,
  link: null,
  offset: 5052,
  replicas: [{ redis: "10.0.0.12:6379", offset: 5052, lagBytes: 0 }],
  priority: { configured: 100, current: 100 },
  sentinels: { known: 3, answered: 3, master: "10.0.0.11:6379", votes: 3 },
  verdicts: { master: verdict, replica: { ...verdict, pass: false }, sentinel: verdict },
  consul: { lastSync: "2026-12-07T06:00:01.000Z", problem: null, paused: false },
  failovers: { seen: 1, last: { from: "10.0.0.13:6379", to: "10.0.0.11:6379", at: "2026-12-07T05:59:00.000Z" } },
  lastBackup: null,
  fence: { fenced: false, reason: "confirmed by 3 of 3 sentinels", since: "2026-12-07T06:00:00.000Z", minReplicasToWrite: 1, applied: 1 },
  agent: { startedAt: "2026-12-07T05:58:00.000Z", cycles: 120, lastCycleAt: "2026-12-07T06:00:01.000Z" }
}
const decode = (value: unknown) => Schema.decodeUnknownResult(AgentReport)(value)

describe("AgentReport", () => {
  it("a report decodes whole, through its JSON too", () => {
    assert.deepStrictEqual(Result.getOrThrow(decode(report)), report)
    assert.deepStrictEqual(Result.getOrThrow(Schema.decodeUnknownResult(AgentReportFromJson)(JSON.stringify(report))), report)
  })

  it("every role a node can have; unknowns as null", () => {
    for (const role of ["master", "replica", "sentinel", "unknown"]) assert.isTrue(Result.isSuccess(decode({ ...report, role })), role)
    const unknowns = { ...report, role: "unknown", offset: null, verdicts: null, priority: { configured: 100, current: null }, fence: null }
    assert.isTrue(Result.isSuccess(decode({ ...unknowns, sentinels: { ...report.sentinels, master: null }, failovers: { seen: 0, last: null } })))
    assert.isTrue(Result.isSuccess(decode({ ...report, role: "replica", following: "10.0.0.12:6379", link: "connected" })))
  })

  it("an earlier agent's report, without priority and fence, still decodes", () => {
    const { priority: _p, fence: _f, ...earlier } = report
    assert.isTrue(Result.isSuccess(decode(earlier)))
  })

  it("anything else is refused", () => {
    assert.isTrue(Result.isFailure(decode({ ...report, role: "primary" })))
    assert.isTrue(Result.isFailure(decode({ ...report, offset: "5052" })))
    assert.isTrue(Result.isFailure(decode({ ...report, replicas: [{ redis: "10.0.0.12:6379", offset: 5052 }] })))
    assert.isTrue(Result.isFailure(decode({ ...report, verdicts: { master: verdict } })))
    assert.isTrue(Result.isFailure(decode({ ...report, fence: { fenced: "no" } })))
    assert.isTrue(Result.isFailure(decode({ ...report, consul: { lastSync: null, problem: null } })))
    assert.isTrue(Result.isFailure(decode({ ...report, agent: { startedAt: "x", cycles: 1 } })))
    assert.isTrue(Result.isFailure(decode({ ...report, priority: { configured: 100 } })))
    assert.isTrue(Result.isFailure(decode({ ...report, failovers: { seen: 1, last: { from: "a" } } })))
    assert.isTrue(Result.isFailure(Schema.decodeUnknownResult(AgentReportFromJson)("{")))
  })
})

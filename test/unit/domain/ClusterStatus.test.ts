// `manage status`: the cluster as the operator sees it. Unknown parts (no sentinel
// majority, a node that cannot be read, no lag, absent registrations, no backup)
// stay visible as unknown instead of being dropped from the table.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { type ClusterStatus, notAnswering, renderStatus, unseen } from "../../../src/domain/ClusterStatus.ts"
import { at, manifestAt, sha256Of } from "../../support/scenarios.ts"

const healthy: ClusterStatus = {
  masterName: "mymaster",
  paused: false,
  sentinelMaster: Option.some({ master: at("10.0.0.5"), votes: 3, of: 3 }),
  nodes: [
    { endpoint: at("10.0.0.5"), consul: { master: "passing", replica: "critical" }, role: "master", lag: Option.none(), priority: Option.some(100), fenced: Option.none() },
    { endpoint: at("10.0.0.6"), consul: { master: "critical", replica: "passing" }, role: "replica of 10.0.0.5:6379", lag: Option.some(128), priority: Option.some(100), fenced: Option.none() }
  ],
  sentinels: [{ endpoint: at("10.0.0.5", 26379), consul: "passing", reports: "10.0.0.5:6379" }],
  lastBackup: Option.some(manifestAt("2026-11-24T00:00:00Z", { sha256: sha256Of("b"), bytes: 4096 })),
  problems: []
}

const rowOf = (text: string, start: string): string => {
  const row = text.split("\n").find((l) => l.startsWith(start))
  return row ?? assert.fail(`no row starting with ${start} in\n${text}`)
}

describe("renderStatus", () => {
  it("shows the master Sentinel agrees on, with the tally", () => {
    assert.include(renderStatus(healthy), "master of mymaster: 10.0.0.5:6379 (3 of 3 sentinels agree)")
  })

  it("one row per node with role, lag and both registrations", () => {
    const text = renderStatus(healthy)
    assert.match(rowOf(text, "10.0.0.6:6379"), /^10\.0\.0\.6:6379\s+replica of 10\.0\.0\.5:6379\s+128 B\s+100\s+critical\s+passing$/)
    assert.match(rowOf(text, "10.0.0.5:6379"), /^10\.0\.0\.5:6379\s+master\s+-\s+100\s+passing\s+critical$/)
    assert.match(rowOf(text, "10.0.0.5:26379"), /passing\s+10\.0\.0\.5:6379$/)
  })

  it("says which node is fenced and why, right under the master line", () => {
    const why = "Redis says master, but 2 of 3 sentinels name 10.0.0.6:6379: demoted or cut off"
    const [first, second] = healthy.nodes
    const fenced = { ...healthy, nodes: [{ ...first!, fenced: Option.some(why) }, second!] }
    assert.strictEqual(renderStatus(fenced).split("\n")[1], `fenced: 10.0.0.5:6379 refuses writes: ${why}`)
    assert.notInclude(renderStatus(healthy), "fenced")
  })

  it("says when the cluster is paused", () => {
    assert.notInclude(renderStatus(healthy), "paused")
    assert.include(renderStatus({ ...healthy, paused: true }).split("\n")[1] ?? "", "maintenance: paused (manage resume ends it)")
  })

  it("shows the last backup with a shortened hash", () => {
    const line = rowOf(renderStatus(healthy), "last backup:")
    assert.include(line, healthy.lastBackup.pipe(Option.map((b) => b.id), Option.getOrElse(() => "?")))
    assert.include(line, "4096 bytes")
    assert.include(line, `sha256 ${"b".repeat(12)}…`)
    assert.notInclude(line, "b".repeat(13))
  })

  it("unknowns are shown, not hidden", () => {
    const unknown: ClusterStatus = {
      masterName: "mymaster",
      paused: false,
      sentinelMaster: Option.none(),
      nodes: [{ endpoint: at("10.0.0.7"), consul: { master: "absent", replica: "absent" }, role: "unreachable: connection refused", lag: Option.none(), priority: Option.none(), fenced: Option.none() }],
      sentinels: [{ endpoint: at("10.0.0.7", 26379), consul: "critical", reports: "no answer" }],
      lastBackup: Option.none(),
      problems: ["2 nodes answer as master: 10.0.0.5:6379, 10.0.0.6:6379"]
    }
    const text = renderStatus(unknown)
    assert.include(text, "master of mymaster: no sentinel majority")
    assert.match(rowOf(text, "10.0.0.7:6379"), /unreachable: connection refused\s+-\s+-\s+absent\s+absent$/)
    assert.match(rowOf(text, "10.0.0.7:26379"), /critical\s+no answer$/)
    assert.include(text, "last backup: none recorded")
    assert.include(text, "problem: 2 nodes answer as master: 10.0.0.5:6379, 10.0.0.6:6379")
  })

  it("an empty cluster still prints both table headers", () => {
    const text = renderStatus({ ...healthy, nodes: [], sentinels: [], sentinelMaster: Option.none(), lastBackup: Option.none() })
    assert.include(text, "REDIS  ROLE  LAG  PRIORITY  CONSUL master  CONSUL replica")
    assert.include(text, "SENTINEL  CONSUL  REPORTS MASTER")
  })

  it("columns line up whatever the cell widths", () => {
    const lines = renderStatus(healthy).split("\n")
    const header = lines.find((l) => l.startsWith("REDIS")) ?? ""
    const row = rowOf(renderStatus(healthy), "10.0.0.6:6379")
    assert.strictEqual(row.indexOf("128 B"), header.indexOf("LAG"))
  })
})

describe("unseen: when status must exit non-zero", () => {
  it("a cluster with one answering node is seen, also without a sentinel majority or a backup", () => {
    assert.isTrue(Option.isNone(unseen(healthy)))
    assert.isTrue(Option.isNone(unseen({ ...healthy, sentinelMaster: Option.none(), lastBackup: Option.none(), sentinels: [] })))
  })

  it("Consul unreadable, nothing registered, or no Redis answering is not a view of the cluster", () => {
    assert.match(Option.getOrElse(unseen({ ...healthy, problems: ["Consul health.service redis: unreachable"] }), () => ""), /Consul could not be read/)
    assert.match(Option.getOrElse(unseen({ ...healthy, nodes: [] }), () => ""), /no Redis node is registered/)
    const silent = healthy.nodes.map((n) => ({ ...n, role: notAnswering }))
    assert.match(Option.getOrElse(unseen({ ...healthy, nodes: silent }), () => ""), /no registered Redis node answered/)
    assert.deepStrictEqual(unseen({ ...healthy, problems: ["a: timeout"] }), Option.some("Consul could not be read (a: timeout)"))
    assert.deepStrictEqual(unseen({ ...healthy, problems: ["a: timeout", "b: timeout", "c: timeout"] }), Option.some("Consul could not be read (a: timeout and 2 more)"))
  })

  it("one node answering among silent ones is a view of the cluster", () => {
    const [first, ...rest] = healthy.nodes
    if (first === undefined) return assert.fail("the fixture has nodes")
    assert.isTrue(Option.isNone(unseen({ ...healthy, nodes: [first, ...rest.map((n) => ({ ...n, role: notAnswering })), { ...first, role: notAnswering }] })))
  })
})

// `manage list` rendering: master first, then replicas by address; unknowns as "-";
// a priority held away from its configured value shows both; paused in the title.
import { assert, describe, it } from "@effect/vitest"
import { Option } from "effect"
import { type ClusterList, listJson, type ListRow, renderList } from "../../../src/domain/ClusterList.ts"
import { at } from "../../support/scenarios.ts"

const row = (n: number, o: Partial<ListRow> = {}): ListRow => ({
  node: Option.some(`node-${n}`),
  endpoint: at(`10.0.0.${n}`),
  role: "replica",
  state: "streaming",
  lagBytes: Option.some(0),
  priority: Option.some({ current: 100, configured: Option.some(100) }),
  lastCheck: Option.some("2026-01-01T00:00:00.000Z"),
  fenced: Option.none(),
  ...o
})

const list = (rows: ReadonlyArray<ListRow>, paused = false): ClusterList => ({ serviceName: "redis", masterName: "mymaster", paused, rows })

describe("renderList", () => {
  it("a table like patronictl's, master first", () => {
    const text = renderList(list([
      row(10, { lagBytes: Option.some(42) }),
      row(2, { role: "master", state: "running" }),
      row(3, { node: Option.none(), role: "unknown", state: "Redis not answering, agent not answering", lagBytes: Option.none(), priority: Option.none(), lastCheck: Option.none() })
    ]))
    assert.strictEqual(text, [
      "Cluster: redis (mymaster)",
      "+---------+----------------+---------+------------------------------------------+----------+----------+--------------------------+",
      "| Node    | Address        | Role    | State                                    | Lag in B | Priority | Last check               |",
      "+---------+----------------+---------+------------------------------------------+----------+----------+--------------------------+",
      "| node-2  | 10.0.0.2:6379  | master  | running                                  | 0        | 100      | 2026-01-01T00:00:00.000Z |",
      "| -       | 10.0.0.3:6379  | unknown | Redis not answering, agent not answering | -        | -        | -                        |",
      "| node-10 | 10.0.0.10:6379 | replica | streaming                                | 42       | 100      | 2026-01-01T00:00:00.000Z |",
      "+---------+----------------+---------+------------------------------------------+----------+----------+--------------------------+",
      ""
    ].join("\n"))
  })

  it("the master first even when its address sorts last, then the others by address (in --json too)", () => {
    const l = list([row(3), row(9, { role: "master", state: "running" }), row(2)])
    assert.deepStrictEqual(listJson(l).nodes.map((n) => n.address), ["10.0.0.9:6379", "10.0.0.2:6379", "10.0.0.3:6379"])
    assert.deepStrictEqual(renderList(l).split("\n").slice(4, 7).map((line) => line.split("|")[2]?.trim()), ["10.0.0.9:6379", "10.0.0.2:6379", "10.0.0.3:6379"])
  })

  it("paused, and a priority held away from REPLICA_PRIORITY", () => {
    const text = renderList(list([row(2, { priority: Option.some({ current: 0, configured: Option.some(100) }) })], true))
    assert.match(text, /^Cluster: redis \(mymaster\) - maintenance mode: paused, no automatic failover\n/)
    assert.include(text, "| 0 (configured 100) |")
  })

  it("--json: nulls for unknowns", () => {
    assert.deepStrictEqual(listJson(list([row(3, { lagBytes: Option.none(), priority: Option.some({ current: 0, configured: Option.none() }), lastCheck: Option.none() })])), {
      service: "redis",
      masterName: "mymaster",
      paused: false,
      nodes: [{ node: "node-3", address: "10.0.0.3:6379", role: "replica", state: "streaming", lagBytes: null, priority: 0, configuredPriority: null, lastCheck: null, fenced: null }]
    })
  })

  it("a fenced master: its state says so, and a line under the table says why (in --json the reason)", () => {
    const why = "no majority of the sentinels named this node master within FENCE_AFTER (2s)"
    const l = list([row(2, { role: "master", state: "fenced", fenced: Option.some(why) }), row(3)])
    const text = renderList(l)
    assert.match(text, /\| node-2 +\| 10\.0\.0\.2:6379 +\| master +\| fenced +\|/)
    assert.strictEqual(text.trimEnd().split("\n").at(-1), `node-2 refuses writes: ${why}`)
    assert.deepStrictEqual(listJson(l).nodes.map((n) => n.fenced), [why, null])
  })
})

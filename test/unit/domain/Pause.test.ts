// Maintenance mode's decision over a node's replica-priority: 0 while paused, the
// configured value back once resumed (or when the agent starts), and otherwise left
// alone, so an agent never undoes the temporary priorities of a switchover.
import { assert, describe, it } from "@effect/vitest"
import { decidePriority, type PriorityObservation } from "../../../src/domain/Pause.ts"

const node = (o: Partial<PriorityObservation>): PriorityObservation => ({ paused: false, aofPending: false, configured: 100, current: 100, restorePending: false, ...o })

describe("decidePriority", () => {
  it("paused: a node at any non-zero priority is set to 0, one at 0 is kept", () => {
    for (const current of [1, 50, 100, 2_147_483_647]) {
      const action = decidePriority(node({ paused: true, current }))
      assert.deepStrictEqual(action, { _tag: "Set", priority: 0, reason: `paused: replica-priority ${current} → 0, so Sentinel cannot promote this node` })
    }
    assert.strictEqual(decidePriority(node({ paused: true, current: 0 }))._tag, "Keep")
  })

  it("resumed: REPLICA_PRIORITY comes back, whatever the node ran with", () => {
    assert.deepStrictEqual(decidePriority(node({ current: 0, configured: 20, restorePending: true })), {
      _tag: "Set",
      priority: 20,
      reason: "not paused: replica-priority 0 → REPLICA_PRIORITY (20)"
    })
    assert.strictEqual(decidePriority(node({ current: 20, configured: 20, restorePending: true }))._tag, "Keep")
  })

  it("a REPLICA_PRIORITY=0 node stays at 0 through a pause and a resume", () => {
    assert.strictEqual(decidePriority(node({ paused: true, current: 0, configured: 0 }))._tag, "Keep")
    assert.strictEqual(decidePriority(node({ current: 0, configured: 0, restorePending: true }))._tag, "Keep")
  })

  it("not paused and nothing to restore: a temporary priority (a switchover's) is left alone", () => {
    assert.deepStrictEqual(decidePriority(node({ current: 0, configured: 100 })), { _tag: "Keep", reason: "not paused: replica-priority left as it is" })
  })

  it("not paused: a priority away from REPLICA_PRIORITY longer than a switchover holds one is put back (a switchover that could not restore it)", () => {
    const limitMs = 60_000
    assert.strictEqual(decidePriority(node({ current: 0, stray: { forMs: limitMs - 1, limitMs } }))._tag, "Keep")
    assert.deepStrictEqual(decidePriority(node({ current: 0, stray: { forMs: limitMs, limitMs } })), {
      _tag: "Set",
      priority: 100,
      reason: "not paused: replica-priority 0 for 60 s, longer than a switchover holds it (60 s): → REPLICA_PRIORITY (100)"
    })
    assert.strictEqual(decidePriority(node({ current: 100, stray: { forMs: 10 * limitMs, limitMs } }))._tag, "Keep")
    assert.strictEqual(decidePriority(node({ paused: true, current: 0, stray: { forMs: 10 * limitMs, limitMs } }))._tag, "Keep", "paused: 0 is right")
  })

  it("started from its last stop's RDB, its AOF not yet written: held at 0 like a pause, then REPLICA_PRIORITY back", () => {
    assert.deepStrictEqual(decidePriority(node({ aofPending: true, current: 0, restorePending: true }))._tag, "Keep")
    const set = decidePriority(node({ aofPending: true, current: 100, restorePending: true }))
    assert.deepStrictEqual(set._tag === "Set" ? set.priority : undefined, 0)
    const back = decidePriority(node({ aofPending: false, current: 0, restorePending: true }))
    assert.deepStrictEqual(back._tag === "Set" ? back.priority : undefined, 100)
  })
})

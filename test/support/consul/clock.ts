// Time for the Consul emulator. Every timer the emulator keeps (TTL checks, session
// TTLs, lock-delays, the reaper, deferred check output, blocking-query waits) goes
// through one Clock, so a manual clock can drive all of them with advance().

export interface Timer {
  cancel(): void
}

export interface Clock {
  /** Milliseconds; only differences matter. */
  now(): number
  after(ms: number, fn: () => void): Timer
  /** Cancels every pending timer (emulator shutdown). */
  cancelAll(): void
}

/** Node's timers overflow past 2^31-1 ms; longer waits are chained. */
const MAX_TIMEOUT = 2_147_483_647

export const realClock = (): Clock => {
  const pending = new Set<NodeJS.Timeout>()
  const after = (ms: number, fn: () => void): Timer => {
    let handle: NodeJS.Timeout
    const arm = (remaining: number) => {
      handle = setTimeout(() => {
        pending.delete(handle)
        if (remaining > MAX_TIMEOUT) arm(remaining - MAX_TIMEOUT)
        else fn()
      }, Math.min(Math.max(0, remaining), MAX_TIMEOUT))
      // The HTTP server keeps the process alive while the emulator runs.
      handle.unref()
      pending.add(handle)
    }
    arm(ms)
    return {
      cancel: () => {
        clearTimeout(handle)
        pending.delete(handle)
      }
    }
  }
  return {
    now: () => Date.now(),
    after,
    cancelAll: () => {
      for (const handle of pending) clearTimeout(handle)
      pending.clear()
    }
  }
}

interface ManualTimer {
  readonly seq: number
  readonly at: number
  readonly fn: () => void
}

export interface ManualClock extends Clock {
  /** Moves time forward, firing due timers in order (timers they arm fire too if due). */
  advance(ms: number): void
}

export const manualClock = (start = Date.now()): ManualClock => {
  let time = start
  let seq = 0
  const timers = new Map<number, ManualTimer>()
  const nextDue = (until: number): ManualTimer | undefined => {
    let best: ManualTimer | undefined
    for (const t of timers.values()) {
      if (t.at > until) continue
      if (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t
    }
    return best
  }
  return {
    now: () => time,
    after: (ms, fn) => {
      const timer = { seq: ++seq, at: time + Math.max(0, ms), fn }
      timers.set(timer.seq, timer)
      return { cancel: () => void timers.delete(timer.seq) }
    },
    cancelAll: () => timers.clear(),
    advance: (ms) => {
      if (!(ms >= 0)) throw new RangeError(`advance(${ms}): needs a non-negative number of milliseconds`)
      const target = time + ms
      for (let due = nextDue(target); due !== undefined; due = nextDue(target)) {
        timers.delete(due.seq)
        time = Math.max(time, due.at)
        due.fn()
      }
      time = target
    }
  }
}

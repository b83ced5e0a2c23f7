// Sentinel's internal periods that decide how fast and how surely it fails over
// (Redis 7's `SENTINEL DEBUG`), the values the agent keeps its local sentinel at and
// why. Sentinel holds them in memory only (no sentinel.conf directive), so a restarted
// sentinel runs with its defaults until its agent puts these back. Measured with
// `npm run bench:failover` (README, "Failover").

export interface Period {
  /** Milliseconds. */
  readonly value: number
  /** Sentinel's own default, for the docs and the test that the table changes something. */
  readonly sentinelDefault: number
  readonly why: string
}

export const sentinelPeriods = {
  "info-period": {
    value: 1000,
    sentinelDefault: 10_000,
    why:
      "While the master is down, Sentinel promotes only a replica whose INFO it read in the last 5 s, but it asks replicas every 10 s until the master is objectively down or a replica reports its link down, and a replica of a cut-off or frozen master reports the link up for repl-timeout (60 s): the failover then aborts (no-good-slave) and waits 2 × failover-timeout. Asked every second, a live replica is always fresh enough. It also learns a new replica within a second instead of ten."
  },
  "ping-period": {
    value: 500,
    sentinelDefault: 1000,
    why:
      "A master is subjectively down SENTINEL_DOWN_AFTER after the first ping it left unanswered, and pings go out every second: a master that stops answering just after a ping is noticed up to a second late, and a kill, a cut or a freeze then take up to a second longer than down-after to be failed over. Every half second halves that. It also bounds how fresh a replica must be to be promoted (5 pings' time: 2.5 s), which the INFO every second above keeps."
  },
  "tilt-period": {
    value: 5000,
    sentinelDefault: 30_000,
    why:
      "A sentinel whose clock jumped or whose process was stopped (a frozen VM) enters TILT and takes no decision for this long, so its data can be refreshed. Its pings (every second) and INFO (every second, above) are fresh within a few seconds; for the default 30 s a second failure elsewhere finds one sentinel short of the quorum and is not failed over."
  }
} as const satisfies Readonly<Record<string, Period>>

export type PeriodName = keyof typeof sentinelPeriods

/** The `SENTINEL DEBUG <name> <value>` pairs that bring `current` (its reply, names in any case) to the table. */
export const periodChanges = (current: Readonly<Record<string, number>>): ReadonlyArray<readonly [PeriodName, number]> => {
  const lower = new Map(Object.entries(current).map(([k, v]) => [k.toLowerCase(), v] as const))
  return (Object.entries(sentinelPeriods) as ReadonlyArray<readonly [PeriodName, Period]>)
    .filter(([name, p]) => lower.get(name) !== p.value)
    .map(([name, p]) => [name, p.value] as const)
}

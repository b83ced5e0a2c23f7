// The network between the client and the emulator, for object bodies: a rate in
// bytes per second (loopback is otherwise ~GB/s, so no test would ever see a
// transfer outlast a timer), and stalls, where the bytes stop mid-body and nothing
// more crosses in either direction, as when a path dies without a reset.
import { Transform, type TransformCallback } from "node:stream"

export type Direction = "upload" | "download"

/** One stall armed with `stallNext`: when it began and when the client gave up on it. */
export interface Stall {
  readonly direction: Direction
  readonly afterBytes: number
  /** ms since the epoch when the stalled body stopped, once it did. */
  readonly stalled: Promise<number>
  /**
   * ms since the epoch when the client closed the stalled connection. Downloads only:
   * a server that stopped reading an upload never sees the client go, because TCP
   * delivers the client's FIN only after the bytes queued before it.
   */
  readonly abandoned: Promise<number>
}

export interface ArmedStall extends Stall {
  markStalled(): void
  markAbandoned(): void
}

export const armStall = (direction: Direction, afterBytes: number): ArmedStall => {
  let stalledAt: ((t: number) => void) | undefined
  let abandonedAt: ((t: number) => void) | undefined
  let isStalled = false
  const stalled = new Promise<number>((resolve) => (stalledAt = resolve))
  const abandoned = new Promise<number>((resolve) => (abandonedAt = resolve))
  return {
    direction,
    afterBytes,
    stalled,
    abandoned,
    markStalled: () => {
      isStalled = true
      stalledAt?.(Date.now())
    },
    // Closing before the stall is an ordinary failure, not the client giving up on a stall.
    markAbandoned: () => {
      if (isStalled) abandonedAt?.(Date.now())
    }
  }
}

/** Slices per second at a limited rate: fine enough that a 100 ms window sees progress. */
const SLICES_PER_SECOND = 20

/**
 * Passes bytes at `rate()` bytes/s (unlimited when undefined) and, with a stall,
 * stops for good after `stall.afterBytes`: its callback is never called, so the
 * other side sees TCP backpressure and then silence.
 */
export class Link extends Transform {
  readonly #rate: () => number | undefined
  readonly #stall: ArmedStall | undefined
  #moved = 0
  #startedAt: number | undefined
  #timer: NodeJS.Timeout | undefined

  constructor(rate: () => number | undefined, stall: ArmedStall | undefined) {
    super()
    this.#rate = rate
    this.#stall = stall
  }

  /** Whether the stall began: nothing crosses any more. */
  get stalled(): boolean {
    return this.#stall !== undefined && this.#moved >= this.#stall.afterBytes
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#pass(chunk, 0, callback)
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#timer)
    callback(error)
  }

  #pass(chunk: Buffer, offset: number, callback: TransformCallback): void {
    if (offset >= chunk.length) {
      callback()
      return
    }
    const stall = this.#stall
    if (stall !== undefined && this.#moved >= stall.afterBytes) {
      stall.markStalled()
      return
    }
    const rate = this.#rate()
    const room = stall === undefined ? Infinity : stall.afterBytes - this.#moved
    const slice = Math.min(chunk.length - offset, room, rate === undefined ? Infinity : Math.max(1, Math.floor(rate / SLICES_PER_SECOND)))
    const send = () => {
      this.push(chunk.subarray(offset, offset + slice))
      this.#moved += slice
      this.#pass(chunk, offset + slice, callback)
    }
    if (rate === undefined) {
      send()
      return
    }
    const now = Date.now()
    this.#startedAt ??= now
    const due = this.#startedAt + ((this.#moved + slice) / rate) * 1000
    if (due <= now) send()
    else this.#timer = setTimeout(send, due - now)
  }
}

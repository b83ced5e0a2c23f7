// The emulator's HTTP front: request decoding, blocking queries (index/wait with
// Consul's default, cap and jitter) and the fault modes (down, hang, garbage).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { Socket } from "node:net"
import type { Clock, Timer } from "./clock.ts"
import { parseGoDuration, parseUint64 } from "./go.ts"
import type { Raft } from "./raft.ts"
import { type Backend, dispatch, type QueryResult } from "./routes.ts"

export type Mode = "normal" | "down" | "hang" | "garbage"

/** What "garbage" mode answers to everything: truncated JSON, labelled as JSON. */
const GARBAGE = "{\"garbage\":"
const DEFAULT_WAIT_MS = 5 * 60_000
const MAX_WAIT_MS = 10 * 60_000
/** Consul adds up to wait/16 of random jitter to a blocking query. */
const JITTER_FRACTION = 16

interface Waiter {
  readonly res: ServerResponse
  readonly evaluate: () => QueryResult
  readonly minIndex: number
  last: QueryResult
  timer: Timer | undefined
}

/** HTTP Authorization "Bearer <token>" is the third place Consul looks, after ?token and X-Consul-Token. */
const tokenOf = (req: IncomingMessage, query: URLSearchParams): string => {
  const fromQuery = query.get("token") ?? ""
  if (fromQuery !== "") return fromQuery
  const header = req.headers["x-consul-token"]
  const fromHeader = Array.isArray(header) ? header[0] ?? "" : header ?? ""
  if (fromHeader !== "") return fromHeader
  const parts = (req.headers.authorization ?? "").split(" ")
  if (parts.length > 1 && parts[0]?.toLowerCase() === "bearer") return parts.slice(1).join(" ").trim().split(" ")[0]?.trim() ?? ""
  return ""
}

const fingerprint = (r: QueryResult): string =>
  `${r.status}\n${r.watch ?? ""}\n${typeof r.body === "string" ? r.body : r.body.toString("base64")}`

export class HttpFront {
  readonly host: string
  port: number
  private mode: Mode = "normal"
  private listening = false
  private readonly server: Server
  private backend: Backend
  private readonly clock: Clock
  private readonly sockets = new Set<Socket>()
  private readonly held = new Set<ServerResponse>()
  private readonly waiters = new Set<Waiter>()
  private modeChanges: Promise<void> = Promise.resolve()

  constructor(backend: Backend, clock: Clock, raft: Raft, host: string, port: number) {
    this.backend = backend
    this.clock = clock
    this.host = host
    this.port = port
    this.server = createServer((req, res) => this.handle(req, res))
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket)
      socket.on("close", () => this.sockets.delete(socket))
    })
    raft.onChange(() => this.wake())
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(e)
      this.server.once("error", onError)
      this.server.listen(this.port, this.host, () => {
        this.server.off("error", onError)
        resolve()
      })
    })
    const address = this.server.address()
    if (address === null || typeof address === "string") throw new Error(`unexpected server address ${String(address)}`)
    this.port = address.port
    this.listening = true
  }

  private async stopListening(): Promise<void> {
    if (!this.listening) return
    this.listening = false
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    for (const socket of this.sockets) socket.destroy()
    await closed
  }

  /** Mode changes run one at a time, in call order. */
  setMode(mode: Mode): Promise<void> {
    const change = this.modeChanges.then(() => this.applyMode(mode))
    this.modeChanges = change.catch(() => undefined)
    return change
  }

  private async applyMode(mode: Mode): Promise<void> {
    const previous = this.mode
    if (mode === previous) return
    this.mode = mode
    if (previous === "hang") this.dropHeld()
    if (mode === "down") {
      this.dropWaiters()
      await this.stopListening()
      // Let clients see their pooled keep-alive sockets close, so their next request is refused
      // (ECONNREFUSED) rather than written into a dead socket (ECONNRESET).
      await new Promise<void>((resolve) => setTimeout(resolve, 20))
    } else if (previous === "down") {
      await this.listen()
    }
    if (mode === "hang") {
      // Queries waiting for a change stop answering too.
      for (const w of this.waiters) {
        w.timer?.cancel()
        this.hold(w.res)
      }
      this.waiters.clear()
    }
  }

  /**
   * A Consul server restarted with an empty data directory: every connection drops
   * (clients see their sockets close, as when the process goes away) and requests are
   * answered from `backend` from then on.
   */
  async replaceBackend(backend: Backend, raft: Raft): Promise<void> {
    await this.modeChanges
    this.dropWaiters()
    this.dropHeld()
    const wasListening = this.listening
    await this.stopListening()
    this.backend = backend
    raft.onChange(() => this.wake())
    if (wasListening) await this.listen()
  }

  async close(): Promise<void> {
    await this.modeChanges
    this.dropWaiters()
    this.dropHeld()
    await this.stopListening()
  }

  private hold(res: ServerResponse): void {
    this.held.add(res)
    res.on("close", () => this.held.delete(res))
  }

  private dropHeld(): void {
    for (const res of this.held) res.socket?.destroy()
    this.held.clear()
  }

  private dropWaiters(): void {
    for (const w of this.waiters) {
      w.timer?.cancel()
      w.res.socket?.destroy()
    }
    this.waiters.clear()
  }

  private send(res: ServerResponse, status: number, body: string | Buffer, contentType: string | undefined, headers: Record<string, string> = {}): void {
    if (res.writableEnded || res.destroyed) return
    if (this.mode === "hang") return this.hold(res)
    if (this.mode === "down") return void res.socket?.destroy()
    if (this.mode === "garbage") {
      body = GARBAGE
      status = 200
      contentType = "application/json"
      headers = {}
    }
    res.writeHead(status, {
      ...headers,
      ...(contentType !== undefined ? { "Content-Type": contentType } : {}),
      "Content-Length": String(Buffer.byteLength(body))
    })
    res.end(body)
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (this.mode === "hang") {
      req.resume()
      return this.hold(res)
    }
    if (this.mode === "garbage") {
      // Nothing behind the garbage runs: a write in this mode changes no state.
      req.resume()
      return this.send(res, 200, GARBAGE, "application/json")
    }
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => this.serve(req, res, Buffer.concat(chunks)))
  }

  private serve(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    const url = req.url ?? "/"
    const cut = url.indexOf("?")
    const rawPath = cut === -1 ? url : url.slice(0, cut)
    const query = new URLSearchParams(cut === -1 ? "" : url.slice(cut + 1))
    let path: string
    try {
      path = decodeURIComponent(rawPath)
    } catch {
      return this.send(res, 400, "400 Bad Request", "text/plain; charset=utf-8")
    }
    let outcome
    try {
      outcome = dispatch(this.backend, { method: req.method ?? "GET", path, query, body, token: tokenOf(req, query) })
    } catch (e) {
      return this.send(res, 500, e instanceof Error ? e.message : String(e), "text/plain; charset=utf-8")
    }
    if (outcome.kind === "reply") return this.send(res, outcome.status, outcome.body, outcome.contentType)
    this.block(res, query, outcome.evaluate)
  }

  private block(res: ServerResponse, query: URLSearchParams, evaluate: () => QueryResult): void {
    let waitMs = 0
    const wait = query.get("wait") ?? ""
    if (wait !== "") {
      try {
        waitMs = parseGoDuration(wait) / 1e6
      } catch {
        return this.send(res, 400, "Invalid wait time", "text/plain; charset=utf-8")
      }
    }
    let minIndex = 0
    const index = query.get("index") ?? ""
    if (index !== "") {
      try {
        minIndex = Number(parseUint64(index))
      } catch {
        return this.send(res, 400, "Invalid index", "text/plain; charset=utf-8")
      }
    }
    const result = evaluate()
    if (minIndex === 0 || result.index > minIndex) return this.answer(res, result)
    waitMs = waitMs <= 0 ? DEFAULT_WAIT_MS : Math.min(waitMs, MAX_WAIT_MS)
    waitMs += Math.random() * (waitMs / JITTER_FRACTION)
    const waiter: Waiter = { res, evaluate, minIndex, last: result, timer: undefined }
    // On timeout Consul answers with the result it computed last, index unchanged.
    waiter.timer = this.clock.after(waitMs, () => this.finish(waiter, waiter.last))
    this.waiters.add(waiter)
    res.on("close", () => {
      if (this.waiters.delete(waiter)) waiter.timer?.cancel()
    })
  }

  /** After every committed write: a waiter whose data changed answers once its index passed the client's. */
  private wake(): void {
    for (const w of [...this.waiters]) {
      const next = w.evaluate()
      if (fingerprint(next) === fingerprint(w.last)) continue
      w.last = next
      if (next.index > w.minIndex) this.finish(w, next)
    }
  }

  private finish(w: Waiter, result: QueryResult): void {
    this.waiters.delete(w)
    w.timer?.cancel()
    this.answer(w.res, result)
  }

  private answer(res: ServerResponse, r: QueryResult): void {
    this.send(res, r.status, r.body, r.contentType, {
      "X-Consul-Index": String(r.index),
      "X-Consul-KnownLeader": "true",
      "X-Consul-LastContact": "0",
      "X-Consul-Effective-Consistency": "leader"
    })
  }
}

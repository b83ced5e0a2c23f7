// A test emulator of Joyent Manta's REST API (muskie), as the `manta` npm client
// uses it: HTTP-signature auth on every request, subusers acting through roles and
// role tags, directories, streamed objects with content-md5, ranged GETs, snaplinks
// and listings, over HTTP or HTTPS. Object bodies cross an emulated link with a rate
// and stalls, and an upload that goes quiet meets muskie's own idle timeout. See
// /work/shared/reference/manta-api.md for the wire behaviour it reproduces.
import { mkdtemp, readFile } from "node:fs/promises"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import { createServer as createTlsServer } from "node:https"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type EmulatorAccount, makeAuthenticator } from "./auth.ts"
import { BlobStore } from "./blobs.ts"
import { makeHandlers } from "./handlers.ts"
import { type Exchange, type LogRecord, respond, sendError } from "./http.ts"
import { armStall, type ArmedStall, type Direction, type Stall } from "./link.ts"
import { type Entry, Namespace, parsePath, type Segments } from "./namespace.ts"
import { MUSKIE_DATA_TIMEOUT_MS } from "./objects.ts"
import { makeRoles } from "./roles.ts"

export type { EmulatorAccount } from "./auth.ts"
export type { Direction, Stall } from "./link.ts"
export type { EmulatorRole, MantaAction } from "./roles.ts"

/** Bytes per second of object bodies in each direction; undefined: as fast as loopback goes. */
export interface Rates {
  readonly upload?: number | undefined
  readonly download?: number | undefined
}

export interface MantaEmulatorOptions {
  /** Listens here; default "127.0.0.1". */
  readonly host?: string
  /** The host name `nodeUrl` gives the nodes (the local runner's `testHost().name`); default `host`. */
  readonly publicHost?: string
  /** Default 0 (any free port). */
  readonly port?: number
  readonly accounts: ReadonlyArray<EmulatorAccount>
  /**
   * Where object bytes are streamed to. The emulator works in a fresh directory inside it
   * (inside the OS temp dir by default) and removes that directory on close.
   */
  readonly storageDir?: string
  /** Serve HTTPS with this key and certificate (PEM), as the real Manta does. */
  readonly tls?: { readonly key: string; readonly cert: string }
  readonly rates?: Rates
  /** muskie's MUSKIE_DATA_TIMEOUT: an upload with no data this long gets 408 UploadTimeout. Default 45 s. */
  readonly uploadIdleTimeoutMs?: number
}

export type MantaEmulatorMode = "normal" | "down" | "hang" | "garbage"

export interface MantaRequestRecord {
  readonly method: string
  /** Decoded path without the query, e.g. "/alice/stor/backups". */
  readonly path: string
  /** 0 while unanswered (and forever for requests held in "hang" mode). */
  readonly status: number
  readonly signed: boolean
}

export interface StallOptions {
  readonly direction: Direction
  /** Bytes of the body that cross before it stops. */
  readonly afterBytes: number
  /** Only a body to a path this matches (default: the next body in that direction). */
  readonly path?: RegExp
}

export interface MantaEmulator {
  /** "http://127.0.0.1:<port>", or https:// with `tls`. */
  /** Where the test process reaches it. */
  readonly url: string
  /** Where a node of the local cluster reaches it (MANTA_URL). */
  readonly nodeUrl: string
  /** Changes the link's rates for bodies that cross from now on. */
  setRates(rates: Rates): void
  /** Arms a stall for the next body (in that direction, to a matching path). */
  stallNext(options: StallOptions): Stall
  /**
   * normal; down: stop listening (connection refused); hang: accept, never answer;
   * garbage: answer everything 200 with an HTML page. "down" drops every connection;
   * the other switches keep open keep-alive connections, which then hang or get garbage
   * too (a client reusing one in "hang" mode gets no requestTimeout: see the tests).
   */
  setMode(mode: MantaEmulatorMode): Promise<void>
  /** The bytes of the object at a plain (not URL-encoded) path, e.g. "/alice/stor/x.rdb.gz". */
  readObject(path: string): Promise<Buffer | undefined>
  /** Flips bytes of the stored object (first, middle, last) keeping its recorded content-md5 and size. */
  corruptObject(path: string): Promise<void>
  /** Sorted names in a directory ([] when there is no such directory). */
  list(dir: string): Promise<ReadonlyArray<string>>
  requests(): ReadonlyArray<MantaRequestRecord>
  close(): Promise<void>
}

const GARBAGE_BODY = "<html><head><title>Welcome</title></head><body><h1>It works!</h1>{\"not\": json</body></html>\n"

const splitPlainPath = (path: string): Segments => path.split("/").filter((segment) => segment !== "")

export const startMantaEmulator = async (options: MantaEmulatorOptions): Promise<MantaEmulator> => {
  const host = options.host ?? "127.0.0.1"
  const authenticate = makeAuthenticator(options.accounts)
  const roles = makeRoles(options.accounts)
  const ns = new Namespace(options.accounts.map((account) => account.login))
  const blobs = new BlobStore(await mkdtemp(join(options.storageDir ?? tmpdir(), "manta-emulator-")))
  let rates: Rates = options.rates ?? {}
  const stalls: Array<{ readonly stall: ArmedStall; readonly path: RegExp | undefined }> = []
  const { handle } = makeHandlers(ns, blobs, roles, {
    rate: (direction) => rates[direction],
    takeStall: (direction, path) => {
      const at = stalls.findIndex((s) => s.stall.direction === direction && (s.path === undefined || s.path.test(path)))
      return at < 0 ? undefined : stalls.splice(at, 1)[0]?.stall
    },
    uploadIdleTimeoutMs: () => options.uploadIdleTimeoutMs ?? MUSKIE_DATA_TIMEOUT_MS
  })
  const log: Array<LogRecord> = []
  const inFlight = new Set<Promise<void>>()
  let mode: MantaEmulatorMode = "normal"

  const onRequest = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): void => {
    const parsed = parsePath(req.url ?? "/")
    const record: LogRecord = { method: req.method ?? "", path: parsed.path, status: 0, signed: false }
    log.push(record)
    const x: Exchange = { req, res, expectsContinue, continued: false, record }
    const auth = authenticate(req)
    record.signed = auth.ok
    if (mode === "hang") return
    if (mode === "garbage") {
      respond(x, 200, { "content-type": "text/html; charset=utf-8" }, GARBAGE_BODY)
      return
    }
    if (!auth.ok) {
      sendError(x, 403, auth.code, auth.message)
      return
    }
    const roleHeader = req.headers["role"]
    const activation = roles.activate(auth.caller, Array.isArray(roleHeader) ? roleHeader.join(",") : roleHeader)
    if (!activation.ok) {
      sendError(x, activation.status, activation.code, activation.message)
      return
    }
    if (!parsed.ok) {
      sendError(x, 400, "InvalidResource", `"${parsed.path}" is invalid`)
      return
    }
    if (parsed.segments[0] !== auth.caller.account) {
      const who = auth.caller.subuser === undefined ? auth.caller.account : `${auth.caller.account}/${auth.caller.subuser}`
      sendError(x, 403, "AuthorizationFailed", `${who} is not allowed to access ${parsed.path}`)
      return
    }
    const query = new URLSearchParams((req.url ?? "").split("?")[1] ?? "")
    const work = handle(x, { caller: auth.caller, active: activation.roles }, parsed.segments, query).catch((error: unknown) => {
      if (res.headersSent) res.destroy()
      else sendError(x, 500, "InternalError", error instanceof Error ? error.message : String(error))
    })
    inFlight.add(work)
    void work.finally(() => inFlight.delete(work))
  }

  // requestTimeout 0: a slow multi-GiB upload must not be cut off at node's default 300 s.
  const serverOptions = { keepAliveTimeout: 5_000, requestTimeout: 0 }
  const server: Server = options.tls === undefined ? createServer(serverOptions) : createTlsServer({ ...serverOptions, ...options.tls })
  server.on("request", (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, false))
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => onRequest(req, res, true))

  const listen = (port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once("error", reject)
      server.listen(port, host, () => {
        server.off("error", reject)
        const address = server.address()
        if (address === null || typeof address === "string") reject(new Error("manta emulator: not listening on TCP"))
        else resolve(address.port)
      })
    })
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })

  const port = await listen(options.port ?? 0)
  let listening = true
  let closed = false

  const objectAt = (path: string): Entry | undefined => ns.lookup(splitPlainPath(path))

  return {
    url: `${options.tls === undefined ? "http" : "https"}://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
    nodeUrl: `${options.tls === undefined ? "http" : "https"}://${options.publicHost ?? host}:${port}`,

    setRates: (next) => {
      rates = next
    },

    stallNext: (stall) => {
      const armed = armStall(stall.direction, stall.afterBytes)
      stalls.push({ stall: armed, path: stall.path })
      return armed
    },

    setMode: async (next) => {
      if (closed) throw new Error("manta emulator: setMode after close")
      mode = next
      if (next === "down") {
        if (listening) await stopListening()
        listening = false
        return
      }
      if (!listening) {
        await listen(port)
        listening = true
      }
    },

    readObject: async (path) => {
      const entry = objectAt(path)
      if (entry?.kind !== "object") return undefined
      blobs.retain(entry.blob)
      try {
        return await readFile(blobs.path(entry.blob))
      } finally {
        blobs.release(entry.blob)
      }
    },

    corruptObject: async (path) => {
      const segments = splitPlainPath(path)
      const entry = ns.lookup(segments)
      if (entry?.kind !== "object") throw new Error(`manta emulator: no object at ${path}`)
      if (entry.size === 0) throw new Error(`manta emulator: ${path} is empty, there is nothing to corrupt`)
      const positions = [...new Set([0, Math.floor(entry.size / 2), entry.size - 1])]
      const corrupted = await blobs.corruptCopy(entry.blob, positions)
      const found = ns.parent(segments)
      // Only swap if the object was not replaced meanwhile.
      if (found.kind === "ok" && found.parent.children.get(found.name) === entry) {
        found.parent.children.set(found.name, { ...entry, blob: corrupted })
        blobs.release(entry.blob)
      } else {
        blobs.release(corrupted)
        throw new Error(`manta emulator: ${path} changed while it was being corrupted`)
      }
    },

    list: async (dir) => {
      const entry = objectAt(dir)
      if (entry?.kind !== "directory") return []
      return [...entry.children.keys()].sort()
    },

    requests: () => log.map((record) => ({ ...record })),

    close: async () => {
      closed = true
      if (listening) await stopListening()
      listening = false
      while (inFlight.size > 0) await Promise.all([...inFlight])
      await blobs.destroy()
    }
  }
}

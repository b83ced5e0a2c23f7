// Object PUT and GET, answering as muskie's obj.js does. Everything a PUT can be
// refused for is checked before the 100 Continue, so the client's `mkdirs: true`
// retry finds its body unconsumed. Bodies cross the emulated link (link.ts): its
// rate and stalls. An upload that sends no data for muskie's DATA_TIMEOUT (45 s by
// default, MUSKIE_DATA_TIMEOUT) is refused with 408 UploadTimeout, as muskie's
// CheckStream does, unless the link is stalled: then that answer is lost with the path.
import { createHash, randomUUID } from "node:crypto"
import { createReadStream, createWriteStream } from "node:fs"
import { Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import { type Access, type Requester, roleTagHeader } from "./access.ts"
import type { BlobStore } from "./blobs.ts"
import { type Exchange, header, respond, sendError, writeHead } from "./http.ts"
import { type ArmedStall, type Direction, Link } from "./link.ts"
import type { ObjectEntry, Segments } from "./namespace.ts"

const DEFAULT_DURABILITY = 2
const MAX_DURABILITY = 6

/** muskie's DATA_TIMEOUT default (lib/obj.js). */
export const MUSKIE_DATA_TIMEOUT_MS = 45_000

/** The emulated network, as the emulator's controls set it. */
export interface LinkControl {
  readonly rate: (direction: Direction) => number | undefined
  /** The stall armed for the next body in `direction` to `path`, taken once. */
  readonly takeStall: (direction: Direction, path: string) => ArmedStall | undefined
  readonly uploadIdleTimeoutMs: () => number
}

class UploadTimeout extends Error {}

export const makeObjectHandlers = (access: Access, blobs: BlobStore, link: LinkControl) => {
  /** Marks the stall abandoned when the client closes the connection before the answer. */
  const watchAbandon = (x: Exchange, stall: ArmedStall | undefined): void => {
    if (stall !== undefined) x.res.once("close", () => (x.res.writableFinished ? undefined : stall.markAbandoned()))
  }

  const objectHeaders = (entry: ObjectEntry): Record<string, string | number> => ({
    "content-type": entry.contentType,
    "content-md5": entry.md5,
    etag: entry.etag,
    "last-modified": entry.mtime.toUTCString(),
    "durability-level": entry.durability,
    "accept-ranges": "bytes",
    ...roleTagHeader(entry),
    ...entry.headers
  })

  const putObject = async (x: Exchange, who: Requester, segments: Segments): Promise<void> => {
    if (access.refuseDirectoryTarget(x, segments)) return
    const found = access.parentFor(x, segments)
    if (found === undefined) return
    const resource = found.parent.children.get(found.name) ?? found.parent
    if (!access.allowed(x, who, "putobject", resource.roles, segments)) return
    const rawDurability = header(x.req, "durability-level") ?? header(x.req, "x-durability-level")
    const durability = rawDurability === undefined ? DEFAULT_DURABILITY : Number(rawDurability)
    if (!Number.isInteger(durability) || durability < 1 || durability > MAX_DURABILITY) {
      sendError(x, 400, "InvalidDurabilityLevel", `durability-level must be between 1 and ${MAX_DURABILITY}`)
      return
    }
    if (x.expectsContinue) {
      x.res.writeContinue()
      x.continued = true
    }

    const stall = link.takeStall("upload", access.pathOf(segments))
    watchAbandon(x, stall)
    const wire = new Link(() => link.rate("upload"), stall)
    let idle: NodeJS.Timeout | undefined
    const armIdle = () => {
      clearTimeout(idle)
      idle = setTimeout(() => {
        // Through a dead path muskie's 408 reaches nobody: the client has to notice by itself.
        if (wire.stalled) return
        x.req.unpipe(wire)
        wire.destroy(new UploadTimeout())
      }, link.uploadIdleTimeoutMs())
    }
    const blob = blobs.allocate()
    const hash = createHash("md5")
    let size = 0
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        armIdle()
        hash.update(chunk)
        size += chunk.length
        callback(null, chunk)
      }
    })
    const onClose = () => (x.req.complete ? undefined : wire.destroy(new Error("the client went away mid-body")))
    x.req.once("close", onClose)
    armIdle()
    try {
      // Not pipeline(x.req, …): on a failure it would destroy the request's socket, and a 408 could not be sent.
      x.req.pipe(wire)
      await pipeline(wire, measure, createWriteStream(blob.path, { flags: "wx" }))
    } catch (error) {
      blobs.release(blob.id)
      if (error instanceof UploadTimeout) {
        respond(x, 408, { "content-type": "application/json", connection: "close" }, JSON.stringify({ code: "UploadTimeout", message: "request took too long to send data" }))
      } else {
        // The client went away mid-body: nothing is stored and nobody is left to answer.
        x.res.destroy()
      }
      return
    } finally {
      x.req.off("close", onClose)
      clearTimeout(idle)
    }

    const md5 = hash.digest("base64")
    const expected = header(x.req, "content-md5")
    if (expected !== undefined && expected !== md5) {
      blobs.release(blob.id)
      sendError(x, 400, "ContentMD5Mismatch", `Content-MD5 expected ${expected}, but was ${md5}`)
      return
    }
    const roles = access.tagsForNew(x, who)
    // The namespace may have changed while the body streamed in: check again, then
    // swap the entry in one step.
    const target = roles === undefined || access.refuseDirectoryTarget(x, segments) ? undefined : access.parentFor(x, segments)
    if (target === undefined || roles === undefined) {
      blobs.release(blob.id)
      return
    }
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(x.req.headers)) {
      if (/^m-\w+/.test(name) && value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value
    }
    const entry: ObjectEntry = {
      kind: "object",
      blob: blob.id,
      size,
      md5,
      etag: randomUUID(),
      contentType: header(x.req, "content-type") ?? "application/octet-stream",
      durability,
      headers,
      mtime: new Date(),
      roles
    }
    access.replace(target.parent, target.name, entry)
    respond(x, 204, { etag: entry.etag, "last-modified": entry.mtime.toUTCString(), "computed-md5": md5 })
  }

  const getObject = async (x: Exchange, who: Requester, entry: ObjectEntry, segments: Segments): Promise<void> => {
    if (!access.allowed(x, who, "getobject", entry.roles, segments)) return
    const ifMatch = header(x.req, "if-match")
    if (ifMatch !== undefined && !etagMatches(ifMatch, entry.etag)) {
      sendError(x, 412, "PreconditionFailed", `if-match '${ifMatch}' didn't match etag '${entry.etag}'`)
      return
    }
    const ifNoneMatch = header(x.req, "if-none-match")
    if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, entry.etag)) {
      respond(x, 304, { etag: entry.etag, "last-modified": entry.mtime.toUTCString() })
      return
    }
    const range = parseRange(header(x.req, "range"), entry.size)
    if (range === "unsatisfiable") {
      sendError(x, 416, "RequestedRangeNotSatisfiable", `${header(x.req, "range") ?? ""} is not satisfiable`)
      return
    }
    const start = range?.start ?? 0
    const end = range?.end ?? entry.size - 1
    const headers = {
      ...objectHeaders(entry),
      "content-length": end - start + 1,
      ...(range === undefined ? {} : { "content-range": `bytes ${start}-${end}/${entry.size}` })
    }
    const status = range === undefined ? 200 : 206
    if (x.req.method === "HEAD" || entry.size === 0) {
      writeHead(x, status, headers)
      x.res.end()
      return
    }
    const stall = link.takeStall("download", access.pathOf(segments))
    watchAbandon(x, stall)
    blobs.retain(entry.blob)
    try {
      writeHead(x, status, headers)
      await pipeline(createReadStream(blobs.path(entry.blob), { start, end }), new Link(() => link.rate("download"), stall), x.res)
    } catch {
      x.res.destroy()
    } finally {
      blobs.release(entry.blob)
    }
  }

  return { putObject, getObject }
}

const etagMatches = (condition: string, etag: string): boolean =>
  condition
    .split(",")
    .map((tag) => tag.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1"))
    .some((tag) => tag === "*" || tag === etag)

/**
 * A single `bytes=` range (`N-M`, `N-`, `-S`) clamped to the object, as the client's
 * resume sends `bytes=<received>-<length>`. Several ranges are ignored (whole object).
 */
const parseRange = (raw: string | undefined, size: number): { start: number; end: number } | "unsatisfiable" | undefined => {
  if (raw === undefined) return undefined
  const match = /^bytes=(\d*)-(\d*)$/.exec(raw.trim())
  if (match === null) return undefined
  const [, first = "", last = ""] = match
  if (first === "" && last === "") return undefined
  if (first === "") {
    const suffix = Number(last)
    if (suffix === 0 || size === 0) return "unsatisfiable"
    return { start: Math.max(0, size - suffix), end: size - 1 }
  }
  const start = Number(first)
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1)
  if (start >= size || end < start) return "unsatisfiable"
  return { start, end }
}

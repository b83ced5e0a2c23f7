// The storage endpoints, answering as muskie's dir.js / obj.js / link.js do.
// Everything a PUT can be refused for is checked before the 100 Continue, so the
// client's `mkdirs: true` retry finds its body unconsumed.
import { createHash, randomUUID } from "node:crypto"
import { createReadStream, createWriteStream } from "node:fs"
import { Transform } from "node:stream"
import { pipeline } from "node:stream/promises"
import type { BlobStore } from "./blobs.ts"
import type { Caller } from "./auth.ts"
import { type Exchange, header, respond, sendError, writeHead } from "./http.ts"
import {
  type DirectoryEntry,
  type Entry,
  isRoot,
  listingLine,
  listPage,
  type Namespace,
  newDirectory,
  type ObjectEntry,
  parseListQuery,
  parsePath,
  type Segments
} from "./namespace.ts"

const DIRECTORY_LISTING_TYPE = "application/x-json-stream; type=directory"
const DIRECTORY_PUT = /^application\/(x-)?json;\s*type=directory$/i
const LINK_PUT = /^application\/(x-)?json;\s*type=link$/i
const DEFAULT_DURABILITY = 2
const MAX_DURABILITY = 6

export interface Handlers {
  readonly handle: (x: Exchange, caller: Caller, segments: Segments, query: URLSearchParams) => Promise<void>
}

export const makeHandlers = (ns: Namespace, blobs: BlobStore): Handlers => {
  const pathOf = (segments: Segments): string => `/${segments.join("/")}`

  /** muskie's ensureParent; sends the error and returns undefined when it fails. */
  const parentFor = (x: Exchange, segments: Segments): { parent: DirectoryEntry; name: string } | undefined => {
    const found = ns.parent(segments)
    switch (found.kind) {
      case "ok":
        return found
      case "missing":
        sendError(x, 404, "DirectoryDoesNotExist", `${pathOf(segments.slice(0, -1))} does not exist`)
        return undefined
      case "notDirectory":
        sendError(x, 400, "ParentNotDirectory", `${pathOf(segments.slice(0, -1))} is not a directory`)
        return undefined
    }
  }

  const refuseDirectoryTarget = (x: Exchange, segments: Segments): boolean => {
    if (ns.lookup(segments)?.kind !== "directory") return false
    sendError(x, 400, "OperationNotAllowedOnDirectory", `${pathOf(segments)} is a directory: ${x.req.method} is not allowed`)
    return true
  }

  /** Puts `entry` at parent/name, releasing the blob of the object it replaces. */
  const replace = (parent: DirectoryEntry, name: string, entry: Entry): void => {
    const previous = parent.children.get(name)
    parent.children.set(name, entry)
    if (previous?.kind === "object") blobs.release(previous.blob)
  }

  const objectHeaders = (entry: ObjectEntry): Record<string, string | number> => ({
    "content-type": entry.contentType,
    "content-md5": entry.md5,
    etag: entry.etag,
    "last-modified": entry.mtime.toUTCString(),
    "durability-level": entry.durability,
    "accept-ranges": "bytes",
    ...entry.headers
  })

  const putDirectory = (x: Exchange, segments: Segments): void => {
    const target = parentFor(x, segments)
    if (target === undefined) return
    if (target.parent.children.get(target.name)?.kind !== "directory") {
      replace(target.parent, target.name, newDirectory())
    }
    respond(x, 204)
  }

  const putLink = (x: Exchange, caller: Caller, segments: Segments): void => {
    const location = header(x.req, "location")
    if (location === undefined) {
      sendError(x, 400, "LocationRequired", "An HTTP Location header must be specified")
      return
    }
    const source = parsePath(location)
    if (!source.ok) {
      sendError(x, 400, "InvalidLink", `${location} is an invalid link`)
      return
    }
    if (source.segments[0] !== caller.account) {
      sendError(x, 403, "AuthorizationFailed", `${caller.account} is not allowed to access ${source.path}`)
      return
    }
    const entry = ns.lookup(source.segments)
    if (entry === undefined) {
      sendError(x, 404, "SourceObjectNotFound", `${location} was not found`)
      return
    }
    if (entry.kind !== "object") {
      sendError(x, 400, "LinkNotObject", `${location} is not an object`)
      return
    }
    if (refuseDirectoryTarget(x, segments)) return
    const target = parentFor(x, segments)
    if (target === undefined) return
    blobs.retain(entry.blob)
    const link: ObjectEntry = { ...entry, mtime: new Date() }
    replace(target.parent, target.name, link)
    respond(x, 204, { etag: link.etag, "last-modified": link.mtime.toUTCString() })
  }

  const putObject = async (x: Exchange, segments: Segments): Promise<void> => {
    if (refuseDirectoryTarget(x, segments)) return
    if (parentFor(x, segments) === undefined) return
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

    const blob = blobs.allocate()
    const hash = createHash("md5")
    let size = 0
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk)
        size += chunk.length
        callback(null, chunk)
      }
    })
    try {
      await pipeline(x.req, measure, createWriteStream(blob.path, { flags: "wx" }))
    } catch {
      // The client went away mid-body: nothing is stored and nobody is left to answer.
      blobs.release(blob.id)
      x.res.destroy()
      return
    }

    const md5 = hash.digest("base64")
    const expected = header(x.req, "content-md5")
    if (expected !== undefined && expected !== md5) {
      blobs.release(blob.id)
      sendError(x, 400, "ContentMD5Mismatch", `Content-MD5 expected ${expected}, but was ${md5}`)
      return
    }
    // The namespace may have changed while the body streamed in: check again, then
    // swap the entry in one step.
    if (refuseDirectoryTarget(x, segments)) {
      blobs.release(blob.id)
      return
    }
    const target = parentFor(x, segments)
    if (target === undefined) {
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
      mtime: new Date()
    }
    replace(target.parent, target.name, entry)
    respond(x, 204, { etag: entry.etag, "last-modified": entry.mtime.toUTCString(), "computed-md5": md5 })
  }

  const getDirectory = (x: Exchange, dir: DirectoryEntry, query: URLSearchParams): void => {
    const parsed = parseListQuery(query)
    if (!parsed.ok) {
      sendError(x, 400, parsed.code, parsed.message)
      return
    }
    const headers = { "content-type": DIRECTORY_LISTING_TYPE, "result-set-size": dir.children.size }
    if (x.req.method === "HEAD") {
      respond(x, 200, headers)
      return
    }
    const body = listPage(dir, parsed.query)
      .map(([name, entry]) => `${listingLine(name, entry)}\n`)
      .join("")
    respond(x, 200, headers, body)
  }

  const getObject = async (x: Exchange, entry: ObjectEntry): Promise<void> => {
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
    blobs.retain(entry.blob)
    try {
      writeHead(x, status, headers)
      await pipeline(createReadStream(blobs.path(entry.blob), { start, end }), x.res)
    } catch {
      x.res.destroy()
    } finally {
      blobs.release(entry.blob)
    }
  }

  const remove = (x: Exchange, segments: Segments): void => {
    const entry = ns.lookup(segments)
    const found = ns.parent(segments)
    if (entry === undefined || found.kind !== "ok") {
      sendError(x, 404, "ResourceNotFound", `${pathOf(segments)} was not found`)
      return
    }
    if (entry.kind === "directory" && entry.children.size > 0) {
      sendError(x, 400, "DirectoryNotEmpty", `${pathOf(segments)} is not empty`)
      return
    }
    found.parent.children.delete(found.name)
    if (entry.kind === "object") blobs.release(entry.blob)
    respond(x, 204)
  }

  const handle = async (x: Exchange, caller: Caller, segments: Segments, query: URLSearchParams): Promise<void> => {
    const method = x.req.method ?? ""
    switch (method) {
      case "GET":
      case "HEAD": {
        const entry = ns.lookup(segments)
        if (entry === undefined) sendError(x, 404, "ResourceNotFound", `${pathOf(segments)} was not found`)
        else if (entry.kind === "directory") getDirectory(x, entry, query)
        else await getObject(x, entry)
        return
      }
      case "PUT":
      case "DELETE": {
        if (isRoot(segments)) {
          sendError(x, 400, "OperationNotAllowedOnRootDirectory", `${method} is not allowed on ${pathOf(segments)}`)
          return
        }
        if (method === "DELETE") {
          remove(x, segments)
          return
        }
        if (query.has("metadata")) {
          // PutMetadata (the client's chattr): not emulated, and it must not be taken for
          // an object PUT that would replace the object with an empty body.
          sendError(x, 501, "NotImplemented", "PUT ?metadata=true is not implemented by the emulator")
          return
        }
        const contentType = header(x.req, "content-type") ?? ""
        if (DIRECTORY_PUT.test(contentType)) putDirectory(x, segments)
        else if (LINK_PUT.test(contentType)) putLink(x, caller, segments)
        else await putObject(x, segments)
        return
      }
      default:
        sendError(x, 405, "BadMethod", `${method} is not allowed`)
    }
  }

  return { handle }
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

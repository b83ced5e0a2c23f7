// The storage endpoints, answering as muskie's dir.js / obj.js / link.js do, each
// authorized against role tags (access.ts) before it acts. Objects are in objects.ts.
import { type Access, makeAccess, type Requester, roleTagHeader } from "./access.ts"
import type { BlobStore } from "./blobs.ts"
import { type Exchange, header, respond, sendError } from "./http.ts"
import {
  type DirectoryEntry,
  isAccountRoot,
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
import { type LinkControl, makeObjectHandlers } from "./objects.ts"
import type { Roles } from "./roles.ts"

const DIRECTORY_LISTING_TYPE = "application/x-json-stream; type=directory"
const DIRECTORY_PUT = /^application\/(x-)?json;\s*type=directory$/i
const LINK_PUT = /^application\/(x-)?json;\s*type=link$/i

export interface Handlers {
  readonly handle: (x: Exchange, who: Requester, segments: Segments, query: URLSearchParams) => Promise<void>
}

export const makeHandlers = (ns: Namespace, blobs: BlobStore, roles: Roles, link: LinkControl): Handlers => {
  const access: Access = makeAccess(ns, blobs, roles)
  const { pathOf } = access
  const objects = makeObjectHandlers(access, blobs, link)

  const putDirectory = (x: Exchange, who: Requester, segments: Segments): void => {
    const target = access.parentFor(x, segments)
    if (target === undefined) return
    const existing = target.parent.children.get(target.name)
    if (!access.allowed(x, who, "putdirectory", (existing ?? target.parent).roles, segments)) return
    // An existing directory is left as it is (muskie's mkdir no-op).
    if (existing?.kind !== "directory") {
      const tags = access.tagsForNew(x, who)
      if (tags === undefined) return
      access.replace(target.parent, target.name, newDirectory(new Date(), tags))
    }
    respond(x, 204)
  }

  const putLink = (x: Exchange, who: Requester, segments: Segments): void => {
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
    if (source.segments[0] !== who.caller.account) {
      sendError(x, 403, "AuthorizationFailed", `${who.caller.account} is not allowed to access ${source.path}`)
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
    if (access.refuseDirectoryTarget(x, segments)) return
    const target = access.parentFor(x, segments)
    if (target === undefined) return
    const resource = target.parent.children.get(target.name) ?? target.parent
    if (!access.allowed(x, who, "putlink", resource.roles, segments)) return
    if (!access.allowed(x, who, "getobject", entry.roles, source.segments)) return
    const tags = access.tagsForNew(x, who)
    if (tags === undefined) return
    blobs.retain(entry.blob)
    const linked: ObjectEntry = { ...entry, mtime: new Date(), roles: tags }
    access.replace(target.parent, target.name, linked)
    respond(x, 204, { etag: linked.etag, "last-modified": linked.mtime.toUTCString() })
  }

  /** PutMetadata (the client's chattr, `mchmod`): only role tags are emulated. */
  const putMetadata = (x: Exchange, who: Requester, segments: Segments): void => {
    if (isAccountRoot(segments)) {
      sendError(x, 400, "OperationNotAllowedOnRootDirectory", `PUT is not allowed on ${pathOf(segments)}`)
      return
    }
    const entry = ns.lookup(segments)
    if (entry === undefined) {
      sendError(x, 404, "ResourceNotFound", `${pathOf(segments)} was not found`)
      return
    }
    // muskie routes it as PutObject, so the action is putobject, on the entry itself.
    if (!access.allowed(x, who, "putobject", entry.roles, segments)) return
    const requested = header(x.req, "role-tag")
    const parsed = requested === undefined ? { ok: true as const, tags: new Set<string>() } : roles.tagsOf(who.caller.account, requested)
    if (!parsed.ok) {
      sendError(x, parsed.status, parsed.code, parsed.message)
      return
    }
    const found = ns.parent(segments)
    if (found.kind !== "ok") {
      sendError(x, 404, "ResourceNotFound", `${pathOf(segments)} was not found`)
      return
    }
    // The children Map is shared, so a directory keeps its contents.
    found.parent.children.set(found.name, { ...entry, roles: parsed.tags })
    respond(x, 204)
  }

  const getDirectory = (x: Exchange, who: Requester, dir: DirectoryEntry, segments: Segments, query: URLSearchParams): void => {
    if (!access.allowed(x, who, "getdirectory", dir.roles, segments)) return
    const parsed = parseListQuery(query)
    if (!parsed.ok) {
      sendError(x, 400, parsed.code, parsed.message)
      return
    }
    const headers = { "content-type": DIRECTORY_LISTING_TYPE, "result-set-size": dir.children.size, ...roleTagHeader(dir) }
    if (x.req.method === "HEAD") {
      respond(x, 200, headers)
      return
    }
    const body = listPage(dir, parsed.query)
      .map(([name, entry]) => `${listingLine(name, entry)}\n`)
      .join("")
    respond(x, 200, headers, body)
  }

  const remove = (x: Exchange, who: Requester, segments: Segments): void => {
    const entry = ns.lookup(segments)
    const found = ns.parent(segments)
    if (entry === undefined || found.kind !== "ok") {
      sendError(x, 404, "ResourceNotFound", `${pathOf(segments)} was not found`)
      return
    }
    if (!access.allowed(x, who, entry.kind === "object" ? "deleteobject" : "deletedirectory", entry.roles, segments)) return
    if (entry.kind === "directory" && entry.children.size > 0) {
      sendError(x, 400, "DirectoryNotEmpty", `${pathOf(segments)} is not empty`)
      return
    }
    found.parent.children.delete(found.name)
    if (entry.kind === "object") blobs.release(entry.blob)
    respond(x, 204)
  }

  const handle = async (x: Exchange, who: Requester, segments: Segments, query: URLSearchParams): Promise<void> => {
    const method = x.req.method ?? ""
    switch (method) {
      case "GET":
      case "HEAD": {
        const entry = ns.lookup(segments)
        // muskie answers 404 for a missing entry whatever the caller may read.
        if (entry === undefined) sendError(x, 404, "ResourceNotFound", `${pathOf(segments)} was not found`)
        else if (entry.kind === "directory") getDirectory(x, who, entry, segments, query)
        else await objects.getObject(x, who, entry, segments)
        return
      }
      case "PUT":
      case "DELETE": {
        if (method === "PUT" && query.has("metadata")) {
          putMetadata(x, who, segments)
          return
        }
        if (isRoot(segments)) {
          sendError(x, 400, "OperationNotAllowedOnRootDirectory", `${method} is not allowed on ${pathOf(segments)}`)
          return
        }
        if (method === "DELETE") {
          remove(x, who, segments)
          return
        }
        const contentType = header(x.req, "content-type") ?? ""
        if (DIRECTORY_PUT.test(contentType)) putDirectory(x, who, segments)
        else if (LINK_PUT.test(contentType)) putLink(x, who, segments)
        else await objects.putObject(x, who, segments)
        return
      }
      default:
        sendError(x, 405, "BadMethod", `${method} is not allowed`)
    }
  }

  return { handle }
}

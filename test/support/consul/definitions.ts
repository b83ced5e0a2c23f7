// Registration bodies as Consul decodes and validates them: ServiceDefinition and
// CheckDefinition/CheckType (agent/structs), with encoding/json's case-insensitive
// fields and Go durations (a string, or a number of nanoseconds).
import { defaultTaggedAddresses, isStatus, type ServiceDef, type Status } from "./catalog.ts"
import {
  ApiError,
  decodeFailed,
  field,
  isJsonObject,
  type JsonObject,
  optArray,
  optBool,
  optDuration,
  optInt,
  optObject,
  optString,
  optStringArray,
  optStringMap
} from "./go.ts"

export const DEFAULT_OUTPUT_MAX_SIZE = 4096

/** One check as a registration body describes it (CheckType plus the CheckDefinition extras). */
export interface CheckSpec {
  readonly checkId: string
  readonly name: string
  readonly notes: string
  readonly status: string
  readonly type: string
  readonly ttlNs: number
  readonly intervalNs: number
  readonly timeoutNs: number
  readonly reapAfterNs: number
  readonly outputMaxSize: number
}

const INTERVAL_TYPES: ReadonlyArray<readonly [string, string]> = [
  ["HTTP", "http"],
  ["TCP", "tcp"],
  ["UDP", "udp"],
  ["GRPC", "grpc"],
  ["H2PING", "h2ping"],
  ["OSService", "os_service"],
  ["Args", "script"],
  ["ScriptArgs", "script"],
  ["Script", "script"]
]

const isEmptyValue = (v: unknown): boolean =>
  v === undefined || v === null || v === "" || v === 0 || v === false ||
  (Array.isArray(v) && v.length === 0) || (isJsonObject(v) && Object.values(v).every(isEmptyValue))

/** CheckType.Validate() and Type(); throws 400 "Invalid check: …". */
const checkSpec = (body: JsonObject): CheckSpec => {
  const ttlNs = optDuration(body, "TTL") ?? 0
  const intervalNs = optDuration(body, "Interval") ?? 0
  const intervalType = INTERVAL_TYPES.find(([name]) => !isEmptyValue(field(body, name)))?.[1]
  const alias = (optString(body, "AliasService") ?? "") !== "" || (optString(body, "AliasNode") ?? "") !== ""
  const outputMaxSize = optInt(body, "OutputMaxSize") ?? 0
  const invalid = (reason: string) => new ApiError(400, `Invalid check: ${reason}`)
  if (intervalNs > 0 && ttlNs > 0) throw invalid("Interval and TTL cannot both be specified")
  if (intervalType !== undefined && intervalNs <= 0) {
    throw invalid("Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks")
  }
  if (intervalType !== undefined && alias) throw invalid("Interval cannot be set for Alias checks")
  if (alias && ttlNs > 0) throw invalid("TTL must be not be set for Alias checks")
  if (intervalType === undefined && !alias && ttlNs <= 0) throw invalid("TTL must be > 0 for TTL checks")
  if (outputMaxSize < 0) throw invalid("MaxOutputMaxSize must be positive")
  return {
    checkId: optString(body, "CheckID") ?? optString(body, "ID") ?? "",
    name: optString(body, "Name") ?? "",
    notes: optString(body, "Notes") ?? "",
    status: optString(body, "Status") ?? "",
    type: intervalType ?? (alias ? "alias" : (optString(body, "DockerContainerID") ?? "") !== "" ? "docker" : "ttl"),
    ttlNs,
    intervalNs,
    timeoutNs: optDuration(body, "Timeout") ?? 0,
    reapAfterNs: optDuration(body, "DeregisterCriticalServiceAfter") ?? 0,
    outputMaxSize: outputMaxSize === 0 ? DEFAULT_OUTPUT_MAX_SIZE : outputMaxSize
  }
}

const weightsOf = (body: JsonObject): ServiceDef["weights"] => {
  const w = optObject(body, "Weights")
  if (w === undefined) return { Passing: 1, Warning: 1 }
  const weights = { Passing: optInt(w, "Passing") ?? 0, Warning: optInt(w, "Warning") ?? 0 }
  if (weights.Passing < 1) throw new ApiError(400, "Invalid Weights: Passing must be greater than 0")
  if (weights.Warning < 0) throw new ApiError(400, "Invalid Weights: Warning must be greater or equal than 0")
  return weights
}

const taggedAddressesOf = (body: JsonObject): ServiceDef["taggedAddresses"] => {
  const raw = optObject(body, "TaggedAddresses") ?? {}
  const out: Record<string, { Address: string; Port: number }> = {}
  for (const [k, v] of Object.entries(raw)) {
    if (!isJsonObject(v)) throw decodeFailed(`json: cannot unmarshal into Go struct field .TaggedAddresses of type structs.ServiceAddress`)
    out[k] = { Address: optString(v, "Address") ?? "", Port: optInt(v, "Port") ?? 0 }
  }
  return out
}

/** PUT /v1/agent/service/register: the service and its checks, or a 400. */
export const serviceRegistration = (body: JsonObject): { readonly service: ServiceDef; readonly specs: ReadonlyArray<CheckSpec> } => {
  const name = optString(body, "Name") ?? ""
  if (name === "") throw new ApiError(400, "Missing service name")
  const address = optString(body, "Address") ?? ""
  if (["0.0.0.0", "::", "[::]"].includes(address)) throw new ApiError(400, "Invalid service address")
  const id = optString(body, "ID") ?? ""
  const port = optInt(body, "Port") ?? 0
  const service: ServiceDef = {
    id: id === "" ? name : id,
    name,
    tags: optStringArray(body, "Tags") ?? [],
    address,
    port,
    meta: optStringMap(body, "Meta") ?? {},
    enableTagOverride: optBool(body, "EnableTagOverride") ?? false,
    weights: weightsOf(body),
    taggedAddresses: defaultTaggedAddresses(address, port, taggedAddressesOf(body)),
    kind: optString(body, "Kind") ?? ""
  }
  const single = optObject(body, "Check")
  const bodies = [...(single !== undefined && !isEmptyValue(single) ? [single] : []), ...(optArray(body, "Checks") ?? [])]
  const specs = bodies.map((b) => {
    if (!isJsonObject(b)) throw decodeFailed("json: cannot unmarshal into Go struct field .Checks of type structs.CheckType")
    return checkSpec(b)
  })
  for (const spec of specs) {
    if (spec.status !== "" && !isStatus(spec.status)) throw new ApiError(400, "Status for checks must 'passing', 'warning', 'critical'")
  }
  return { service, specs }
}

/** PUT /v1/agent/check/register: ID defaults to Name, Status to critical. */
export const checkRegistration = (body: JsonObject): { readonly name: string; readonly status: Status; readonly spec: CheckSpec; readonly serviceId: string } => {
  const name = optString(body, "Name") ?? ""
  if (name === "") throw new ApiError(400, "Missing check name")
  const status = optString(body, "Status") ?? ""
  if (status !== "" && !isStatus(status)) throw new ApiError(400, "Bad check status")
  const spec = checkSpec(body)
  return { name, status: isStatus(status) ? status : "critical", spec, serviceId: optString(body, "ServiceID") ?? "" }
}

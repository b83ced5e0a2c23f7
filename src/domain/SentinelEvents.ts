// Sentinel's Pub/Sub events as the agent reads them. Every event wakes the agent;
// `+switch-master` also counts a failover. Each sentinel publishes its own
// `+switch-master`, so one failover arrives once per sentinel: it counts once.
import { Option } from "effect"
import { type Endpoint, sameEndpoint } from "./Endpoint.ts"
import { isIPv4 } from "./EnvAddress.ts"

export interface MasterSwitch {
  readonly from: Endpoint
  readonly to: Endpoint
}

const port = (text: string | undefined): Option.Option<number> =>
  text !== undefined && /^\d{1,5}$/.test(text) && Number(text) >= 1 && Number(text) <= 65_535 ? Option.some(Number(text)) : Option.none()

/** `+switch-master` carries `<master-name> <old-ip> <old-port> <new-ip> <new-port>`. */
export const parseSwitchMaster = (channel: string, message: string, masterName: string): Option.Option<MasterSwitch> => {
  if (channel !== "+switch-master") return Option.none()
  const [name, fromHost, fromPort, toHost, toPort, ...rest] = message.split(" ")
  if (name !== masterName || rest.length > 0 || fromHost === undefined || toHost === undefined || !isIPv4(fromHost) || !isIPv4(toHost)) {
    return Option.none()
  }
  return Option.all({ from: port(fromPort), to: port(toPort) }).pipe(
    Option.map(({ from, to }) => ({ from: { host: fromHost, port: from }, to: { host: toHost, port: to } }))
  )
}

/** A switch is new unless it repeats the last one counted (another sentinel telling of the same failover). */
export const isNewSwitch = (last: Option.Option<MasterSwitch>, next: MasterSwitch): boolean =>
  !Option.exists(last, (l) => sameEndpoint(l.from, next.from) && sameEndpoint(l.to, next.to))

// How this `manage` process was started: the node binary and the bundle. Pre-start
// renders Sentinel's failover script to call back into exactly this pair.
import { Context } from "effect"

export class Invocation extends Context.Service<Invocation, {
  readonly node: string
  readonly script: string
}>()("autopilot-redis/Invocation") {}

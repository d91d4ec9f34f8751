import type { Address, Env, Net, Payload } from "../core/engine/index.js";

/**
 * The env with its network's `send` replaced by `send`, which gets the original network to pass
 * the datagram on (or not): for watching what a machine sends, or changing it on the way out.
 */
export function withSend(env: Env, send: (net: Net, to: Address, port: number, payload: Payload) => void): Env {
  const net = env.net;
  return {
    ...env,
    net: {
      self: net.self,
      join: (group) => net.join(group),
      leave: (group) => net.leave(group),
      send: (to, port, payload) => send(net, to, port, payload),
    },
  };
}

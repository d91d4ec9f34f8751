import type { WireMessage } from "../../core/engine/index.js";
import { encodeBlockInto, encodeFromHost } from "../../core/frisbee/codec.js";
import { WIRE_BYTES } from "../../core/frisbee/messages.js";

/**
 * BLOCK datagrams are cut from slabs of this many: one ArrayBuffer per slab instead of one per
 * datagram (a server sends some 100,000 a second, and every ArrayBuffer is work for the GC).
 */
export const SLAB_BLOCKS = 64;

/**
 * The encoder a real frisbeed sends with: BLOCKs written into slabs, everything else as
 * encodeFromHost. A slab's bytes are never written twice, so a datagram the socket has queued
 * (sent later, holding its view) keeps its bytes.
 */
export function slabEncoder(): (message: WireMessage, ownIpv4: number) => Uint8Array {
  const bytes = WIRE_BYTES.block;
  let slab = new Uint8Array(0);
  let used = 0;
  return (message, ownIpv4) => {
    if (message.type !== "block") return encodeFromHost(message, ownIpv4);
    const block = message as WireMessage & { chunk: number; block: number; data: Uint8Array | null };
    if (used + bytes > slab.length) {
      slab = new Uint8Array(SLAB_BLOCKS * bytes);
      used = 0;
    }
    encodeBlockInto(slab, used, block.chunk, block.block, block.data, ownIpv4);
    used += bytes;
    return slab.subarray(used - bytes, used);
  };
}

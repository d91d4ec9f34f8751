import { describe, expect, it } from "vitest";
import { encode, encodeFromHost } from "../../../core/frisbee/codec.js";
import { WIRE_BYTES, msg } from "../../../core/frisbee/messages.js";
import { SLAB_BLOCKS, slabEncoder } from "../../../real/frisbee/wire.js";

const HOST = 0x7f000002;

describe("slabEncoder", () => {
  it("gives encode's bytes for blocks, cut from shared slabs whose bytes are never written twice", () => {
    const enc = slabEncoder();
    const sent: { bytes: Uint8Array; copy: Uint8Array }[] = [];
    for (let i = 0; i < SLAB_BLOCKS * 2 + 3; i++) {
      const data = new Uint8Array(1024).fill(i & 0xff);
      const bytes = enc(msg.block(i, i % 1024, i % 5 === 0 ? null : data), HOST);
      expect(bytes.byteLength).toBe(WIRE_BYTES.block);
      sent.push({ bytes, copy: encode(msg.block(i, i % 1024, i % 5 === 0 ? null : data), HOST) });
    }
    // Every datagram handed out still holds its own bytes after all the later ones were written.
    for (const { bytes, copy } of sent) expect(bytes).toEqual(copy);
    expect(sent[0]?.bytes.buffer).toBe(sent[SLAB_BLOCKS - 1]?.bytes.buffer);
    expect(sent[0]?.bytes.buffer).not.toBe(sent[SLAB_BLOCKS]?.bytes.buffer);
  });

  it("encodes every other message as encodeFromHost does", () => {
    const enc = slabEncoder();
    for (const m of [msg.join(7), msg.joinReply(99), msg.request(3, 0, 1024), msg.progressRequest(5, 1)]) expect(enc(m, HOST)).toEqual(encodeFromHost(m, HOST));
  });
});

import { connect, createServer, type AddressInfo } from "node:net";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request, encodeControl } from "../../../core/service/index.js";
import { FRAME_AUTH, FRAME_REFUSED, FRAME_REQUEST, FrameReader, frame } from "../../../real/agent/channel.js";
import { AgentClient, AgentError } from "../../../real/agent/client.js";
import { startAgent, type RunningAgent } from "../../../real/agent/daemon.js";
import { KEY, tempDir } from "./support.js";

let agent: RunningAgent;
const t = tempDir("svc-auth");
beforeAll(async () => {
  agent = await startAgent({ host: "127.0.0.1", port: 0, key: KEY, dir: join(t.dir, "a"), node: "a", log: () => {} });
});
afterAll(async () => {
  await agent.stop();
  t.cleanup();
});

/** What the agent did: requests it ran. A refused exchange must leave it unchanged. */
const served = (): number => agent.server.served;

/** Sends raw bytes on a fresh connection and returns the refusals the agent sent back before closing. */
function raw(bytes: Buffer): Promise<{ type: number; text: string }[]> {
  return new Promise((resolve) => {
    const got: { type: number; text: string }[] = [];
    const s = connect({ host: "127.0.0.1", port: agent.port }, () => s.write(bytes));
    const reader = new FrameReader((type, payload) => got.push({ type, text: payload.toString("utf8") }));
    s.on("data", (d: Buffer) => reader.push(d));
    s.on("close", () => resolve(got.filter((f) => f.type === FRAME_REFUSED)));
    s.on("error", () => {});
  });
}

describe("the agent refuses anyone without the key, and replays, alterations and garbage", () => {
  it("serves a holder of the key", async () => {
    const c = await AgentClient.connect("127.0.0.1", agent.port, KEY);
    const before = served();
    expect((await c.request(request("status"))).kind).toBe("ok");
    expect(served()).toBe(before + 1);
    c.close();
  });

  it("refuses a wrong key at the handshake: one clear error, nothing run", async () => {
    const before = served();
    await expect(AgentClient.connect("127.0.0.1", agent.port, Buffer.from("not-the-operator-key!!"))).rejects.toThrow(/refused: authentication failed \(wrong key\)/);
    expect(served()).toBe(before);
  });

  it("refuses a request sent before authenticating", async () => {
    const before = served();
    const frames = await raw(frame(FRAME_REQUEST, encodeControl(request("restart"))));
    expect(frames.map((f) => f.text)).toContain("expected authentication first");
    expect(served()).toBe(before);
  });

  it("refuses a request replayed on the same connection, and on another connection", async () => {
    const c = await AgentClient.connect("127.0.0.1", agent.port, KEY);
    await c.request(request("status"));
    const captured = c.lastSent as Buffer;
    const before = served();
    const replayed = new Promise<never>((_, reject) => {
      // The agent answers the replay with a refusal and closes; the next request sees it.
      c.sendRaw(FRAME_REQUEST, captured);
      setTimeout(() => c.request(request("status")).catch(reject), 200);
    });
    await expect(replayed).rejects.toThrow(AgentError);
    expect(served()).toBe(before);
    const other = await AgentClient.connect("127.0.0.1", agent.port, KEY);
    other.sendRaw(FRAME_REQUEST, captured);
    await expect(other.request(request("status"))).rejects.toThrow(/bad MAC|closed/);
    expect(served()).toBe(before);
  });

  it("refuses an altered request: one byte flipped on the wire", async () => {
    // A proxy that flips the last byte of every request frame on its way to the agent.
    const proxy = createServer((inbound) => {
      const outbound = connect({ host: "127.0.0.1", port: agent.port });
      const reader = new FrameReader((type, payload) => {
        const copy = Buffer.from(payload);
        if (type === FRAME_REQUEST) copy.writeUInt8(copy.readUInt8(copy.length - 1) ^ 0x01, copy.length - 1);
        outbound.write(frame(type, copy));
      });
      inbound.on("data", (d: Buffer) => reader.push(d));
      outbound.pipe(inbound);
      inbound.on("error", () => outbound.destroy());
      outbound.on("error", () => inbound.destroy());
      inbound.on("close", () => outbound.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
    const port = (proxy.address() as AddressInfo).port;
    const before = served();
    const c = await AgentClient.connect("127.0.0.1", port, KEY);
    await expect(c.request(request("restart"))).rejects.toThrow(/refused: request 1: bad MAC/);
    expect(served()).toBe(before);
    c.close();
    await new Promise((r) => proxy.close(r));
  });

  it("refuses garbage bytes and an oversized frame without holding them", async () => {
    const before = served();
    expect((await raw(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))).map((f) => f.text).join()).toMatch(/bad framing|expected authentication/);
    expect((await raw(Buffer.from([0x7f, 0xff, 0xff, 0xff, FRAME_AUTH]))).map((f) => f.text).join()).toMatch(/bad framing: a frame of 2147483647 bytes/);
    expect((await raw(frame(FRAME_AUTH, Buffer.alloc(64, 1)))).map((f) => f.text)).toEqual(["authentication failed (wrong key)"]);
    expect(served()).toBe(before);
    expect(existsSync(join(t.dir, "a", "current"))).toBe(false);
  });

  it("answers a well-sealed request it cannot read with an error, and runs nothing", async () => {
    const c = await AgentClient.connect("127.0.0.1", agent.port, KEY);
    const reply = await c.request({ kind: "apply", fields: { version: "../../etc", tarballs: [], restart: true }, blob: new Uint8Array(0) });
    expect(reply.kind).toBe("error");
    expect(String(reply.fields["error"])).toMatch(/field version: expected a label/);
    const missing = await c.request({ kind: "checksum", fields: { files: ["/etc/passwd"] }, blob: new Uint8Array(0) });
    expect(String(missing.fields["error"])).toMatch(/not a path inside the service's files/);
    expect(existsSync(join(t.dir, "a", "current"))).toBe(false);
    c.close();
  });
});

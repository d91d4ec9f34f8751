import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseQueueUrl, QueueError } from "../../../real/queue/connection.js";
import { decodeEnvelope, JOB_FORMAT } from "../../../real/queue/job.js";
import { computeVersion, packageRoot } from "../../../real/queue/version.js";
import { decodeSeedResult, decodeSweepSeedPayload, decodeSweepSpec } from "../../../scenarios/sweep/jobs.js";

const good = { format: JOB_FORMAT, version: "0.1.0+abcdef012345", run: "r1", key: "17", kind: "sweep-seed", payload: { spec: "0123456789abcdef", seed: 17 } };

describe("job decoding", () => {
  it("accepts a well-formed envelope and payload", () => {
    expect(decodeEnvelope(good)).toEqual(good);
    expect(decodeSweepSeedPayload(good.payload)).toEqual(good.payload);
  });

  it("names the field that is wrong", () => {
    expect(decodeEnvelope({ ...good, format: 2 })).toBe("format: expected 1, got 2");
    expect(decodeEnvelope({ ...good, run: "a b" })).toMatch(/^run: expected an id/);
    expect(decodeEnvelope({ ...good, payload: undefined, kind: "" })).toMatch(/^kind:/);
    expect(decodeEnvelope([1])).toBe("expected an object, got a list");
    expect(decodeSweepSeedPayload({ spec: "0123456789abcdef", seed: 1.5 })).toMatch(/^payload\.seed/);
  });

  it("returns an error value, never throws, for anything at all", () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        for (const decode of [decodeEnvelope, decodeSweepSeedPayload, (x: unknown) => decodeSeedResult(x, 1)]) {
          const out = decode(v);
          expect(typeof out === "string" || (typeof out === "object" && out !== null)).toBe(true);
        }
      }),
      { numRuns: 3_000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const out = decodeSweepSpec(Buffer.from(bytes).toString("latin1"));
        expect(typeof out).toBe("string");
      }),
    );
  });
});

describe("queue URLs", () => {
  it("accepts redis:// and rediss:// and hides a password", () => {
    expect(parseQueueUrl("redis://127.0.0.1:6379")).toEqual({ url: "redis://127.0.0.1:6379", shown: "redis://127.0.0.1:6379" });
    expect(parseQueueUrl("rediss://u:pw@host:6380/2").shown).toBe("rediss://u:***@host:6380/2");
  });

  it("refuses anything else as a usage error, in one line", () => {
    for (const bad of ["", "localhost:6379", "http://h", "redis://", "redis://h:99999", "redis://h/x", "redis://h?a=1", `redis://${"a".repeat(3000)}`]) {
      try {
        parseQueueUrl(bad);
        expect.unreachable(bad);
      } catch (error) {
        expect(error).toBeInstanceOf(QueueError);
        expect((error as QueueError).usage).toBe(true);
        expect((error as Error).message).toMatch(/^--queue: /);
      }
    }
  });
});

describe("build versions", () => {
  it("is the package version and a digest of the sources, stable across calls", () => {
    const a = computeVersion(packageRoot());
    expect(a.id).toMatch(/^\d+\.\d+\.\d+\+[0-9a-f]{12}$/);
    expect(computeVersion(packageRoot())).toEqual(a);
  });

  it("changes when any source file changes", () => {
    const root = mkdtempSync(join(tmpdir(), "testbed-version-"));
    try {
      writeFileSync(join(root, "package.json"), JSON.stringify({ version: "1.2.3" }));
      mkdirSync(join(root, "core"));
      writeFileSync(join(root, "core", "a.ts"), "export const a = 1;\n");
      const before = computeVersion(root);
      expect(before.id.startsWith("1.2.3+")).toBe(true);
      writeFileSync(join(root, "core", "a.ts"), "export const a = 2;\n");
      expect(computeVersion(root).id).not.toBe(before.id);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

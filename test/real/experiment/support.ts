import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "../frisbee/support.js";
import { openExperimentStore, type ExperimentStore } from "../../../real/store/index.js";
import { realSwapRunner, type RealRunOptions } from "../../../scenarios/experiment/real-world.js";
import { parseExperiment } from "../../../scenarios/experiment/schema.js";

/** A disk of `mib` MiB, the first half random and the rest zeros, and its image. */
export function diskAndImage(dir: string, mib: number): { raw: Buffer; image: string } {
  const raw = Buffer.concat([randomBytes((mib / 2) * 2 ** 20), Buffer.alloc((mib / 2) * 2 ** 20)]);
  writeFileSync(join(dir, "disk.raw"), raw);
  mkdirSync(join(dir, "images"), { recursive: true });
  const image = join(dir, "images", "std.ndz");
  const r = spawnSync(process.execPath, [CLI, "image", "create", join(dir, "disk.raw"), image], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`image create: ${r.stderr}`);
  return { raw, image };
}

/**
 * Ports of this test process's own, so test files running at once never share one; below the
 * kernel's ephemeral range (32768 up), where the system hands out ports to other sockets.
 */
let next = 0;
export function ports(): { portBase: number; syncPort: number } {
  const base = 20_000 + ((process.pid * 53 + next++ * 11) % 12_000);
  return { portBase: base, syncPort: base + 5 };
}

export function experiment(dir: string, name: string, image: string, fields: Record<string, unknown>): ExperimentStore {
  const store = openExperimentStore(join(dir, "testbed.db"));
  store.createFromSpec(
    parseExperiment(
      JSON.stringify({
        name,
        nodes: [{ name: "node", count: 4, image: "std" }],
        images: { std: { file: image } },
        syncServer: "node0",
        spares: 1,
        setup: "true",
        timeouts: { load: "120s", boot: "60s", setup: "60s", wedged: "20s", setupRetry: "500ms" },
        ...fields,
      }),
      `${name}.json`,
    ),
  );
  return store;
}

export function runner(dir: string, extra: Partial<RealRunOptions> = {}) {
  return realSwapRunner({
    nodesDir: join(dir, "nodes"),
    nodesFile: null,
    exec: [],
    tmcd: null,
    ...ports(),
    bandwidthBps: 400e6,
    db: join(dir, "testbed.db"),
    testbed: [process.execPath, CLI],
    ...extra,
  });
}

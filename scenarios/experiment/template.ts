/**
 * A valid experiment file to start from: `testbed exp template --nodes N [--sim]`. The simulated
 * one is the flagship's world (1% loss, a few flaky setups, a bad node and crashes to recover
 * from); the real one names an image file the user provides and local nodes' setup command.
 */
export function experimentTemplate(o: { nodes: number; sim: boolean; name?: string }): object {
  const n = o.nodes;
  const name = o.name ?? (o.sim ? `sim-${n}` : `exp-${n}`);
  const base = {
    name,
    description: o.sim ? `${n} simulated nodes loaded over Frisbee at 1% loss, a boot barrier and a setup pool with a few flaky nodes` : `${n} nodes loaded from one image`,
    nodes: [{ name: "node", count: n, image: "std" }],
    syncServer: "node0",
    saveDiskState: false,
  };
  if (!o.sim) {
    return {
      ...base,
      images: { std: { file: "images/std.ndz" } },
      spares: 1,
      setup: "true",
      timeouts: { load: "300s", boot: "60s", setup: "60s", wedged: "30s", setupRetry: "1s" },
    };
  }
  return {
    ...base,
    images: { std: { size: "8MiB", data: "24MiB" } },
    spares: Math.max(2, Math.ceil(n / 100)),
    timeouts: { setupWindow: Math.max(40, Math.ceil(n / 10)), setupRetry: "5s", wedged: "60s" },
    sim: {
      loss: 0.01,
      clientLink: "100Mbit",
      serverRate: "72Mbit",
      disk: "60MiB/s",
      boot: "20s..40s",
      setup: "2s..5s",
      flakyNodes: Math.min(n, Math.max(1, Math.floor(n / 200))),
      badNodes: n >= 4 ? 1 : 0,
      crashNodes: n >= 4 ? Math.min(3, Math.floor(n / 4)) : 0,
    },
  };
}

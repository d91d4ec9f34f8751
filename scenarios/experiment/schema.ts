import type { ExperimentSpec, ImageSpec, LimitOverrides, NodeSpec, SimSpec } from "../../core/experiment/spec.js";
import { PARTITIONS_MAX } from "../../core/experiment/plan.js";
import { Reader, ScenarioError, type Json } from "../reader.js";
import { parseByteRate, parseBytes, parseDurationUs, parseRateBps } from "../units.js";

/** Named limits on what an experiment file may ask for. */
export const EXPERIMENT_FILE_NODES_MAX = 100_000;
export const EXPERIMENT_FILE_IMAGES_MAX = 256;
export const EXPERIMENT_SPARES_MAX = 10_000;
/** Longest experiment file read, so a wrong path to a disk image is refused rather than parsed. */
export const EXPERIMENT_FILE_BYTES_MAX = 16 * 2 ** 20;
export const NODE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
export const EXPERIMENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const IMAGE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const HOUR_US = 3_600 * 1_000_000;
const DAY_US = 24 * HOUR_US;
const BYTES_MAX = 2 ** 44;

export const EXPERIMENT_FIELDS = ["name", "project", "description", "nodes", "images", "syncServer", "saveDiskState", "setup", "spares", "timeouts", "sim"] as const;

/** Parses and checks an experiment file; throws ScenarioError naming the file, the field and why. */
export function parseExperiment(text: string, file: string): ExperimentSpec {
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (error) {
    throw new ScenarioError(`${file}: not valid JSON (${(error as Error).message.replace(/\s+/g, " ")})`);
  }
  const top = new Reader(file, "", json).fields(EXPERIMENT_FIELDS);
  const name = top.at("name").string();
  if (!EXPERIMENT_NAME_PATTERN.test(name)) top.at("name").fail(`"${name.slice(0, 40)}" is not an experiment name (letters, digits, _ . -; at most 63)`);
  const images = readImages(top.at("images"));
  const nodes = readNodes(top.at("nodes"), images.map((i) => i.name));
  const syncServer = readSyncServer(top.at("syncServer"), nodes);
  const spares = top.at("spares").present ? top.at("spares").number(0, EXPERIMENT_SPARES_MAX, true) : 0;
  const setup = top.at("setup").present && top.at("setup").value !== null ? top.at("setup").string() : null;
  if (setup !== null && (setup.trim() === "" || setup.length > 4096)) top.at("setup").fail("expected a command of 1 to 4096 characters");
  const used = new Set(nodes.flatMap((n) => n.partitions.map((p) => p.image)));
  const unused = images.find((img) => !used.has(img.name));
  if (unused !== undefined) top.at("images").at(unused.name).fail("no node loads this image");
  return {
    name,
    project: top.at("project").present ? readProject(top.at("project")) : "testbed",
    nodes,
    images,
    syncServer,
    saveDiskState: top.at("saveDiskState").present ? top.at("saveDiskState").boolean() : false,
    setup,
    spares,
    limits: top.at("timeouts").present ? readTimeouts(top.at("timeouts")) : {},
    sim: top.at("sim").present ? readSim(top.at("sim"), nodes.length) : null,
  };
}

function readProject(r: Reader): string {
  const p = r.string();
  if (!IMAGE_NAME_PATTERN.test(p)) r.fail(`"${p.slice(0, 40)}" is not a project name`);
  return p;
}

function readImages(r: Reader): ImageSpec[] {
  const entries = Object.keys(r.object());
  if (entries.length === 0) r.fail("expected at least one image");
  if (entries.length > EXPERIMENT_FILE_IMAGES_MAX) r.fail(`at most ${EXPERIMENT_FILE_IMAGES_MAX} images`);
  return entries.map((name) => {
    const img = r.at(name);
    if (!IMAGE_NAME_PATTERN.test(name)) img.fail(`"${name.slice(0, 40)}" is not an image name (letters, digits, _ . -)`);
    img.fields(["file", "size", "data"]);
    const file = img.at("file").present ? img.at("file").string() : null;
    if (file !== null && file.trim() === "") img.at("file").fail("expected a path to an image file");
    const size = img.at("size").present ? img.at("size").quantity(parseBytes, "64MiB", "a size", 1, BYTES_MAX) : null;
    const data = img.at("data").present ? img.at("data").quantity(parseBytes, "192MiB", "a size", 1, BYTES_MAX) : null;
    if (file === null && (size === null || data === null)) img.fail('expected "file" (an image to serve), or "size" and "data" (compressed and written bytes, for the simulator)');
    if ((size === null) !== (data === null)) img.fail('"size" and "data" go together');
    return { name, file, compressedBytes: size, uncompressedBytes: data };
  });
}

function readNodes(r: Reader, images: readonly string[]): NodeSpec[] {
  const nodes: NodeSpec[] = [];
  const seen = new Set<string>();
  const items = r.items();
  if (items.length === 0) r.fail("expected at least one node");
  for (const item of items) {
    item.fields(["name", "count", "image", "partitions", "nonFatal"]);
    const base = item.at("name").string();
    if (!NODE_NAME_PATTERN.test(base)) item.at("name").fail(`"${base.slice(0, 40)}" is not a node name (a letter, then letters, digits, _ -; at most 63)`);
    const count = item.at("count").present ? item.at("count").number(1, EXPERIMENT_FILE_NODES_MAX, true) : null;
    const partitions = readPartitions(item, images);
    const nonFatal = item.at("nonFatal").present ? item.at("nonFatal").boolean() : false;
    const names = count === null ? [base] : Array.from({ length: count }, (_, i) => `${base}${i}`);
    for (const name of names) {
      if (seen.has(name)) item.at("name").fail(`node ${name} is listed twice`);
      seen.add(name);
      if (seen.size > EXPERIMENT_FILE_NODES_MAX) r.fail(`more than ${EXPERIMENT_FILE_NODES_MAX} nodes`);
      nodes.push({ name, partitions, nonFatal });
    }
  }
  return nodes;
}

function readPartitions(item: Reader, images: readonly string[]): NodeSpec["partitions"] {
  const image = (r: Reader): string => {
    const name = r.string();
    if (!images.includes(name)) r.fail(`no image named "${name.slice(0, 40)}" in images (${images.join(", ")})`);
    return name;
  };
  if (item.at("image").present && item.at("partitions").present) item.at("partitions").fail('give "image" (partition 1) or "partitions", not both');
  if (item.at("image").present) return [{ partition: 1, image: image(item.at("image")) }];
  if (!item.at("partitions").present) return [];
  const parts = item.at("partitions").items().map((p) => {
    p.fields(["partition", "image"]);
    return { partition: p.at("partition").number(1, PARTITIONS_MAX, true), image: image(p.at("image")) };
  });
  const numbers = new Set<number>();
  for (const [i, p] of parts.entries()) {
    if (numbers.has(p.partition)) item.at("partitions").items()[i]?.at("partition").fail(`partition ${p.partition} is listed twice`);
    numbers.add(p.partition);
  }
  return parts;
}

function readSyncServer(r: Reader, nodes: readonly NodeSpec[]): string | null {
  if (!r.present) return (nodes[0] as NodeSpec).name;
  if (r.value === null) return null;
  const name = r.string();
  if (!nodes.some((n) => n.name === name)) r.fail(`no node named "${name.slice(0, 40)}" (tb-set-sync-server names a node of the experiment)`);
  return name;
}

function readTimeouts(r: Reader): LimitOverrides {
  r.fields(["load", "boot", "setup", "wedged", "save", "setupWindow", "setupAttempts", "setupRetry", "imageLinger"]);
  const d = (key: string, min: number): number | undefined => (r.at(key).present ? r.at(key).quantity(parseDurationUs, "600s", "a duration", min, DAY_US) : undefined);
  const out: Record<string, number> = {};
  const put = (key: keyof LimitOverrides, value: number | undefined): void => {
    if (value !== undefined) out[key] = value;
  };
  put("loadUs", d("load", 1));
  put("bootUs", d("boot", 1));
  put("setupUs", d("setup", 1));
  put("wedgedUs", d("wedged", 1));
  put("saveUs", d("save", 1));
  put("setupRetryUs", d("setupRetry", 0));
  put("imageLingerUs", d("imageLinger", 0));
  if (r.at("setupWindow").present) out.setupWindow = r.at("setupWindow").number(1, 100_000, true);
  if (r.at("setupAttempts").present) out.setupAttempts = r.at("setupAttempts").number(1, 100, true);
  return out as LimitOverrides;
}

export const SIM_DEFAULTS: SimSpec = {
  loss: 0,
  clientMbps: 100,
  serverMbps: 72,
  diskMiBs: 60,
  inflateMiBs: 120,
  bootUs: [20_000_000, 40_000_000],
  setupUs: [2_000_000, 5_000_000],
  flakyNodes: 0,
  badNodes: 0,
  crashNodes: 0,
};

function readSim(r: Reader, nodes: number): SimSpec {
  r.fields(["loss", "clientLink", "serverRate", "disk", "inflate", "boot", "setup", "flakyNodes", "badNodes", "crashNodes"]);
  const rate = (key: string, example: string, fallback: number): number =>
    r.at(key).present ? r.at(key).quantity(parseRateBps, example, "a rate", 1e5, 1e12) / 1e6 : fallback;
  const byteRate = (key: string, fallback: number): number => (r.at(key).present ? r.at(key).quantity(parseByteRate, "60MiB/s", "a rate", 2 ** 16, 2 ** 40) / 2 ** 20 : fallback);
  const count = (key: string): number => (r.at(key).present ? r.at(key).number(0, nodes, true) : 0);
  const sim: SimSpec = {
    loss: r.at("loss").present ? r.at("loss").number(0, 0.5) : SIM_DEFAULTS.loss,
    clientMbps: rate("clientLink", "100Mbit", SIM_DEFAULTS.clientMbps),
    serverMbps: rate("serverRate", "72Mbit", SIM_DEFAULTS.serverMbps),
    diskMiBs: byteRate("disk", SIM_DEFAULTS.diskMiBs),
    inflateMiBs: byteRate("inflate", SIM_DEFAULTS.inflateMiBs),
    bootUs: r.at("boot").present ? readRange(r.at("boot")) : SIM_DEFAULTS.bootUs,
    setupUs: r.at("setup").present ? readRange(r.at("setup")) : SIM_DEFAULTS.setupUs,
    flakyNodes: count("flakyNodes"),
    badNodes: count("badNodes"),
    crashNodes: count("crashNodes"),
  };
  if (sim.flakyNodes + sim.badNodes + sim.crashNodes > nodes) r.fail(`flakyNodes + badNodes + crashNodes is more than the ${nodes} nodes`);
  return sim;
}

/** A duration range "20s..40s" (or one duration). */
function readRange(r: Reader): readonly [number, number] {
  const text = r.string();
  const parts = text.split("..").map((part) => parseDurationUs(part.trim()));
  const lo = parts[0] ?? null;
  const hi = parts.length === 2 ? (parts[1] ?? null) : lo;
  if (lo === null || hi === null || parts.length > 2) r.fail(`expected a duration or a range like "20s..40s", got "${text.slice(0, 40)}"`);
  if (lo > hi) r.fail(`the range's start is after its end`);
  if (hi > DAY_US) r.fail("durations above a day are not simulated");
  return [lo, hi];
}

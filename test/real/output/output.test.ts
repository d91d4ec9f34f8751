import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  OutputError,
  TargetIncompleteError,
  checkOutput,
  checkOutputFolder,
  cleanUpNow,
  makeScratchDir,
  openInPlace,
  openOutput,
  pendingLeftovers,
  removeScratchDir,
  writeOutput,
  writeOutputFileSync,
} from "../../../real/output/index.js";

const root = mkdtempSync(join(tmpdir(), "testbed-output-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let serial = 0;
/** A fresh folder per test, so "nothing left behind" can be checked by listing it. */
function folder(): string {
  const d = join(root, String(serial++));
  mkdirSync(d);
  return d;
}

function outputErrorOf(fn: () => unknown): OutputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(OutputError);
    expect((error as Error).message).not.toMatch(/\n/);
    return error as OutputError;
  }
  throw new Error("expected an OutputError");
}

describe("checkOutput refuses, before anything is opened", () => {
  it("an output that is the input, by name, through a symbolic link and through a hard link", () => {
    const d = folder();
    const input = join(d, "disk.raw");
    writeFileSync(input, "precious");
    symlinkSync(input, join(d, "link.raw"));
    linkSync(input, join(d, "hard.raw"));
    for (const name of ["disk.raw", "link.raw", "hard.raw"]) {
      const e = outputErrorOf(() => checkOutput(join(d, name), { inputs: [input], what: "image" }));
      expect(e.badInput).toBe(true);
      expect(e.message).toContain(`the image is the same file as the input ${input}`);
    }
    expect(readFileSync(input, "utf8")).toBe("precious");
  });

  it("a directory, a missing folder, a dangling link and a write-protected file, each as bad input", () => {
    const d = folder();
    expect(outputErrorOf(() => checkOutput(d)).message).toMatch(/is a directory/);
    expect(outputErrorOf(() => checkOutput(join(d, "no", "x.svg"), { what: "chart" })).message).toMatch(/cannot write the chart: folder .* does not exist/);
    symlinkSync(join(d, "nowhere"), join(d, "dangling"));
    expect(outputErrorOf(() => checkOutput(join(d, "dangling"))).message).toMatch(/symbolic link that cannot be followed/);
    const ro = join(d, "ro.ndz");
    writeFileSync(ro, "keep me");
    chmodSync(ro, 0o444);
    expect(outputErrorOf(() => checkOutput(ro)).message).toMatch(/exists and is write-protected; nothing was written/);
    expect(readFileSync(ro, "utf8")).toBe("keep me");
  });

  it("accepts a new name, an existing writable file and a link to one", () => {
    const d = folder();
    expect(checkOutput(join(d, "new")).kind).toBe("missing");
    writeFileSync(join(d, "old"), "x");
    expect(checkOutput(join(d, "old")).kind).toBe("file");
    symlinkSync(join(d, "old"), join(d, "link"));
    expect(checkOutput(join(d, "link")).resolved).toBe(join(d, "old"));
  });
});

describe("checkOutputFolder: a folder to collect files into", () => {
  it("may be missing (under a folder that exists) or a writable folder", () => {
    const d = folder();
    expect(() => checkOutputFolder(join(d, "new"), "log folder")).not.toThrow();
    expect(() => checkOutputFolder(d, "log folder")).not.toThrow();
    expect(readdirSync(d)).toEqual([]);
  });

  it("refuses a file, a missing parent, a write-protected folder and an empty path, as bad input", () => {
    const d = folder();
    writeFileSync(join(d, "f.txt"), "mine");
    mkdirSync(join(d, "ro"));
    chmodSync(join(d, "ro"), 0o555);
    const cases: [string, RegExp][] = [
      [join(d, "f.txt"), /f\.txt: the log folder is not a folder; nothing was written$/],
      [join(d, "none", "x"), /cannot write the log folder: folder .*none does not exist$/],
      [join(d, "f.txt", "x"), /f\.txt\/x: cannot use as the log folder \(a part of the path is not a directory\)$/],
      [join(d, "ro"), /ro: the log folder is write-protected; nothing was written$/],
      ["", /^the log folder path is empty$/],
    ];
    for (const [path, said] of cases) {
      const e = outputErrorOf(() => checkOutputFolder(path, "log folder"));
      expect(e.message).toMatch(said);
      expect(e.badInput).toBe(true);
    }
    expect(readFileSync(join(d, "f.txt"), "utf8")).toBe("mine");
  });
});

describe("an output written through openOutput", () => {
  it("appears under its name only on commit, whole, with nothing else left in the folder", async () => {
    const d = folder();
    const path = join(d, "out.bin");
    const out = await openOutput(path);
    await out.fh.write(Buffer.from("half"));
    expect(existsSync(path)).toBe(false);
    expect(pendingLeftovers().removed).toContain(path);
    await out.fh.write(Buffer.from(" and the rest"));
    await out.commit();
    expect(readFileSync(path, "utf8")).toBe("half and the rest");
    expect(readdirSync(d)).toEqual(["out.bin"]);
    expect(pendingLeftovers().removed).not.toContain(path);
  });

  it("leaves the old file untouched when discarded or when its body fails", async () => {
    const d = folder();
    const path = join(d, "old.bin");
    writeFileSync(path, "old");
    await expect(
      writeOutput(path, {}, async (out) => {
        await out.fh.write(Buffer.from("new"));
        throw new Error("compression failed");
      }),
    ).rejects.toThrow("compression failed");
    expect(readFileSync(path, "utf8")).toBe("old");
    expect(readdirSync(d)).toEqual(["old.bin"]);
  });

  it("keeps the replaced file's permissions and writes through a link, leaving the link a link", async () => {
    const d = folder();
    const real = join(d, "real.svg");
    writeFileSync(real, "old");
    chmodSync(real, 0o640);
    symlinkSync(real, join(d, "link.svg"));
    await writeOutput(join(d, "link.svg"), {}, async (out) => {
      await out.fh.write(Buffer.from("new"));
    });
    expect(readFileSync(real, "utf8")).toBe("new");
    expect(statSync(real).mode & 0o777).toBe(0o640);
    expect(lstatSync(join(d, "link.svg")).isSymbolicLink()).toBe(true);
  });

  it("is removed by cleanUpNow (what an interrupt runs), which names it as not written", async () => {
    const d = folder();
    const path = join(d, "interrupted.ndz");
    const out = await openOutput(path);
    await out.fh.write(Buffer.alloc(4096, 1));
    const left = cleanUpNow();
    expect(left.removed).toEqual([path]);
    expect(readdirSync(d)).toEqual([]);
    await out.discard();
  });
});

describe("writeOutputFileSync", () => {
  it("writes a small output whole and refuses the same mistakes as openOutput", () => {
    const d = folder();
    writeOutputFileSync(join(d, "chart.svg"), "<svg/>", { what: "chart" });
    expect(readFileSync(join(d, "chart.svg"), "utf8")).toBe("<svg/>");
    expect(outputErrorOf(() => writeOutputFileSync(d, "<svg/>", { what: "chart" })).message).toMatch(/the chart is a directory/);
    expect(readdirSync(d)).toEqual(["chart.svg"]);
  });
});

describe("targets written in place", () => {
  it("are only block devices, or files with fixedSize, and say they are incomplete once written", async () => {
    const d = folder();
    const file = join(d, "disk.img");
    writeFileSync(file, Buffer.alloc(8192));
    await expect(openInPlace(file)).rejects.toThrow(/written in place only with --fixed-size/);
    await expect(openInPlace(join(d, "missing.img"), { fixedSize: true })).rejects.toThrow(/no such file to write in place/);
    const t = await openInPlace(file, { fixedSize: true });
    expect(t.sizeBytes).toBe(8192);
    expect(pendingLeftovers().incomplete).not.toContain(file);
    t.markWritten();
    await t.fh.write(Buffer.from("part"), 0, 4, 0);
    expect(pendingLeftovers().incomplete).toContain(file);
    expect(await t.abandon()).toBe(true);
    expect(pendingLeftovers().incomplete).not.toContain(file);
    const e = new TargetIncompleteError(file, new Error("chunk 3 is bad"));
    expect(e.message).toBe(`chunk 3 is bad; ${file} is incomplete (written in place up to the failure)`);
  });
});

describe("scratch folders", () => {
  it("are made inside the folder given, refused when it is missing, and removed whole", () => {
    const d = folder();
    writeFileSync(join(d, "users-file"), "mine");
    expect(outputErrorOf(() => makeScratchDir("bench-", join(d, "missing", "x"))).message).toMatch(/no such folder/);
    const scratch = makeScratchDir("bench-", d);
    writeFileSync(join(scratch, "disk.raw"), "scratch");
    expect(pendingLeftovers().scratch).toContain(scratch);
    removeScratchDir(scratch);
    expect(readdirSync(d)).toEqual(["users-file"]);
  });
});

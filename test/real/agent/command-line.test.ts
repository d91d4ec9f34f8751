import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { COMMAND_LINE_BYTES_MAX, COMMAND_LINE_WORDS_MAX, parseCommandLine, quoteWord } from "../../../real/agent/command-line.js";

const argv = (text: string): string[] | string => {
  const r = parseCommandLine(text);
  return r.ok ? r.argv : r.error;
};

describe("a restart command line split into argv, as a shell splits words, without a shell", () => {
  it("splits on blanks and keeps quoted words whole", () => {
    expect(argv("ssh {host} systemctl restart testbed-agent")).toEqual(["ssh", "{host}", "systemctl", "restart", "testbed-agent"]);
    expect(argv("  a \t b\n")).toEqual(["a", "b"]);
    expect(argv(`ssh {host} 'sudo systemctl restart "testbed agent"'`)).toEqual(["ssh", "{host}", 'sudo systemctl restart "testbed agent"']);
    expect(argv(`echo "a \\"b\\" \\\\ \\$HOME \\n"`)).toEqual(["echo", 'a "b" \\ $HOME \\n']);
    expect(argv(`a\\ b c\\'d`)).toEqual(["a b", "c'd"]);
    expect(argv(`x'y'"z" '' ""`)).toEqual(["xyz", "", ""]);
    expect(argv(`sh -c 'systemctl restart a; echo done'`)).toEqual(["sh", "-c", "systemctl restart a; echo done"]);
  });

  it("refuses bad quoting and what only a shell would do, naming the offset", () => {
    expect(argv("touch 'unclosed")).toBe("the quote ' at offset 6 is not closed");
    expect(argv('echo "open')).toBe('the quote " at offset 5 is not closed');
    expect(argv('echo "a\\"')).toBe('the quote " at offset 5 is not closed');
    expect(argv("echo a\\")).toBe("a backslash at offset 6 ends the line");
    for (const c of [";", "|", "&", "<", ">", "(", ")", "$", "`"]) expect(argv(`echo a${c}b`)).toMatch(new RegExp(`^'\\${c}' at offset 6 needs a shell`));
    expect(argv("   ")).toBe("expected a command");
    expect(argv("")).toBe("expected a command");
    expect(argv("a".repeat(COMMAND_LINE_BYTES_MAX + 1))).toBe(`longer than ${COMMAND_LINE_BYTES_MAX} characters`);
    expect(argv(Array.from({ length: COMMAND_LINE_WORDS_MAX + 1 }, () => "w").join(" "))).toBe(`more than ${COMMAND_LINE_WORDS_MAX} words`);
    expect(argv(Array.from({ length: COMMAND_LINE_WORDS_MAX }, () => "w").join(" "))).toHaveLength(COMMAND_LINE_WORDS_MAX);
  });

  it("gives back any argv that was quoted word by word", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 12 }), (words) => {
        expect(parseCommandLine(words.map(quoteWord).join(" "))).toEqual({ ok: true, argv: words });
      }),
      { numRuns: 500 },
    );
  });

  it("answers random input with argv or a one-line error, never a throw", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: "binary" }), (text) => {
        const r = parseCommandLine(text);
        if (r.ok) expect(r.argv.length).toBeGreaterThan(0);
        else expect(r.error).not.toMatch(/\n/);
      }),
      { numRuns: 1_000 },
    );
  });
});

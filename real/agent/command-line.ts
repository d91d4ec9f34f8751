/**
 * A command line split into argv the way a POSIX shell splits words, and nothing more: blanks
 * separate words; '...' keeps everything literally; "..." keeps everything but \" \\ \$ \` (the
 * backslash goes); a backslash outside quotes keeps the next character. Nothing is expanded and no
 * shell runs the result, so a character a shell would act on (; | & < > ( ) $ `) is refused unless
 * quoted: the operator who wants a shell asks for one (`sh -c '...'`). Errors name the byte offset.
 */
export const COMMAND_LINE_BYTES_MAX = 4_096;
export const COMMAND_LINE_WORDS_MAX = 256;
const SHELL_ONLY = new Set([";", "|", "&", "<", ">", "(", ")", "$", "`"]);
const DOUBLE_QUOTE_ESCAPES = new Set(['"', "\\", "$", "`"]);

export type CommandLine = { readonly ok: true; readonly argv: string[] } | { readonly ok: false; readonly error: string };

const fail = (error: string): CommandLine => ({ ok: false, error });

export function parseCommandLine(text: string): CommandLine {
  if (text.length > COMMAND_LINE_BYTES_MAX) return fail(`longer than ${COMMAND_LINE_BYTES_MAX} characters`);
  const argv: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === " " || c === "\t" || c === "\n") {
      if (word !== null) argv.push(word);
      word = null;
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) return fail(`the quote ' at offset ${i} is not closed`);
      word = (word ?? "") + text.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let w: string = word ?? "";
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && DOUBLE_QUOTE_ESCAPES.has(text[j + 1] as string)) j++;
        w += text[j] as string;
      }
      if (j >= text.length) return fail(`the quote " at offset ${i} is not closed`);
      word = w;
      i = j;
    } else if (c === "\\") {
      if (i + 1 >= text.length) return fail(`a backslash at offset ${i} ends the line`);
      word = (word ?? "") + (text[++i] as string);
    } else if (SHELL_ONLY.has(c)) {
      return fail(`'${c}' at offset ${i} needs a shell, and the command runs without one: quote it, or ask for a shell with sh -c '...'`);
    } else word = (word ?? "") + c;
    if (argv.length >= COMMAND_LINE_WORDS_MAX) return fail(`more than ${COMMAND_LINE_WORDS_MAX} words`);
  }
  if (word !== null) argv.push(word);
  if (argv.length > COMMAND_LINE_WORDS_MAX) return fail(`more than ${COMMAND_LINE_WORDS_MAX} words`);
  if (argv.length === 0) return fail("expected a command");
  return { ok: true, argv };
}

/** One word quoted so that parseCommandLine gives it back as it is. */
export function quoteWord(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,{}-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}

/** A mistake in what the user asked for: reported as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** The node-configuration server could not be asked (nodeconfig-command.ts): the world's failure, one line, exit 1. */
export class NodeConfigFailure extends Error {
  override readonly name = "NodeConfigFailure";
}

export function parseWhole(flag: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`${flag}: expected a whole number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}

/** Tries of a port number the kernel picked for the first socket that the second could not have. */
export const BIND_ATTEMPTS_MAX = 32;

export interface PortPair {
  /** Binds the first socket on `port` (0: the kernel picks); resolves with the number it got. */
  first(port: number): Promise<number>;
  /** Binds the second socket on exactly `port`. */
  second(port: number): Promise<void>;
  /** Lets go of the first socket, so another number can be tried. */
  releaseFirst(): Promise<void>;
}

/**
 * Binds two sockets (TCP and UDP) on one port number, as clients expect one port for both. With
 * port 0 the kernel picks the first's number, which the second may find taken on a busy host
 * (another socket's ephemeral port): then another number is tried, up to `attemptsMax` times.
 * A port the user chose is tried once.
 */
export async function bindSamePort(port: number, pair: PortPair, attemptsMax = BIND_ATTEMPTS_MAX): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const got = await pair.first(port);
    try {
      await pair.second(got);
      return got;
    } catch (error) {
      await pair.releaseFirst();
      const taken = (error as NodeJS.ErrnoException).code === "EADDRINUSE";
      if (port !== 0 || !taken || attempt >= attemptsMax) throw error;
    }
  }
}

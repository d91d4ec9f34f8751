/** An image server's event fields, as both worlds receive them. */
export type HeartbeatFields = Readonly<Record<string, string | number | boolean>>;

/** The event kind Emulab's frisbeed sent with `-E` for each heartbeat, and we store. */
export const FRISBEEPROGRESS = "FRISBEEPROGRESS";

/** One heartbeat as the testbed records it: the stored event's fields and the node's progress. */
export interface FrisbeeProgress {
  /** The FRISBEEPROGRESS fields: the original's keys (TSTAMP ... MBYTES_WRITTEN), node, image and time left. */
  readonly fields: Readonly<Record<string, string | number>>;
  readonly bytesWritten: number;
  /** Seconds the client expects to need still, or null when it cannot tell (a negative estimate). */
  readonly secondsLeft: number | null;
}

const MIB = 2 ** 20;

/**
 * A `frisbee.progress` heartbeat at an image server, for experiment node `node` loading `image`,
 * turned into what the swap records: the sim and real worlds share this so that their stored
 * events have the same keys.
 */
export function frisbeeProgress(node: number, image: string, heartbeat: HeartbeatFields): FrisbeeProgress {
  const bytes = Number(heartbeat.BYTES_WRITTEN);
  const left = Number(heartbeat.secondsLeft);
  return {
    fields: {
      node,
      image,
      TSTAMP: Number(heartbeat.TSTAMP),
      SEQUENCE: Number(heartbeat.SEQUENCE),
      CHUNKS_RECV: Number(heartbeat.CHUNKS_RECV),
      CHUNKS_DECOMP: Number(heartbeat.CHUNKS_DECOMP),
      BYTES_WRITTEN: bytes,
      MBYTES_WRITTEN: Math.floor(bytes / MIB),
      secondsLeft: left,
    },
    bytesWritten: bytes,
    secondsLeft: left < 0 ? null : left,
  };
}

/** Facts of the original emulab-sync / emulab-syncd (../shared/reference/sync.md) and our named limits. */

export const SYNC_PORT = 16534;
export const REQUEST_BYTES = 76;
export const REPLY_BYTES = 4;
/** The name field; a name must be shorter, since it is NUL-terminated. */
export const NAME_FIELD_BYTES = 64;
export const DEFAULT_BARRIER_NAME = "barrier";

export const REQUEST_INIT = 1;
export const REQUEST_WAIT = 2;
export const FLAG_INIT_NOWAIT = 0x1;

/** Errors a participant passes are below this; codes from here up are the server's own. */
export const USER_ERROR_LIMIT = 240;

/** Reply codes (and client exit codes). 240 is the original's; 241.. are ours. */
export const CODE_OK = 0;
export const CODE_RESET = 240;
/** The initializer's deadline passed before the count was reached. */
export const CODE_TIMEOUT = 241;
/** The arrival came after its barrier was released (a generation already over). */
export const CODE_LATE = 242;
/** An intolerant barrier lost a member to a crash or disconnection. */
export const CODE_BROKEN = 243;
/** More arrivals than the count under the "late" extra policy: the surplus is turned away. */
export const CODE_OVERFLOW = 244;
/** A named limit of the server (barriers, waiters per barrier) was reached. */
export const CODE_LIMIT = 245;
/** The request was invalid: bad name, negative count, error of 240 or more, unknown request, garbage. */
export const CODE_INVALID = 246;

/** Client-side exit codes of the original. */
export const EXIT_PROTOCOL = 76;
export const EXIT_NAME_LOOKUP = 68;
export const EXIT_USAGE = 64;

export const CODE_NAMES: Readonly<Record<number, string>> = {
  [CODE_RESET]: "reset",
  [CODE_TIMEOUT]: "timeout",
  [CODE_LATE]: "late",
  [CODE_BROKEN]: "broken",
  [CODE_OVERFLOW]: "overflow",
  [CODE_LIMIT]: "limit",
  [CODE_INVALID]: "invalid",
};

/*
 * Extensions travel inside the name field, after the name's terminating NUL, where the original
 * server never looks (it copies the name as a C string) and the original client always writes zeros.
 * The trailer sits at a fixed offset, so a name that uses it is at most EXT_NAME_BYTES_MAX bytes.
 */
export const EXT_OFFSET = 44;
export const EXT_NAME_BYTES_MAX = EXT_OFFSET - 1;
export const EXT_MAGIC = 0x3158_4254; // "TBX1" little-endian
/** An extended reply: the 4-byte code, then magic, request id, generation and the server's epoch. */
export const EXT_REPLY_BYTES = 20;
/**
 * The code of an extended reply that is not an outcome: the server has the request and it still
 * waits. Sent to extended UDP requests so the client learns the server's epoch (and that it is
 * there) long before the release; never an exit code.
 */
export const REPLY_PENDING = -1;

/** Named limits of the server. */
export const SERVER_LIMITS = {
  /** Live barriers at once. */
  barriersMax: 100_000,
  /** Live barriers one peer (one sender address) made. */
  barriersPerPeerMax: 1_024,
  /** Members (waiters and initializers) of one barrier. */
  waitersPerBarrierMax: 200_000,
  /** Largest count one INIT may add. */
  countMax: 1_000_000,
  /** Released generations remembered to tell late arrivals they are late. */
  releasedKeptMax: 100_000,
  /** How long a released generation is remembered. */
  releasedKeepUs: 600_000_000,
  /** Largest deadline an initializer may ask for. */
  deadlineMsMax: 7 * 86_400_000,
} as const;

export type ServerLimits = { -readonly [K in keyof typeof SERVER_LIMITS]: number };

import { US_PER_SEC, type Address, type EventSink, type Micros, type Payload } from "../engine/index.js";
import { decode } from "./codec.js";
import { isFrisbeeMessage, type FrisbeeMessage } from "./messages.js";

/** Counts of what arrived that was not a usable message. */
export interface InputErrors {
  /** Message types this side does not know: ignored, as the original does, so versions can mix. */
  unknown: number;
  /** Bytes that claimed to be a known message but were malformed: a protocol error by the peer. */
  malformed: number;
}

/**
 * Unknown message types are logged, as the original does, but at most once per this interval: a
 * peer of another version (or a stranger) may send thousands. The next event says how many were
 * not logged since.
 */
export const UNKNOWN_LOG_INTERVAL_US: Micros = 10 * US_PER_SEC;

/**
 * Turns what the network delivered into a message: bytes are decoded (real world), message objects
 * pass through (simulation). Anything else is counted and reported, never thrown.
 */
export class MessageInput {
  private nextUnknownLogUs = 0;
  private unknownUnlogged = 0;

  constructor(
    private readonly errors: InputErrors,
    private readonly events: EventSink,
  ) {}

  toMessage(payload: Payload, from: Address, now: Micros): FrisbeeMessage | null {
    if (!(payload instanceof Uint8Array)) {
      if (isFrisbeeMessage(payload)) return payload;
      this.unknown(from, now, `message type ${payload.type}`);
      return null;
    }
    const result = decode(payload);
    if (result.ok) return result.message;
    if (result.unknownType === true) {
      this.unknown(from, now, result.error);
      return null;
    }
    this.errors.malformed++;
    this.events.emit("frisbee.bad-message", { from, error: result.error });
    return null;
  }

  private unknown(from: Address, now: Micros, what: string): void {
    this.errors.unknown++;
    if (now < this.nextUnknownLogUs) {
      this.unknownUnlogged++;
      return;
    }
    this.events.emit("frisbee.unknown-message", { from, what, notLoggedBefore: this.unknownUnlogged });
    this.unknownUnlogged = 0;
    this.nextUnknownLogUs = now + UNKNOWN_LOG_INTERVAL_US;
  }
}

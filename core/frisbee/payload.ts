import type { EventSink, Payload } from "../engine/index.js";
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
 * Turns what the network delivered into a message: bytes are decoded (real world), message objects
 * pass through (simulation). Anything else is counted and reported, never thrown.
 */
export function toMessage(payload: Payload, errors: InputErrors, events: EventSink, from: number): FrisbeeMessage | null {
  if (!(payload instanceof Uint8Array)) {
    if (isFrisbeeMessage(payload)) return payload;
    errors.unknown++;
    return null;
  }
  const result = decode(payload);
  if (result.ok) return result.message;
  if (result.unknownType === true) {
    errors.unknown++;
    return null;
  }
  errors.malformed++;
  events.emit("frisbee.bad-message", { from, error: result.error });
  return null;
}

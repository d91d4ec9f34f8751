import { US_PER_SEC, type Micros } from "../engine/index.js";
import type { ProgressSummary } from "./messages.js";

export const SEQ_MODULUS = 0x1_0000;

/** The next 16-bit report sequence number: starts at 1 and wraps. */
export function nextSeq(seq: number): number {
  return (seq + 1) % SEQ_MODULUS;
}

interface ClientProgress {
  reports: number;
  lastSeq: number;
  lost: number;
  outOfOrder: number;
  firstUs: Micros;
  firstBytes: number;
  lastUs: Micros;
  last: ProgressSummary;
}

export interface ReportOutcome {
  /** Reports missing between the previous one and this (lost on the way). */
  gap: number;
  /** Estimated seconds until the client has written the whole image, or null if unknown yet. */
  secondsLeft: number | null;
}

/** Most clients whose progress a server remembers; reports from more are counted, not tracked. */
export const PROGRESS_CLIENTS_MAX = 100_000;

/**
 * The server's view of client progress: sequence gaps (lost reports, modulo 2^16) and an estimate
 * of time left from bytes written against the image's uncompressed size (writing is the last and
 * slowest stage, so its rate is the client's rate).
 */
export class ProgressTracker {
  private readonly clients = new Map<number, ClientProgress>();
  reports = 0;
  lost = 0;
  untracked = 0;

  constructor(private readonly uncompressedBytes: number) {}

  report(clientId: number, seq: number, summary: ProgressSummary | null, nowUs: Micros): ReportOutcome {
    this.reports++;
    const s = summary ?? { chunksReceived: 0, chunksDecompressed: 0, bytesWritten: 0 };
    let c = this.clients.get(clientId);
    if (c === undefined) {
      if (this.clients.size >= PROGRESS_CLIENTS_MAX) {
        this.untracked++;
        return { gap: 0, secondsLeft: null };
      }
      // The first report of a client: reports before it (from seq 1) were lost.
      const gap = seq >= 1 ? seq - 1 : 0;
      c = { reports: 1, lastSeq: seq, lost: gap, outOfOrder: 0, firstUs: nowUs, firstBytes: s.bytesWritten, lastUs: nowUs, last: s };
      this.clients.set(clientId, c);
      this.lost += gap;
      return { gap, secondsLeft: null };
    }
    const ahead = (seq - c.lastSeq + SEQ_MODULUS) % SEQ_MODULUS;
    if (ahead === 0 || ahead > SEQ_MODULUS / 2) {
      c.outOfOrder++;
      return { gap: 0, secondsLeft: this.secondsLeft(c) };
    }
    const gap = ahead - 1;
    c.reports++;
    c.lost += gap;
    this.lost += gap;
    c.lastSeq = seq;
    c.lastUs = nowUs;
    c.last = s;
    return { gap, secondsLeft: this.secondsLeft(c) };
  }

  forget(clientId: number): void {
    this.clients.delete(clientId);
  }

  client(clientId: number): Readonly<ClientProgress> | undefined {
    return this.clients.get(clientId);
  }

  private secondsLeft(c: ClientProgress): number | null {
    const elapsedUs = c.lastUs - c.firstUs;
    const written = c.last.bytesWritten - c.firstBytes;
    if (elapsedUs <= 0 || written <= 0) return null;
    const rate = written / elapsedUs;
    return Math.max(0, (this.uncompressedBytes - c.last.bytesWritten) / rate / US_PER_SEC);
  }
}

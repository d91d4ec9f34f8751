import type { Decoded } from "./peer-codec.js";

/**
 * What the controller and an agent say to each other (inside the agent's authenticated frames):
 * `[u16 protocol][u8 kind][u32 json bytes][json object][blob]`. The protocol version comes first so
 * that an agent of another version is told so before anything else is read. The JSON carries the
 * fields, the blob carries file bytes (a tarball chunk, a log chunk). `decodeControl` returns an
 * error value for any bytes, never throws, and checks every field of the kind it names.
 */
/** 2: peers, read and repair requests (the kind codes of replies moved). */
export const CONTROL_PROTOCOL = 2;
export const CONTROL_HEADER_BYTES = 7;
export const CONTROL_JSON_BYTES_MAX = 1 << 20;
export const CONTROL_BLOB_BYTES_MAX = 4 << 20;
/** Most entries in any list field (files to hash, processes, tarballs). */
export const CONTROL_LIST_MAX = 1_000;
export const CONTROL_STRING_MAX = 4_096;

export const REQUEST_KINDS = ["status", "stage", "apply", "checksum", "logs", "restart", "peers", "read", "repair"] as const;
export const REPLY_KINDS = ["ok", "error"] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type ReplyKind = (typeof REPLY_KINDS)[number];
export type ControlKind = RequestKind | ReplyKind;
const KINDS: readonly ControlKind[] = [...REQUEST_KINDS, ...REPLY_KINDS];

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ControlMessage {
  readonly kind: ControlKind;
  readonly fields: JsonObject;
  readonly blob: Uint8Array;
}

type FieldType = "string" | "int" | "bool" | "strings" | "objects" | "object";
/** Required fields per request kind (optional ones end in "?"); replies are free-form objects. */
export const REQUEST_FIELDS: Readonly<Record<RequestKind, Readonly<Record<string, FieldType>>>> = {
  status: {},
  stage: { version: "string", tarball: "string", sha256: "string", offset: "int", total: "int" },
  apply: { version: "string", tarballs: "objects", restart: "bool", "service?": "object", "healthyMs?": "int", "timeoutMs?": "int" },
  checksum: { files: "strings" },
  logs: { "file?": "string", offset: "int" },
  restart: {},
  /** The node file's nodes, to heartbeat; `self` is this agent's index in it. */
  peers: { peers: "objects", self: "int" },
  /** Up to one chunk of a service file from `offset` (a majority node's copy, for a repair). */
  read: { file: "string", offset: "int" },
  /** Put a staged copy (by SHA-256) in place of a service file. */
  repair: { file: "string", sha256: "string" },
};

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeControl(m: ControlMessage, protocol = CONTROL_PROTOCOL): Uint8Array {
  const json = encoder.encode(JSON.stringify(m.fields));
  if (json.byteLength > CONTROL_JSON_BYTES_MAX) throw new Error(`control ${m.kind}: fields take ${json.byteLength} bytes, more than ${CONTROL_JSON_BYTES_MAX}`);
  if (m.blob.byteLength > CONTROL_BLOB_BYTES_MAX) throw new Error(`control ${m.kind}: blob of ${m.blob.byteLength} bytes, more than ${CONTROL_BLOB_BYTES_MAX}`);
  const out = new Uint8Array(CONTROL_HEADER_BYTES + json.byteLength + m.blob.byteLength);
  const v = new DataView(out.buffer);
  v.setUint16(0, protocol);
  v.setUint8(2, KINDS.indexOf(m.kind));
  v.setUint32(3, json.byteLength);
  out.set(json, CONTROL_HEADER_BYTES);
  out.set(m.blob, CONTROL_HEADER_BYTES + json.byteLength);
  return out;
}

function fail<T>(error: string): Decoded<T> {
  return { ok: false, error };
}

export function decodeControl(bytes: Uint8Array, protocol = CONTROL_PROTOCOL): Decoded<ControlMessage> {
  if (bytes.byteLength < CONTROL_HEADER_BYTES) return fail(`control message: ${bytes.byteLength} bytes, shorter than the ${CONTROL_HEADER_BYTES}-byte header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = v.getUint16(0);
  if (version !== protocol) return fail(`control message: protocol version ${version}, this side speaks ${protocol}`);
  const kind = KINDS[v.getUint8(2)];
  if (kind === undefined) return fail(`control message: unknown kind ${v.getUint8(2)} at byte 2`);
  const jsonBytes = v.getUint32(3);
  if (jsonBytes > CONTROL_JSON_BYTES_MAX || CONTROL_HEADER_BYTES + jsonBytes > bytes.byteLength) return fail(`control ${kind}: field length ${jsonBytes} at byte 3 runs past the message (${bytes.byteLength} bytes)`);
  const blob = bytes.subarray(CONTROL_HEADER_BYTES + jsonBytes);
  if (blob.byteLength > CONTROL_BLOB_BYTES_MAX) return fail(`control ${kind}: blob of ${blob.byteLength} bytes, more than ${CONTROL_BLOB_BYTES_MAX}`);
  let fields: unknown;
  try {
    fields = JSON.parse(decoder.decode(bytes.subarray(CONTROL_HEADER_BYTES, CONTROL_HEADER_BYTES + jsonBytes)));
  } catch {
    return fail(`control ${kind}: fields at byte ${CONTROL_HEADER_BYTES} are not a JSON object`);
  }
  if (fields === null || typeof fields !== "object" || Array.isArray(fields)) return fail(`control ${kind}: fields at byte ${CONTROL_HEADER_BYTES} are not a JSON object`);
  const object = fields as JsonObject;
  if ((REQUEST_KINDS as readonly string[]).includes(kind)) {
    const problem = checkFields(object, REQUEST_FIELDS[kind as RequestKind]);
    if (problem !== null) return fail(`control ${kind}: ${problem}`);
  } else if (kind === "error" && typeof object["error"] !== "string") return fail("control error: field error: expected a string");
  return { ok: true, value: { kind, fields: object, blob } };
}

function checkFields(object: JsonObject, schema: Readonly<Record<string, FieldType>>): string | null {
  const names = Object.keys(schema).map((k) => k.replace(/\?$/, ""));
  for (const key of Object.keys(object)) if (!names.includes(key)) return `field ${JSON.stringify(key).slice(0, 60)}: unknown field`;
  for (const [spec, type] of Object.entries(schema)) {
    const optional = spec.endsWith("?");
    const name = optional ? spec.slice(0, -1) : spec;
    const value = object[name];
    if (value === undefined) {
      if (optional) continue;
      return `field ${name}: missing`;
    }
    const problem = checkType(value, type);
    if (problem !== null) return `field ${name}: ${problem}`;
  }
  return null;
}

function checkType(value: Json, type: FieldType): string | null {
  const isObject = (x: Json): boolean => x !== null && typeof x === "object" && !Array.isArray(x);
  switch (type) {
    case "string":
      return typeof value === "string" && value.length <= CONTROL_STRING_MAX ? null : `expected a string of at most ${CONTROL_STRING_MAX} characters`;
    case "int":
      return Number.isSafeInteger(value) && (value as number) >= 0 ? null : "expected a whole number";
    case "bool":
      return typeof value === "boolean" ? null : "expected true or false";
    case "object":
      return isObject(value) ? null : "expected an object";
    case "strings":
    case "objects": {
      if (!Array.isArray(value) || value.length > CONTROL_LIST_MAX) return `expected a list of at most ${CONTROL_LIST_MAX}`;
      const ok = value.every((x) => (type === "strings" ? typeof x === "string" && x.length <= CONTROL_STRING_MAX : isObject(x)));
      return ok ? null : `expected a list of ${type === "strings" ? "strings" : "objects"}`;
    }
  }
}

/** Shorthands for the common messages. */
export function request(kind: RequestKind, fields: JsonObject = {}, blob: Uint8Array = new Uint8Array(0)): ControlMessage {
  return { kind, fields, blob };
}

export function okReply(fields: JsonObject = {}, blob: Uint8Array = new Uint8Array(0)): ControlMessage {
  return { kind: "ok", fields, blob };
}

export function errorReply(error: string): ControlMessage {
  return { kind: "error", fields: { error }, blob: new Uint8Array(0) };
}

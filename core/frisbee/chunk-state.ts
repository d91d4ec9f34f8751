/**
 * Where one chunk stands at a client, in pipeline order: the packet-level client and the
 * planner's chunk model share these, so the two walk a chunk through the same stages.
 */
export const NONE = 0;
export const FILLING = 1;
export const RECEIVED = 2;
export const DECOMPRESSED = 3;
export const WRITTEN = 4;

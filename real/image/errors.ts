/*
 * The image code's error classes, in a module of their own (no imports): bin/failure.ts classifies
 * every command's errors, and importing them from here keeps a command's start-up from loading the
 * whole image code (issue 12).
 */

/**
 * A failure of the outside world, one line for the user. `badInput` when it is what the user gave
 * (a source missing or not whole sectors, a device too small: exit 2), else a failure while
 * working (a read error: exit 1).
 */
export class ImageIoError extends Error {
  constructor(
    message: string,
    readonly badInput = false,
  ) {
    super(message);
    this.name = "ImageIoError";
  }
}

/** Bad bytes in an image: the message names the chunk and the image byte offset. */
export class ImageCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImageCorruptError";
  }
}

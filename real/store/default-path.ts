/**
 * The store file a command uses without --db. In a module of its own: commands show it in their
 * help when the program is built, without loading SQLite (issue 12).
 */
export const DEFAULT_STORE_PATH = "./testbed.db";

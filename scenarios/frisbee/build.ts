// The Frisbee installer lives in sim/frisbee/install.ts. scenarios/sync/build.ts still takes its
// start times from here until it moves into sim/ too (its own change); nothing else may.
export { startTimes } from "../../sim/frisbee/start.js";

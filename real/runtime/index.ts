export { epochNowUs, wallClock, type Clock } from "./clock.js";
export { WallTimers } from "./timers.js";
export { GROUP, MulticastNet, NetError, PEERS_MAX, SOCKET_BUFFER_BYTES, type MulticastOptions, type NetStats } from "./udp.js";
export { FileDisk, TargetError, fsyncFd, openTarget, type DiskDone, type OpenedTarget } from "./disk.js";
export { bindProcess, freshSeed, realEnv, type Bound, type RealParts } from "./env.js";
export { addressToIpv4, ipv4ToAddress } from "./ipv4.js";
export { UdpNet } from "./unicast.js";
export { openFilesLimit } from "./fd-limit.js";
export { readUserFile, readUserText } from "./read-file.js";

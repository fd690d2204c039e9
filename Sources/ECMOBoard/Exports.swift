// The hardware-opening contract and the line/watchdog value types live in ECMOHAL; board
// files produce them. Re-exported so a reader of board files sees the whole configuration.
@_exported import ECMOHAL

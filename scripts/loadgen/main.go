// Command loadgen drives a running `kassa run` from outside, as a shop and a
// technician would: it posts receipts through the shop API, kills and restarts
// the register, and checks the fiscal invariants on the data directory after it
// stops. scripts/bench and scripts/torture build and call it; it is a
// measuring tool, not part of the firmware.
//
//	loadgen bench   -kassa BIN [-n 10000] [-c 8] [-modes longpoll,poll] [-out FILE]
//	loadgen torture -kassa BIN [-cycles 200] [-ofd-sim] [-drills]
//	loadgen fsync   [-dir DIR] [-for 2s]
//	loadgen fleet   -kassa BIN [-registers 1000] [-n 10000] [-c 64] [-nodes 1] [-db postgres://…]
//
// Profiles come from BenchmarkRegister (the register in the test process):
//
//	go test -run=NONE -bench=Register -benchtime=3000x -cpuprofile cpu.out ./scripts/loadgen
package main

import (
	"fmt"
	"os"
)

func main() {
	cmds := map[string]func([]string) error{
		"bench":   runBench,
		"torture": runTorture,
		"fsync":   runFsync,
		"fleet":   runFleet,
	}
	if len(os.Args) < 2 || cmds[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: loadgen bench|torture|fsync|fleet [flags] (-h for the flags of each)")
		os.Exit(2)
	}
	if err := cmds[os.Args[1]](os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

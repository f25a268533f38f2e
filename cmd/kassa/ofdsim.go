//go:build !board

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/openkassa/kassa/ofd/sim"
)

func init() {
	register(command{name: "ofd-sim", summary: "run the OFD emulator (FN–OFD over TCP, receipt look-up over HTTP)", run: runOFDSim})
}

func runOFDSim(ctx context.Context, args []string) error {
	fs := newFlags("ofd-sim", "kassa ofd-sim [--addr HOST:PORT] [--lookup-addr HOST:PORT] [--data DIR] [flags]",
		"Runs the OFD emulator: it takes FN–OFD containers over TCP, answers each with an\n"+
			"acknowledgement, and serves the buyer's receipt look-up over HTTP.")
	addr := fs.String("addr", "127.0.0.1:7777", "FN–OFD protocol address")
	lookupAddr := fs.String("lookup-addr", "127.0.0.1:7778", "receipt look-up HTTP address")
	data := fs.String("data", "", "data directory; the store is DIR/ofd/ofd.db")
	ofdKey := fs.String("ofd-key", "", "the OFD's signing key, hex (default: a random one, logged)")
	inn := fs.String("inn", "", "the OFD's INN for tag 1017 (default "+sim.DefaultOFDINN+")")
	unsigned := fs.Bool("unsigned", false, "acknowledge as an OFD without the fiscal crypto: no 1078, no message sign")
	keys := map[string][]byte{}
	fs.Func("drive-key", "NUMBER=HEX: a drive's signing key (repeatable)", func(v string) error {
		num, h, ok := strings.Cut(v, "=")
		key, err := hex.DecodeString(h)
		if !ok || len(num) != 16 || err != nil || len(key) == 0 {
			return fmt.Errorf("want 16-digit NUMBER=HEX, got %q", v)
		}
		keys[num] = key
		return nil
	})
	fault := fs.String("fault", "none", "fault to inject: none, refuse, delay, close, error, corrupt, duplicate")
	faultTimes := fs.Int("fault-times", 0, "messages (connections, for refuse) the fault hits; 0 = all")
	faultDelay := fs.Duration("fault-delay", 0, "answer delay for --fault delay")
	faultCode := fs.Uint("fault-code", uint(sim.CodeRejected), "response code (1022) for --fault error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mode, err := sim.ParseFaultMode(*fault)
	if err != nil {
		return err
	}
	if *faultCode == 0 || *faultCode > 255 {
		return fmt.Errorf("--fault-code %d: want 1..255", *faultCode)
	}
	dir := dataDir(*data)
	serverGC()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	key, err := hex.DecodeString(*ofdKey)
	if err != nil {
		return fmt.Errorf("--ofd-key: %w", err)
	}
	if len(key) == 0 {
		key = make([]byte, 32)
		rand.Read(key)
		log.Info("no --ofd-key: signing with a random key", "ofd_key", hex.EncodeToString(key))
	}
	s, err := sim.New(sim.Config{
		Dir:       filepath.Join(dir, "ofd"),
		DriveKeys: func(n string) ([]byte, bool) { k, ok := keys[n]; return k, ok },
		OFDKey:    key,
		OFDINN:    *inn,
		Unsigned:  *unsigned,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	defer s.Close()
	if mode != sim.FaultNone {
		s.SetFault(sim.Fault{Mode: mode, Times: *faultTimes, Delay: *faultDelay, Code: byte(*faultCode)})
	}
	return s.ListenAndServe(ctx, *addr, *lookupAddr, func(o, l net.Addr) {
		log.Info("OFD emulator listening", "ofd", o.String(), "lookup", "http://"+l.String())
	})
}

package sim_test

import (
	"testing"

	"github.com/openkassa/kassa/ofd/sim"
)

// TestLookupServerLimits: the look-up's server bounds every phase of a
// connection and their number (the cloud's TestSlowClient shows the same
// settings cutting a trickling client off).
func TestLookupServerLimits(t *testing.T) {
	s, err := sim.New(sim.Config{Dir: t.TempDir(), OFDKey: ofdKey, DriveKeys: func(string) ([]byte, bool) { return nil, false }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	hs := s.LookupServer()
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 || hs.MaxHeaderBytes <= 0 || hs.ConnState == nil || hs.Handler == nil {
		t.Fatalf("look-up server %+v", hs)
	}
}

package sim

import (
	"fmt"
	"strings"
	"time"
)

// FaultMode is a way the emulator misbehaves on purpose.
type FaultMode int

// Fault modes.
const (
	FaultNone            FaultMode = iota
	FaultRefuse                    // close each new connection before reading anything, and others at their next message
	FaultDelay                     // answer after Fault.Delay
	FaultCloseMidMessage           // store the document, write half of the answer, close
	FaultErrorCode                 // answer with Fault.Code in 1022 and store nothing
	FaultCorruptAck                // store the document, answer with a byte of the ack flipped
	FaultDuplicateAck              // store the document, answer with a valid ack for FD − 1
)

var faultNames = map[FaultMode]string{
	FaultNone:            "none",
	FaultRefuse:          "refuse",
	FaultDelay:           "delay",
	FaultCloseMidMessage: "close",
	FaultErrorCode:       "error",
	FaultCorruptAck:      "corrupt",
	FaultDuplicateAck:    "duplicate",
}

func (m FaultMode) String() string {
	if n, ok := faultNames[m]; ok {
		return n
	}
	return fmt.Sprintf("FaultMode(%d)", int(m))
}

// ParseFaultMode reads a mode by the name String gives it (as the ofd-sim flags spell it).
func ParseFaultMode(s string) (FaultMode, error) {
	for m, n := range faultNames {
		if n == s {
			return m, nil
		}
	}
	names := make([]string, 0, len(faultNames))
	for m := FaultNone; int(m) < len(faultNames); m++ {
		names = append(names, faultNames[m])
	}
	return FaultNone, fmt.Errorf("ofd/sim: unknown fault %q (one of %s)", s, strings.Join(names, ", "))
}

// Fault is one injected misbehaviour.
type Fault struct {
	Mode FaultMode
	// Times is how many messages it hits (connections, for FaultRefuse);
	// 0 means every one until ClearFault.
	Times int
	Delay time.Duration // FaultDelay
	Code  byte          // FaultErrorCode; 0 means CodeRejected
}

// SetFault replaces the current fault.
func (s *Server) SetFault(f Fault) {
	if f.Mode == FaultErrorCode && f.Code == 0 {
		f.Code = CodeRejected
	}
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
	s.log.Info("fault set", "mode", f.Mode, "times", f.Times)
}

// ClearFault switches faults off.
func (s *Server) ClearFault() { s.SetFault(Fault{}) }

// refusing reports whether the OFD is down (FaultRefuse): a connection made
// before then is dropped at its next message, as a server that went down drops it.
func (s *Server) refusing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault.Mode == FaultRefuse
}

// takeFault reports whether the current fault is of mode m and, if so, uses up one of its times.
func (s *Server) takeFault(m FaultMode) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f.Mode != m || m == FaultNone {
		return f, false
	}
	if f.Times > 0 {
		if s.fault.Times--; s.fault.Times == 0 {
			s.fault = Fault{}
		}
	}
	return f, true
}

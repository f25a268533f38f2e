package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestProcMemory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	if err := os.WriteFile(path, make([]byte, 1<<16), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := syscall.Mmap(int(f.Fd()), 0, 1<<16, syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Munmap(b)
	if b[1<<15] != 0 { // maps at least that page
		t.Fatal("the file holds zeros")
	}
	m, err := procMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.binary <= 0 || m.db < 4 || m.pss <= 0 {
		t.Errorf("procMemory = %+v: want the test binary's pages, at least one page of x.db, and a PSS", m)
	}
}

func TestProcCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("QEMU user-mode (the -short runs) answers /proc/PID/stat with no CPU time")
	}
	before, err := procCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	after := before
	for i := 0; i < 1e4 && after == before; i++ {
		for j := 0; j < 1e6; j++ {
			sink += j
		}
		if after, err = procCPU(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	if after <= before {
		t.Fatalf("procCPU went from %v to %v after 10^10 additions", before, after)
	}
}

var sink int

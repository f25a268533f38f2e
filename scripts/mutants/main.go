// Command mutants checks that the tests catch what they promise: it copies the
// working tree, breaks one guarantee at a time in the copy (a mutant), runs the
// packages whose tests stand for that guarantee, and reports each mutant as
// killed (the tests failed) or survived. It exits 1 when a mutant survives or
// no longer applies to the code.
//
//	go run ./scripts/mutants [-list] [-v] [name ...]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// mutant is one broken guarantee: old, found exactly once in file, becomes new.
type mutant struct {
	name, why string
	file      string
	old, new  string
	pkgs      []string
}

var mutants = []mutant{
	{
		name: "journal-sync",
		why:  "the drive's journal never reaches the disk: a power cut loses signed documents",
		file: "fiscal/fn/journal.go",
		old:  "\tif err := j.f.Sync(); err != nil {\n\t\treturn fmt.Errorf(\"journal: %w\", err)\n\t}\n",
		new:  "",
		pkgs: []string{"./fiscal/fn"},
	},
	{
		name: "reconcile-match",
		why:  "recovery no longer matches a receipt the drive signed to the document the store holds: it would be signed twice",
		file: "device/reconcile.go",
		old:  "if err == nil && d.State == store.Accepted {",
		new:  "if false && err == nil && d.State == store.Accepted {",
		pkgs: []string{"./device"},
	},
	{
		name: "cloud-idempotency",
		why:  "the cloud takes a re-posted id as a new document",
		file: "device/cloud/server/storage/boltstore/documents.go",
		old:  "\t\tif found {\n\t\t\tif rec.Hash != n.Hash {",
		new:  "\t\tif false && found {\n\t\t\tif rec.Hash != n.Hash {",
		pkgs: []string{"./device/cloud/server/storage/boltstore", "./device/cloud/server"},
	},
	{
		name: "crc-polynomial",
		why:  "the drive exchange's CRC-16 uses another polynomial",
		file: "fiscal/crc.go",
		old:  "crc = crc<<1 ^ 0x1021",
		new:  "crc = crc<<1 ^ 0x8005",
		pkgs: []string{"./fiscal/..."},
	},
}

func main() {
	list := flag.Bool("list", false, "list the mutants and exit")
	verbose := flag.Bool("v", false, "show the test output of every mutant")
	flag.Parse()
	if *list {
		for _, m := range mutants {
			fmt.Printf("%-18s %s (%s; %s)\n", m.name, m.why, m.file, strings.Join(m.pkgs, " "))
		}
		return
	}
	chosen := mutants
	if flag.NArg() > 0 {
		chosen = nil
		for _, m := range mutants {
			if slices.Contains(flag.Args(), m.name) {
				chosen = append(chosen, m)
			}
		}
		if len(chosen) != flag.NArg() {
			fail("unknown mutant among %v; -list shows them", flag.Args())
		}
	}
	root, err := os.Getwd()
	if err != nil {
		fail("%v", err)
	}
	bad := 0
	for _, m := range chosen {
		start := time.Now()
		out, killed, err := run(root, m)
		switch {
		case err != nil:
			bad++
			fmt.Printf("%-18s DOES NOT APPLY: %v\n", m.name, err)
		case killed:
			fmt.Printf("%-18s killed   (%.0fs)\n", m.name, time.Since(start).Seconds())
		default:
			bad++
			fmt.Printf("%-18s SURVIVED (%.0fs): no test notices that %s\n", m.name, time.Since(start).Seconds(), m.why)
		}
		if *verbose || (err == nil && !killed) {
			os.Stdout.Write(out)
		}
	}
	if bad > 0 {
		os.Exit(1)
	}
}

// run applies m to a copy of the working tree and runs its packages' tests
// there; killed says they failed.
func run(root string, m mutant) (out []byte, killed bool, err error) {
	dir, err := os.MkdirTemp("", "kassa-mutant-")
	if err != nil {
		return nil, false, err
	}
	defer os.RemoveAll(dir)
	if err := copyTree(root, dir); err != nil {
		return nil, false, err
	}
	path := filepath.Join(dir, m.file)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, false, err
	}
	if n := bytes.Count(src, []byte(m.old)); n != 1 {
		return nil, false, fmt.Errorf("%s holds the code to break %d times, want once", m.file, n)
	}
	if err := os.WriteFile(path, bytes.Replace(src, []byte(m.old), []byte(m.new), 1), 0o644); err != nil {
		return nil, false, err
	}
	cmd := exec.Command("go", append([]string{"test", "-count=1", "-timeout=10m"}, m.pkgs...)...)
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); ok {
		if bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")) {
			return out, false, fmt.Errorf("the mutant does not build:\n%s", out)
		}
		return out, true, nil
	}
	return out, false, err
}

// copyTree copies the files git knows of (tracked, or new and not ignored).
func copyTree(root, dir string) error {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	names, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("git ls-files: %w", err)
	}
	for name := range strings.SplitSeq(strings.TrimSuffix(string(names), "\x00"), "\x00") {
		src := filepath.Join(root, name)
		info, err := os.Lstat(src)
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "mutants: "+format+"\n", args...)
	os.Exit(2)
}

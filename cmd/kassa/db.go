package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/openkassa/kassa/store/boltfile"
)

func init() {
	register(command{name: "db", summary: "check the database files: db check [FILE...]", run: runDB})
}

// dataFiles are the bbolt files a data directory may hold.
var dataFiles = []string{"kassa.db", "cloud.db", "ofd.db", filepath.Join("fn", "fn.db")}

func runDB(_ context.Context, args []string) error {
	fs := newFlags("db", "kassa db check [--data DIR] [FILE...]",
		"Checks each bbolt file as the register and the emulators do when they open it\n"+
			"(meta pages, size, bbolt's page check), read-only; with no FILE, every one of\n"+
			"kassa.db, cloud.db, ofd.db and fn/fn.db the data directory holds. Stop the\n"+
			"process that uses a file before checking it. Exit status 1 if any is damaged.")
	dir := fs.String("data", "", "data directory whose files to check when none is named")
	// Flags may stand before or after "check".
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 || fs.Arg(0) != "check" {
		fs.Usage()
		return errors.New("usage: kassa db check [--data DIR] [FILE...]")
	}
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		d := dataDir(*dir)
		for _, f := range dataFiles {
			if _, err := os.Stat(filepath.Join(d, f)); err == nil {
				files = append(files, filepath.Join(d, f))
			}
		}
		if len(files) == 0 {
			return fmt.Errorf("no database file in %s", d)
		}
	}
	bad := 0
	for _, f := range files {
		if err := boltfile.Check(f); err != nil {
			fmt.Printf("%s: %v\n", f, err)
			bad++
			continue
		}
		fmt.Printf("%s: ok\n", f)
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d files failed their check", bad, len(files))
	}
	return nil
}

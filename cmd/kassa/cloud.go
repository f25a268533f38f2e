package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

func init() {
	register(command{name: "cloud", summary: "run the sandbox cloud alone and print its credentials", run: runCloud})
}

// serverGC raises the GC target of kassa cloud and kassa ofd-sim, unless GOGC
// is set: alone they stand for servers of their own with memory to spare, not
// for the register's board, and at 400 a heap grows to about five times what it
// holds live for less CPU spent collecting it.
func serverGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

func runCloud(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("cloud", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8780", "listen address of the shop and register APIs")
	dir := fs.String("data", "", "data directory (default $KASSA_DATA or ./var); the cloud keeps DIR/cloud.db")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		if *dir = os.Getenv("KASSA_DATA"); *dir == "" {
			*dir = "var"
		}
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	serverGC()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	srv, err := cloud.Open(cloud.Config{Dir: *dir, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	sb, err := srv.Sandbox()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(struct {
		Cloud string `json:"cloud"`
		cloud.Sandbox
	}{"http://" + ln.Addr().String(), sb}, "", "  ")
	if err != nil {
		return err
	}
	fmt.Println(string(out))
	hs := cloud.HTTPServer(srv.Handler(), cloud.ServerLimits{})
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

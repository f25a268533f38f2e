package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/openkassa/kassa/device"
)

// version is the firmware version (tag 1188 holds at most 8 characters);
// scripts/build stamps it with -ldflags "-X main.version=…".
var version = "0.1.0"

func init() {
	register(command{name: "run", summary: "start the register (with no config: the sandbox, all on loopback)", run: runRegister})
	register(command{name: "version", summary: "print the firmware version (also kassa --version)",
		usage: "usage: kassa version\n\nPrints the firmware version, as tag 1188 carries it.",
		run: func(context.Context, []string) error {
			printVersion()
			return nil
		}})
}

func printVersion() { fmt.Println("kassa", version) }

func runRegister(ctx context.Context, args []string) error {
	fs := newFlags("run", "kassa run [--config FILE] [--data DIR] [flags]",
		"Starts the register. With no --config it is the sandbox: the cloud, the emulated drive,\n"+
			"printer and OFD, all on loopback; DIR/sandbox.json then says how to reach them.\n"+
			"With --config FILE (docs/config.md) it serves a real cloud, drive and printer.")
	config := fs.String("config", "", "settings file (JSON, see docs/config.md); none: the sandbox")
	data := fs.String("data", "", "data directory (wins over the settings file's \"data\")")
	cloudAddr := fs.String("cloud-addr", "", "the sandbox cloud's address (default 127.0.0.1:8780; port 0 = any)")
	ofdAddr := fs.String("ofd-addr", "", "the OFD emulator's address (default 127.0.0.1:7777; port 0 = any)")
	lookupAddr := fs.String("lookup-addr", "", "the OFD emulator's receipt look-up (default 127.0.0.1:7778; port 0 = any)")
	ofdServer := fs.String("ofd-server", "", "send to this OFD (HOST:PORT) instead of the embedded emulator")
	logLevel := fs.String("log", "", "log level: debug, info, warn, error")
	logFormat := fs.String("log-format", "", "log format: text (default), or json: one object a line, for a log collector")
	metricsAddr := fs.String("metrics-addr", "", "serve /healthz and /metrics (Prometheus) on this address, e.g. 127.0.0.1:9780; default off")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var s device.Settings
	if *config != "" {
		var err error
		if s, err = device.LoadSettings(*config); err != nil {
			return err
		}
	}
	override(&s.Data, orDefault(*data, globalData))
	if s.Data == "" {
		s.Data = dataDir("")
	}
	override(&s.Cloud.Addr, *cloudAddr)
	override(&s.OFD.Addr, *ofdAddr)
	override(&s.OFD.LookupAddr, *lookupAddr)
	override(&s.OFD.Server, *ofdServer)
	override(&s.Log.Level, *logLevel)
	override(&s.Log.Format, *logFormat)
	override(&s.Metrics.Addr, *metricsAddr)

	log, err := device.NewLogger(os.Stderr, s.Log)
	if err != nil {
		return err
	}
	registerRuntime(s)
	app, wait, err := startRegister(ctx, s, log)
	if err != nil {
		return err
	}
	log.Info("register running", "console", app.Socket, "version", version)
	stopMetrics := func() {}
	if configured := app.Settings.Metrics.Addr; configured != "" {
		addr, stop, err := serveMetrics(configured, app.Runtime.MetricsHandler())
		if err != nil {
			// The register serves without it: a scrape that fails says enough.
			log.Error("metrics not served", "addr", configured, "err", err)
		} else {
			stopMetrics = stop
			log.Info("metrics served", "healthz", "http://"+addr+"/healthz", "metrics", "http://"+addr+"/metrics")
		}
	}
	// The service manager (systemd's Type=notify) learns that the register
	// serves, and its watchdog is fed while the pipeline is alive.
	var ticks <-chan time.Time
	if wd := device.WatchdogFromEnv(); wd > 0 {
		t := time.NewTicker(wd / 4)
		defer t.Stop()
		ticks = t.C
	}
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		if err := app.Runtime.Notify(ctx, device.NotifierFromEnv(), ticks); err != nil {
			log.Warn("the service manager was not told", "err", err)
		}
	}()
	<-ctx.Done()
	stopMetrics() // before the store and the drive close beneath a scrape
	wait(ctx)
	<-notified
	log.Info("register stopped")
	return nil
}

// registerRuntime sets the Go runtime up for a register alone on its board,
// unless GOMAXPROCS or GOGC say otherwise: one P, since its work is one
// pipeline of documents and a few loops that wait on the network and the disk
// (it spends less CPU per receipt so than with two, and holds less memory), and
// a GC target of 60, which keeps the heap smaller for a little CPU. A process
// that also hosts the sandbox's cloud or OFD emulator keeps Go's defaults: it
// stands for three machines.
func registerRuntime(s device.Settings) {
	if s.Cloud.URL == "" || s.OFD.Server == "" {
		return
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(60)
	}
}

func override(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func orDefault(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return v
}

// serveMetrics serves h on addr (port 0: any free one) until stop, which waits
// for the scrapes under way, and returns the address it listens on.
func serveMetrics(addr string, h http.Handler) (bound string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	return ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

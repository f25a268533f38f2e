package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// modeResult is one load run against a fresh register.
type modeResult struct {
	Mode         string  `json:"mode"` // apart (long-poll, the register alone), longpoll or poll (the whole sandbox in one process)
	Watch        string  `json:"watch"`
	Receipts     int     `json:"receipts"`
	Clients      int     `json:"clients"`
	InFlight     int     `json:"in_flight"` // receipts each client keeps posted and not yet COMPLETED
	Errors       int     `json:"errors"`
	ReceiptsPerS float64 `json:"receipts_per_s"`     // POST → COMPLETED, first POST to last COMPLETED
	OFDPerS      float64 `json:"ofd_receipts_per_s"` // first POST to the drive's OFD queue empty
	P50          float64 `json:"p50_ms"`
	P95          float64 `json:"p95_ms"`
	P99          float64 `json:"p99_ms"`
	Max          float64 `json:"max_ms"`
	WallS        float64 `json:"wall_s"`
	CPUPerDoc    float64 `json:"cpu_ms_per_receipt"` // the register's user+system CPU time in the bulk phase ÷ receipts
	// DriveLimitPerS is, in the drive mode, what the drive's signing time
	// allows: 1 ÷ fn.TypicalLatency's receipt signing.
	DriveLimitPerS float64 `json:"drive_limit_per_s,omitempty"`
	// The same register afterwards, each client with one receipt at a time.
	SingleReceipts int            `json:"single_receipts"`
	SingleP50      float64        `json:"single_p50_ms"`
	SingleP95      float64        `json:"single_p95_ms"`
	SingleMax      float64        `json:"single_max_ms"`
	RSSPeakMiB     float64        `json:"rss_mib"`          // VmHWM of the kassa run process after the run
	RSSEndMiB      float64        `json:"rss_end_mib"`      // VmRSS after the run
	RSSAnonMiB     float64        `json:"rss_anon_mib"`     // of which the heap, stacks and runtime (RssAnon)
	RSSFileMiB     float64        `json:"rss_file_mib"`     // and the binary's and the bbolt files' mapped pages (RssFile)
	RSSBinaryMiB   float64        `json:"rss_binary_mib"`   // of which the binary's own mappings
	RSSDBMiB       float64        `json:"rss_db_mib"`       // and the mapped bbolt files (*.db)
	PSSEndMiB      float64        `json:"pss_end_mib"`      // PSS after the run: pages shared with other processes in part
	RSSQuietMiB    float64        `json:"rss_quiet_mib"`    // VmRSS after one more second without receipts
	RSSQuietDBMiB  float64        `json:"rss_quiet_db_mib"` // of which the mapped bbolt files
	StopMS         float64        `json:"stop_ms"`          // SIGTERM to exit
	FsyncsPerDoc   float64        `json:"fsyncs_per_receipt,omitempty"`
	FsyncsPerFile  map[string]int `json:"fsyncs_by_file,omitempty"`
}

// benchResult's top-level figures are the first mode's: by default "apart", the
// register alone in its process and on its disk.
type benchResult struct {
	ReceiptsPerS   float64          `json:"receipts_per_s"`
	OFDPerS        float64          `json:"ofd_receipts_per_s"`
	P50            float64          `json:"p50_ms"`
	P95            float64          `json:"p95_ms"`
	P99            float64          `json:"p99_ms"`
	RSSMiB         float64          `json:"rss_mib"`
	FsyncPerS      float64          `json:"fsync_per_s"`
	DurablePerSync float64          `json:"receipts_per_fsync_rate"` // receipts_per_s / fsync_per_s
	ColdStartMS    float64          `json:"cold_start_ms"`           // median, fresh data directory
	RestartMS      float64          `json:"restart_ms"`              // median, existing data directory
	BinaryBytes    map[string]int64 `json:"binary_bytes"`
	Modes          []modeResult     `json:"modes"`
	Machine        machine          `json:"machine"`
}

type machine struct {
	CPUs       int    `json:"nproc"`
	MemMiB     int64  `json:"mem_mib"`
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
	GoVersion  string `json:"go"`
}

func runBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	bin := fs.String("kassa", "kassa", "the kassa binary")
	n := fs.Int("n", 10000, "receipts per long-poll run")
	pollN := fs.Int("poll-n", 2000, "receipts in the 5 s polling run")
	clients := fs.Int("c", 8, "concurrent shop clients")
	inflight := fs.Int("inflight", 16, "receipts each client keeps posted and not yet COMPLETED in the bulk phase")
	single := fs.Int("single", 5, "receipts per client in the one-at-a-time phase that follows")
	modes := fs.String("modes", "apart,board,longpoll,poll,drive", "runs to make: apart (long-poll; cloud and OFD emulator in processes of their own with their files under -remote-dir, so RSS and disk are the register's alone), board (as apart, the register the -board binary with the drive on a pty served by the full build's kassa fn-emu, no printer), longpoll and poll (the sandbox: all in one kassa run, all on this disk), drive (the sandbox, long-poll, its emulated drive with a real drive's timing, fn.TypicalLatency)")
	boardBin := fs.String("board", "", "the board build, the register of the board mode")
	driveN := fs.Int("drive-n", 120, "receipts in the drive run")
	remoteDir := fs.String("remote-dir", defaultRemoteDir(), "where the apart mode's cloud and OFD keep their files: another filesystem stands for their own machines")
	watch := fs.String("watch", "callback", "how a client learns COMPLETED: callback (its responseURL; the cloud marks it COMPLETED on our 200) or status (GET …/status every -step)")
	step := fs.Duration("step", 5*time.Millisecond, "status polling step in long-poll mode (50 ms in polling mode)")
	cold := fs.Int("cold", 5, "cold starts and restarts to time")
	tmp := fs.String("tmp", "", "where the data directories go (default the system's temp dir)")
	out := fs.String("out", "", "write the JSON result here too")
	strace := fs.Bool("strace", false, "run the register under strace and count fsync/fdatasync per file (slows it: counts only)")
	var bins multiFlag
	fs.Var(&bins, "bin", "ARCH=PATH of a built binary whose size to report (repeatable)")
	asJSON := fs.Bool("json", false, "print only the JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var res benchResult
	res.Machine = machineInfo()
	res.BinaryBytes = map[string]int64{}
	for _, b := range bins {
		arch, path, ok := strings.Cut(b, "=")
		fi, err := os.Stat(path)
		if !ok || err != nil {
			return fmt.Errorf("-bin %q: want ARCH=PATH of an existing file", b)
		}
		res.BinaryBytes[arch] = fi.Size()
	}
	root, err := os.MkdirTemp(*tmp, "kassa-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	logf := func(format string, a ...any) {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}

	// The disk first, with nothing else of ours running.
	if res.FsyncPerS, err = fsyncRate(root, 2*time.Second); err != nil {
		return err
	}
	logf("fsync: %.0f/s", res.FsyncPerS)
	if res.ColdStartMS, res.RestartMS, err = startTimes(*bin, root, *cold); err != nil {
		return err
	}
	logf("cold start %.1f ms, restart %.1f ms (medians of %d)", res.ColdStartMS, res.RestartMS, *cold)

	for i, mode := range strings.Split(*modes, ",") {
		cfg := loadConfig{bin: *bin, root: filepath.Join(root, fmt.Sprintf("run%d-%s", i, mode)), mode: mode,
			n: *n, clients: *clients, inflight: *inflight, single: *single, watch: *watch, step: *step, strace: *strace}
		switch mode {
		case "apart":
			cfg.remoteDir = *remoteDir
		case "board":
			if *boardBin == "" {
				return fmt.Errorf("-modes board: needs -board BIN")
			}
			cfg.remoteDir, cfg.boardBin = *remoteDir, *boardBin
		case "longpoll":
		case "poll":
			cfg.n, cfg.step = *pollN, 50*time.Millisecond
		case "drive":
			cfg.n, cfg.single = *driveN, 0
		default:
			return fmt.Errorf("-modes: unknown mode %q", mode)
		}
		logf("%s: %d receipts from %d clients…", mode, cfg.n, cfg.clients)
		m, err := loadRun(cfg)
		if err != nil {
			return fmt.Errorf("%s run: %w", mode, err)
		}
		if mode == "drive" {
			m.DriveLimitPerS = 1 / fn.TypicalLatency().Signing(fiscal.DocReceipt).Seconds()
		}
		logf("%s: %.1f receipts/s, p50 %.1f ms, p99 %.1f ms", mode, m.ReceiptsPerS, m.P50, m.P99)
		res.Modes = append(res.Modes, m)
		os.RemoveAll(cfg.root)
	}
	if len(res.Modes) > 0 {
		m := res.Modes[0]
		res.ReceiptsPerS, res.OFDPerS, res.P50, res.P95, res.P99, res.RSSMiB = m.ReceiptsPerS, m.OFDPerS, m.P50, m.P95, m.P99, m.RSSPeakMiB
		res.DurablePerSync = m.ReceiptsPerS / res.FsyncPerS
	}
	res.Machine.LoadAfter = loadAvg()
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		fmt.Println(string(b))
		return nil
	}
	printTable(os.Stdout, res)
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// startTimes times process start to ready: k starts on fresh data directories
// (the first start creates the cloud's sandbox and registers the drive), then k
// restarts on the last one.
func startTimes(bin, root string, k int) (cold, restart float64, err error) {
	var colds, restarts []float64
	var r *register
	for i := range k {
		if r, err = newRegister(bin, filepath.Join(root, fmt.Sprintf("cold%d", i))); err != nil {
			return 0, 0, err
		}
		d, err := r.startReady()
		if err != nil {
			return 0, 0, err
		}
		colds = append(colds, ms(d))
		if _, err := r.stop(); err != nil {
			return 0, 0, err
		}
	}
	for range k {
		d, err := r.startReady()
		if err != nil {
			return 0, 0, err
		}
		restarts = append(restarts, ms(d))
		if _, err := r.stop(); err != nil {
			return 0, 0, err
		}
	}
	for i := range k {
		os.RemoveAll(filepath.Join(root, fmt.Sprintf("cold%d", i)))
	}
	return median(colds), median(restarts), nil
}

type loadConfig struct {
	bin, root, mode, watch string
	n, clients, inflight   int
	single                 int
	step                   time.Duration
	strace                 bool
	remoteDir              string // set: the apart and board modes
	boardBin               string // set: the board mode, whose register this binary is
}

// defaultRemoteDir is tmpfs where there is one.
func defaultRemoteDir() string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func loadRun(cfg loadConfig) (modeResult, error) {
	m := modeResult{Mode: cfg.mode, Watch: cfg.watch, Receipts: cfg.n, Clients: cfg.clients, InFlight: cfg.inflight}
	if err := os.MkdirAll(cfg.root, 0o700); err != nil {
		return m, err
	}
	settings := []byte(`{"cloud":{"longPoll":false}}`)
	if cfg.mode == "drive" {
		settings = []byte(`{"drive":{"latency":"typical"}}`)
	}
	var rem *remote
	if cfg.remoteDir != "" {
		rdir, err := os.MkdirTemp(cfg.remoteDir, "kassa-bench-remote-")
		if err != nil {
			return m, err
		}
		defer os.RemoveAll(rdir)
		if rem, err = startRemote(cfg.bin, filepath.Join(cfg.root, "data"), rdir, cfg.root); err != nil {
			return m, err
		}
		defer rem.stop()
		settings = rem.settings(true)
	}
	var extra []string
	bin := cfg.bin
	if cfg.boardBin != "" {
		config, stop, err := rem.boardRun(cfg.bin, cfg.boardBin, cfg.root)
		if err != nil {
			return m, err
		}
		defer stop()
		bin, extra = cfg.boardBin, []string{"--config", config}
	} else if cfg.mode == "poll" || cfg.mode == "drive" || rem != nil {
		path := filepath.Join(cfg.root, "config.json")
		if err := os.WriteFile(path, append(settings, '\n'), 0o600); err != nil {
			return m, err
		}
		extra = append(extra, "--config", path)
	}
	r, err := newRegister(bin, cfg.root, extra...)
	if err != nil {
		return m, err
	}
	if rem != nil {
		err = rem.startRegister(r)
	} else {
		_, err = r.startReady()
	}
	if err != nil {
		return m, err
	}
	defer r.kill()
	traceOut := filepath.Join(cfg.root, "strace.txt")
	var tracer *exec.Cmd
	if cfg.strace {
		// Attached to the running register, so that signals and /proc still reach it.
		tracer = exec.Command("strace", "-f", "-y", "-qq", "-e", "trace=fsync,fdatasync", "-o", traceOut, "-p", strconv.Itoa(r.cmd.Process.Pid))
		if err := tracer.Start(); err != nil {
			return m, fmt.Errorf("starting strace: %w", err)
		}
		defer tracer.Process.Kill()
		time.Sleep(time.Second) // strace attaches to every thread
	}
	s := newShop(r.sb.Cloud, r.sb.Login, r.sb.Password)

	var cb *callbacks
	if cfg.watch == "callback" {
		if cb, err = listenCallbacks(); err != nil {
			return m, err
		}
		defer cb.close()
	}
	cpu0, err := procCPU(r.cmd.Process.Pid)
	if err != nil {
		return m, err
	}
	start := time.Now()
	lat, last, errs, firstErr := drive(s, cb, cfg.mode+"-bulk", cfg.n, cfg.clients*cfg.inflight, cfg.step)
	if len(lat) == 0 {
		return m, fmt.Errorf("no receipt completed: %v", firstErr)
	}
	cpu1, err := procCPU(r.cmd.Process.Pid)
	if err != nil {
		return m, err
	}
	m.CPUPerDoc = ms(cpu1-cpu0) / float64(len(lat))
	tOFD, err := r.waitOFD(2 * time.Minute)
	if err != nil {
		return m, err
	}
	m.WallS = last.Sub(start).Seconds()
	m.Receipts = len(lat)
	m.ReceiptsPerS = float64(len(lat)) / m.WallS
	m.OFDPerS = float64(len(lat)) / tOFD.Sub(start).Seconds()
	m.P50, m.P95, m.P99, m.Max = quantile(lat, .50), quantile(lat, .95), quantile(lat, .99), lat[len(lat)-1]
	// Then each client with one receipt at a time, as a small shop posts.
	clat, _, cerrs, cerr := drive(s, cb, cfg.mode+"-single", cfg.single*cfg.clients, cfg.clients, cfg.step)
	if firstErr == nil {
		firstErr = cerr
	}
	if errs += cerrs; firstErr != nil {
		fmt.Fprintf(os.Stderr, "%s: %d errors, the first: %v\n", cfg.mode, errs, firstErr)
	}
	if len(clat) > 0 {
		m.SingleReceipts = len(clat)
		m.SingleP50, m.SingleP95, m.SingleMax = quantile(clat, .50), quantile(clat, .95), clat[len(clat)-1]
	}
	m.Errors = errs
	if !cfg.strace {
		if err := measureMemory(&m, r.cmd.Process.Pid); err != nil {
			return m, err
		}
	}
	if cfg.strace {
		tracer.Process.Signal(syscall.SIGINT) // detach and flush
		tracer.Wait()
	}
	d, err := r.stop()
	if err != nil {
		return m, err
	}
	m.StopMS = ms(d)
	if cfg.strace {
		if m.FsyncsPerFile, err = countFsyncs(traceOut); err != nil {
			return m, err
		}
		total := 0
		for _, c := range m.FsyncsPerFile {
			total += c
		}
		m.FsyncsPerDoc = float64(total) / float64(len(lat)+len(clat))
	}
	return m, nil
}

// measureMemory fills m's memory figures: right after the run, then after a
// quiet second.
func measureMemory(m *modeResult, pid int) error {
	mib := func(kib int64) float64 { return float64(kib) / 1024 }
	st, err := procStatus(pid)
	if err != nil {
		return err
	}
	mem, err := procMemory(pid)
	if err != nil {
		return err
	}
	m.RSSPeakMiB, m.RSSEndMiB, m.RSSAnonMiB, m.RSSFileMiB = mib(st["VmHWM"]), mib(st["VmRSS"]), mib(st["RssAnon"]), mib(st["RssFile"])
	m.RSSBinaryMiB, m.RSSDBMiB, m.PSSEndMiB = mib(mem.binary), mib(mem.db), mib(mem.pss)
	time.Sleep(time.Second)
	if st, err = procStatus(pid); err != nil {
		return err
	}
	if mem, err = procMemory(pid); err != nil {
		return err
	}
	m.RSSQuietMiB, m.RSSQuietDBMiB = mib(st["VmRSS"]), mib(mem.db)
	return nil
}

// drive posts n receipts from workers goroutines, each with one receipt in flight,
// and answers the sorted latencies POST → COMPLETED and when the last completed.
func drive(s *shop, cb *callbacks, prefix string, n, workers int, step time.Duration) (lat []float64, last time.Time, errs int, firstErr error) {
	const limit = 2 * time.Minute
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w)+1, 42))
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				id := fmt.Sprintf("%s-%06d", prefix, i)
				d, _ := newDoc(rng, id)
				var done <-chan struct{}
				if cb != nil {
					d.ResponseURL, done = cb.expect(id)
				}
				t0 := time.Now()
				err := s.post(d)
				if err == nil {
					if cb != nil {
						select {
						case <-done:
						case <-time.After(limit):
							err = fmt.Errorf("%s: no callback within %v", id, limit)
						}
					} else {
						_, err = s.waitCompleted(id, step, limit)
					}
				}
				t1 := time.Now()
				mu.Lock()
				if err != nil {
					if errs++; firstErr == nil {
						firstErr = err
					}
				} else {
					lat = append(lat, ms(t1.Sub(t0)))
					if t1.After(last) {
						last = t1
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat, last, errs, firstErr
}

// countFsyncs counts fsync and fdatasync calls in an strace -y log by file name.
func countFsyncs(path string) (map[string]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the strace log: %w", err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.Index(line, "fdatasync(")
		if i < 0 {
			i = strings.Index(line, "fsync(")
		}
		if i < 0 {
			continue
		}
		call := line[i:]
		file := "?"
		if i, j := strings.Index(call, "<"), strings.Index(call, ">"); i >= 0 && j > i {
			file = filepath.Base(call[i+1 : j])
		}
		out[file]++
	}
	return out, nil
}

// callbacks is the shop's responseURL endpoint: it tells each waiting client when
// the cloud reports its document.
type callbacks struct {
	srv  *http.Server
	base string
	mu   sync.Mutex
	wait map[string]chan struct{}
}

func listenCallbacks() (*callbacks, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("callback listener: %w", err)
	}
	c := &callbacks{base: "http://" + ln.Addr().String() + "/cb?id=", wait: map[string]chan struct{}{}}
	c.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		c.mu.Lock()
		if ch, ok := c.wait[id]; ok {
			close(ch)
			delete(c.wait, id)
		}
		c.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}), ReadHeaderTimeout: 5 * time.Second}
	go c.srv.Serve(ln)
	return c, nil
}

func (c *callbacks) expect(id string) (string, <-chan struct{}) {
	ch := make(chan struct{})
	c.mu.Lock()
	c.wait[id] = ch
	c.mu.Unlock()
	return c.base + id, ch
}

func (c *callbacks) close() { c.srv.Close() }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return quantile(s, .5)
}

// quantile of sorted v, nearest rank.
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	i := int(q*float64(len(v))+0.5) - 1
	return v[max(0, min(i, len(v)-1))]
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), LoadBefore: loadAvg(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(string(b), "MemTotal: %d kB", &kb)
		m.MemMiB = kb / 1024
	}
	return m
}

func printTable(w *os.File, r benchResult) {
	fmt.Fprintf(w, "machine: %d CPUs, %d MiB, %s; load %s before, %s after\n", r.Machine.CPUs, r.Machine.MemMiB, r.Machine.GoVersion, r.Machine.LoadBefore, r.Machine.LoadAfter)
	fmt.Fprintf(w, "%-9s %8s %9s %8s %8s %8s %8s %8s %8s | %6s %8s %8s %8s\n", "mode", "receipts", "in flight", "rcpt/s", "ofd/s", "p50 ms", "p95 ms", "p99 ms", "RSS MiB", "single", "p50 ms", "p95 ms", "errors")
	for _, m := range r.Modes {
		fmt.Fprintf(w, "%-9s %8d %4d × %-2d %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f | %6d %8.1f %8.1f %8d\n", m.Mode, m.Receipts, m.Clients, m.InFlight, m.ReceiptsPerS, m.OFDPerS, m.P50, m.P95, m.P99, m.RSSPeakMiB, m.SingleReceipts, m.SingleP50, m.SingleP95, m.Errors)
		fmt.Fprintf(w, "%-9s the register's CPU time: %.2f ms per receipt\n", "", m.CPUPerDoc)
		if m.DriveLimitPerS > 0 {
			fmt.Fprintf(w, "%-9s the drive allows %.2f receipts/s (1 ÷ its signing time): %.1f %% of it\n", "", m.DriveLimitPerS, 100*m.ReceiptsPerS/m.DriveLimitPerS)
		}
		if m.RSSPeakMiB > 0 {
			fmt.Fprintf(w, "%-9s at the end: RSS %.1f MiB = %.1f anonymous (heap, stacks, runtime) + %.1f file-backed (%.1f binary, %.1f bbolt maps); PSS %.1f\n", "", m.RSSEndMiB, m.RSSAnonMiB, m.RSSFileMiB, m.RSSBinaryMiB, m.RSSDBMiB, m.PSSEndMiB)
			fmt.Fprintf(w, "%-9s a quiet second later: RSS %.1f MiB, of which bbolt maps %.1f\n", "", m.RSSQuietMiB, m.RSSQuietDBMiB)
		}
		if m.FsyncsPerFile != nil {
			fmt.Fprintf(w, "%-9s fsyncs per receipt %.2f: %v\n", "", m.FsyncsPerDoc, m.FsyncsPerFile)
		}
	}
	fmt.Fprintf(w, "fsync rate of this disk: %.0f/s; durable receipts/s ÷ fsync/s = %.3f\n", r.FsyncPerS, r.DurablePerSync)
	fmt.Fprintf(w, "cold start to ready: %.1f ms (fresh data dir), %.1f ms (restart)\n", r.ColdStartMS, r.RestartMS)
	archs := make([]string, 0, len(r.BinaryBytes))
	for a := range r.BinaryBytes {
		archs = append(archs, a)
	}
	slices.Sort(archs)
	for _, a := range archs {
		fmt.Fprintf(w, "binary %-6s %9d bytes (%.2f MiB)\n", a, r.BinaryBytes[a], float64(r.BinaryBytes[a])/(1<<20))
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
)

// fleetResult is one fleet run: the cloud's nodes serving many registers.
type fleetResult struct {
	Store       string  `json:"store"` // bbolt or postgres
	Nodes       int     `json:"nodes"`
	Registers   int     `json:"registers"`
	Documents   int     `json:"documents"`
	Shops       int     `json:"shops"`
	DocsPerS    float64 `json:"docs_per_s"`
	P50         float64 `json:"p50_ms"` // POST → the shop's callback (COMPLETED)
	P99         float64 `json:"p99_ms"`
	Max         float64 `json:"max_ms"`
	CPUPerDocMS float64 `json:"cloud_cpu_per_doc_ms"` // all nodes' CPU time over the documents
	RSSPeakMiB  float64 `json:"cloud_rss_peak_mib"`   // the largest node's
	LeaseP50    float64 `json:"lease_p50_ms"`         // a register's lease request that brought documents
	Errors      int     `json:"errors"`
	WallS       float64 `json:"wall_s"`
}

type fleetNode struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

// runFleet measures the cloud alone with many registers: `kassa cloud` nodes
// (one on bbolt, or several on one PostgreSQL), registers provisioned through
// the admin API, each long-polling with its own token from a node of its
// own, and shops posting to every node in turn and waiting for their
// callbacks. The registers answer at once with made-up fiscal data: what is
// measured is the cloud.
func runFleet(args []string) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	bin := fs.String("kassa", "kassa", "the kassa binary (full build)")
	registers := fs.Int("registers", 1000, "registers, each with its own point and token, long-polling")
	n := fs.Int("n", 10000, "documents to post")
	shops := fs.Int("c", 64, "concurrent shop clients, one document in flight each")
	nodes := fs.Int("nodes", 1, "cloud nodes (more than one needs -db)")
	db := fs.String("db", "", "postgres://… DSN the nodes share, or auto: a throwaway PostgreSQL cluster of its own (durable: fsync on); none: bbolt (one node)")
	out := fs.String("out", "", "write the JSON result here too")
	asJSON := fs.Bool("json", false, "print only the JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes > 1 && *db == "" {
		return errors.New("-nodes > 1 needs -db: bbolt serves one node")
	}
	root, err := os.MkdirTemp("", "kassa-fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	logf := func(format string, a ...any) {
		if !*asJSON {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}
	if *db == "auto" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		pg, err := pgtest.Start(ctx, true)
		cancel()
		if err != nil {
			return fmt.Errorf("-db auto: %w", err)
		}
		defer pg.Stop()
		if *db, err = pg.Database("fleet"); err != nil {
			return err
		}
	}
	token := fmt.Sprintf("fleet-admin-%016x%016x", rand.Uint64(), rand.Uint64())
	tokenFile := filepath.Join(root, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return err
	}
	var ns []*fleetNode
	defer func() {
		for _, nd := range ns {
			nd.stop()
		}
	}()
	for i := range *nodes {
		nd, err := startFleetNode(*bin, filepath.Join(root, fmt.Sprint("node", i)), *db, tokenFile)
		if err != nil {
			return err
		}
		ns = append(ns, nd)
	}
	logf("fleet: %d node(s) on %s; provisioning %d registers…", len(ns), storeName(*db), *registers)
	pts, err := provision(ns[0].url, token, *registers)
	if err != nil {
		return err
	}
	cb, err := listenCallbacks()
	if err != nil {
		return err
	}
	defer cb.close()

	ctx, cancel := context.WithCancel(context.Background())
	var leaseLat latencies
	var wg sync.WaitGroup
	for i, p := range pts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runFleetRegister(ctx, cloud.NewClient(ns[i%len(ns)].url, p.token, fleetHTTP), i, &leaseLat)
		}()
	}
	time.Sleep(time.Second) // every register waiting in its long-poll

	cpu0, err := nodesCPU(ns)
	if err != nil {
		cancel()
		return err
	}
	res := fleetResult{Store: storeName(*db), Nodes: len(ns), Registers: len(pts), Shops: *shops}
	start := time.Now()
	lat, errs, firstErr := fleetPost(ns, pts, cb, *n, *shops)
	res.WallS = time.Since(start).Seconds()
	cpu1, err := nodesCPU(ns)
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	if len(lat) == 0 {
		return fmt.Errorf("no document completed: %v", firstErr)
	}
	if firstErr != nil {
		logf("fleet: %d errors, the first: %v", errs, firstErr)
	}
	slices.Sort(lat)
	res.Documents, res.Errors = len(lat), errs
	res.DocsPerS = float64(len(lat)) / res.WallS
	res.P50, res.P99, res.Max = quantile(lat, .50), quantile(lat, .99), lat[len(lat)-1]
	res.CPUPerDocMS = ms(cpu1-cpu0) / float64(len(lat))
	res.LeaseP50 = leaseLat.quantile(.50)
	for _, nd := range ns {
		st, err := procStatus(nd.cmd.Process.Pid)
		if err != nil {
			return err
		}
		res.RSSPeakMiB = max(res.RSSPeakMiB, float64(st["VmHWM"])/1024)
	}
	b, _ := json.MarshalIndent(res, "", "  ")
	if *out != "" {
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *asJSON {
		fmt.Println(string(b))
		return nil
	}
	fmt.Printf("%-8s %5s %9s %9s %8s %8s %8s %8s %12s %9s %6s\n", "store", "nodes", "registers", "documents", "docs/s", "p50 ms", "p99 ms", "lease ms", "CPU ms/doc", "RSS MiB", "errors")
	fmt.Printf("%-8s %5d %9d %9d %8.1f %8.1f %8.1f %8.1f %12.3f %9.1f %6d\n", res.Store, res.Nodes, res.Registers, res.Documents,
		res.DocsPerS, res.P50, res.P99, res.LeaseP50, res.CPUPerDocMS, res.RSSPeakMiB, res.Errors)
	return nil
}

func storeName(db string) string {
	if db == "" {
		return "bbolt"
	}
	return "postgres"
}

// fleetHTTP is the registers' and shops' transport: enough idle connections
// for every register's long-poll.
var fleetHTTP = &http.Client{
	Transport: &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096, IdleConnTimeout: time.Minute},
	Timeout:   time.Minute,
}

// startFleetNode starts one `kassa cloud` with the admin API on, on a free
// loopback port, and waits until it answers.
func startFleetNode(bin, dir, db, tokenFile string) (*fleetNode, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	args := []string{"cloud", "--addr", addr, "--data", dir, "--admin-token-file", tokenFile, "--log", "warn"}
	if db != "" {
		args = append(args, "--db", db)
	}
	lf, err := os.Create(filepath.Join(dir, "cloud.log"))
	if err != nil {
		return nil, err
	}
	nd := &fleetNode{cmd: exec.Command(bin, args...), url: "http://" + addr, done: make(chan struct{})}
	nd.cmd.Stdout, nd.cmd.Stderr = lf, lf
	if err := nd.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting kassa cloud: %w", err)
	}
	go func() { nd.cmd.Wait(); lf.Close(); close(nd.done) }()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-nd.done:
			return nil, fmt.Errorf("kassa cloud exited at start; its log is %s", filepath.Join(dir, "cloud.log"))
		default:
		}
		if resp, err := http.Get(nd.url + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nd, nil
			}
		}
	}
	nd.stop()
	return nil, fmt.Errorf("kassa cloud not ready within 30 s; its log is %s", filepath.Join(dir, "cloud.log"))
}

func (nd *fleetNode) stop() {
	nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.done:
	case <-time.After(10 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.done
	}
}

func nodesCPU(ns []*fleetNode) (time.Duration, error) {
	var sum time.Duration
	for _, nd := range ns {
		c, err := procCPU(nd.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// fleetPoint is one provisioned point: its shop pair and its register's token.
type fleetPoint struct {
	id, login, password, token string
}

// provision creates an account, then per register a point, its shop pair and
// its register's token, through the admin API.
func provision(base, token string, n int) ([]fleetPoint, error) {
	admin := func(path string, in, out any) error {
		b, _ := json.Marshal(in)
		req, _ := http.NewRequest("POST", base+"/api/admin/v1"+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := fleetHTTP.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			var e cloud.APIError
			json.NewDecoder(resp.Body).Decode(&e)
			return fmt.Errorf("POST %s: HTTP %d: %s %s", path, resp.StatusCode, e.Field, e.Message)
		}
		return json.NewDecoder(resp.Body).Decode(out)
	}
	var acc struct{ Login string }
	if err := admin("/accounts", map[string]any{"login": "fleet", "password": "fleet-bench-password"}, &acc); err != nil {
		return nil, err
	}
	pts := make([]fleetPoint, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				var p struct{ ID string }
				err := admin("/points", map[string]any{"account": "fleet", "name": fmt.Sprintf("Магазин %d", i+1),
					"inn": "7707083893", "address": fmt.Sprintf("г. Москва, ул. Тверская, д. %d", i+1),
					"place": "https://shop.example", "email": "receipts@shop.example", "taxSystems": []string{"SIMPLIFIED"}}, &p)
				var pair struct{ Login, Password string }
				if err == nil {
					err = admin("/points/"+p.ID+"/shop-logins", map[string]any{}, &pair)
				}
				var reg struct{ Token string }
				if err == nil {
					err = admin("/points/"+p.ID+"/register", map[string]any{}, &reg)
				}
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				pts[i] = fleetPoint{id: p.ID, login: pair.Login, password: pair.Password, token: reg.Token}
			}
		}()
	}
	wg.Wait()
	return pts, firstErr
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	ms []float64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.ms = append(l.ms, ms(d))
	l.mu.Unlock()
}

func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ms) == 0 {
		return 0
	}
	s := slices.Clone(l.ms)
	slices.Sort(s)
	return quantile(s, q)
}

// runFleetRegister long-polls as a register until ctx ends, answering every
// document at once as printed, with fiscal data numbered from FD 10.
func runFleetRegister(ctx context.Context, c *cloud.Client, i int, lat *latencies) {
	fd := 10
	for ctx.Err() == nil {
		t0 := time.Now()
		leases, err := c.Lease(ctx, 25*time.Second, 32)
		if err != nil {
			if ctx.Err() == nil {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		if len(leases) == 0 {
			continue
		}
		lat.add(time.Since(t0))
		results := make([]cloud.Result, len(leases))
		for j, l := range leases {
			fd++
			results[j] = cloud.Result{ID: l.ID, Status: cloud.Printed, FiscalInfo: &cloud.FiscalInfo{
				ShiftNumber: 1, CheckNumber: fd - 10, KKTNumber: fmt.Sprintf("%016d", i), FNNumber: fmt.Sprintf("99990789%08d", i),
				FNDocNumber: fd, FNDocMark: 1234567890, Date: time.Now().UTC().Truncate(time.Second), Sum: 10000, CheckType: "SALE",
				QR: "t=20261206T1200&s=100.00&fn=9999078900000001&i=11&fp=1234567890&n=1", ECRRegistrationNumber: "0000000001012345"}}
		}
		for ctx.Err() == nil {
			if err := c.Report(ctx, results); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// fleetPost posts n documents from workers goroutines, each to the next point
// through the next node, and waits for each one's callback.
func fleetPost(ns []*fleetNode, pts []fleetPoint, cb *callbacks, n, workers int) (lat []float64, errs int, firstErr error) {
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	shops := make([][]*shop, len(ns))
	for i, nd := range ns {
		for _, p := range pts {
			shops[i] = append(shops[i], &shop{base: nd.url, login: p.login, password: p.password, hc: fleetHTTP})
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	run := rng.Uint64()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := int(next.Add(1) - 1); k < n; k = int(next.Add(1) - 1) {
				s := shops[k%len(ns)][k%len(pts)]
				id := fmt.Sprintf("fleet-%x-%d", run, k)
				d, _ := newDoc(rand.New(rand.NewPCG(uint64(k), run)), id)
				var done <-chan struct{}
				d.ResponseURL, done = cb.expect(id)
				t0 := time.Now()
				err := s.post(d)
				if err == nil {
					select {
					case <-done:
					case <-time.After(time.Minute):
						err = fmt.Errorf("%s: no callback within a minute", id)
					}
				}
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					lat = append(lat, ms(time.Since(t0)))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, errs, firstErr
}

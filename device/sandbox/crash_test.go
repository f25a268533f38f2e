package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/store"
)

// TestMain lets the crash test re-execute this binary as `kassa run`.
func TestMain(m *testing.M) {
	if dir := os.Getenv("KASSA_TEST_CHILD"); dir != "" {
		os.Exit(runChild(dir))
	}
	os.Exit(m.Run())
}

func runChild(dir string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	f, _ := os.OpenFile(filepath.Join(dir, "child.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	s := device.Settings{Data: dir}
	s.Cloud.Addr, s.OFD.Addr, s.OFD.LookupAddr = os.Getenv("KASSA_CLOUD"), os.Getenv("KASSA_OFD"), os.Getenv("KASSA_LOOKUP")
	s.Cloud.PollInterval = device.Duration{Duration: 50 * time.Millisecond}
	app, err := Start(ctx, s, "0.1.0", slog.New(slog.NewTextHandler(f, nil)))
	if err != nil {
		fmt.Fprintln(f, "start:", err)
		return 1
	}
	app.Wait(ctx)
	return 0
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type child struct {
	t    *testing.T
	dir  string
	env  []string
	cmd  *exec.Cmd
	done chan struct{}
}

func (c *child) start() {
	c.t.Helper()
	c.cmd = exec.Command(os.Args[0])
	c.cmd.Env = append(os.Environ(), c.env...)
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.done = make(chan struct{})
	go func() { c.cmd.Wait(); close(c.done) }()
}

func (c *child) kill() {
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

func TestCrashRecoveryUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	cycles, docs := 8, 60
	if v, err := strconv.Atoi(os.Getenv("KASSA_CRASH_CYCLES")); err == nil {
		cycles, docs = v, v*8
	}
	dir := t.TempDir()
	cloudAddr := freePort(t)
	c := &child{t: t, dir: dir, env: []string{"KASSA_TEST_CHILD=" + dir, "KASSA_CLOUD=" + cloudAddr,
		"KASSA_OFD=" + freePort(t), "KASSA_LOOKUP=" + freePort(t)}}
	c.start()
	var sb File
	devicetest.WaitFor(t, "sandbox.json", 20*time.Second, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "sandbox.json"))
		return err == nil && json.Unmarshal(b, &sb) == nil
	})

	// The shop posts a stream of documents, retrying each until the cloud takes it.
	rng := rand.New(rand.NewPCG(1, 2))
	want := map[string]int64{}
	var posting sync.WaitGroup
	posting.Add(1)
	ids := make([]string, docs)
	for i := range ids {
		ids[i] = fmt.Sprintf("crash-%04d", i)
		want[ids[i]] = int64(100 + i)
	}
	go func() {
		defer posting.Done()
		for i, id := range ids {
			pay := "CARD"
			if i%3 == 0 {
				pay = "CASH"
			}
			doc := devicetest.Sale(id, "SALE", pay, float64(want[id])/100)
			for !postQuiet(sb.Cloud, sb.Login, sb.Password, doc) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	for i := 0; i < cycles; i++ {
		time.Sleep(time.Duration(30+rng.IntN(250)) * time.Millisecond)
		c.kill()
		c.start()
	}
	posting.Wait()

	// Everything ends COMPLETED, each document exactly once.
	fds := map[string]int{}
	var last string
	for deadline := time.Now().Add(60 * time.Second); len(fds) < len(ids); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			logTail, _ := os.ReadFile(filepath.Join(dir, "child.log"))
			if len(logTail) > 4000 {
				logTail = logTail[len(logTail)-4000:]
			}
			t.Fatalf("not every document COMPLETED: %s\nthe register's log ends:\n%s", last, logTail)
		}
		for _, id := range ids {
			if _, ok := fds[id]; ok {
				continue
			}
			st, ok := statusQuiet(sb.Cloud, sb.Login, sb.Password, id)
			if !ok || st.Status != cloud.Completed {
				last = fmt.Sprintf("%s is %s %s", id, st.Status, st.Message)
				break
			}
			fds[id] = st.FiscalInfo.FNDocNumber
		}
	}
	t0 := time.Now()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.kill()
		t.Fatal("no clean exit within 10 s of SIGTERM")
	}
	t.Logf("%d kill -9 cycles, %d documents; clean shutdown took %v", cycles, docs, time.Since(t0).Round(time.Millisecond))

	em, err := fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(dir, "fn")})
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	ctx := context.Background()
	st, err := em.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signedFor := map[string]uint32{}
	var total int64
	for fd := uint32(1); fd <= st.LastFD; fd++ {
		a, err := em.Document(ctx, fd)
		if err != nil {
			t.Fatalf("the drive's archive has a gap at FD %d: %v", fd, err)
		}
		if _, err := fiscal.VerifyFiscalSign(em.Key(), a.TLV); err != nil {
			t.Fatalf("FD %d: %v", fd, err)
		}
		if a.Type != fiscal.DocReceipt {
			continue
		}
		id, sum, err := device.ReceiptOf(a.TLV)
		if err != nil {
			t.Fatal(err)
		}
		if prev, dup := signedFor[id]; dup {
			t.Fatalf("%q fiscalized twice: FD %d and FD %d", id, prev, fd)
		}
		signedFor[id] = fd
		total += int64(sum)
	}
	var wantTotal int64
	for _, id := range ids {
		if signedFor[id] == 0 || int(signedFor[id]) != fds[id] {
			t.Fatalf("%q: drive FD %d, the shop was told FD %d", id, signedFor[id], fds[id])
		}
		wantTotal += want[id]
	}
	if len(signedFor) != len(ids) || total != wantTotal {
		t.Fatalf("the drive holds %d receipts totalling %d; %d documents totalling %d were posted", len(signedFor), total, len(ids), wantTotal)
	}
	s, err := store.Open(filepath.Join(dir, "kassa.db"), store.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	l, _ := s.Ledger()
	var sum int64
	for _, v := range l.Cumulative.Sum {
		sum += v
	}
	if sum != wantTotal || l.LastFD != st.LastFD {
		t.Fatalf("ledger: cumulative %d (want %d), last FD %d (drive %d)", sum, wantTotal, l.LastFD, st.LastFD)
	}
}

func postQuiet(base, login, password string, doc map[string]any) bool {
	b, _ := json.Marshal(doc)
	req, _ := newJSONRequest("POST", base+"/api/fn/v2/doc", b)
	req.SetBasicAuth(login, password)
	resp, err := quickClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == 200
}

func statusQuiet(base, login, password, id string) (cloud.DocumentStatus, bool) {
	var st cloud.DocumentStatus
	req, _ := newJSONRequest("GET", base+"/api/fn/v1/doc/"+id+"/status", nil)
	req.SetBasicAuth(login, password)
	resp, err := quickClient.Do(req)
	if err != nil {
		return st, false
	}
	defer resp.Body.Close()
	return st, resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&st) == nil
}

// quickClient gives up on a cloud that a crash left without an answer.
var quickClient = &http.Client{Timeout: 5 * time.Second}

func newJSONRequest(method, url string, body []byte) (*http.Request, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, err
}

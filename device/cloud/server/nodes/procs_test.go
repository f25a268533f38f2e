//go:build linux

package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/server"
)

// buildKassa builds cmd/kassa into a directory of t's and returns the
// binary; it skips t under -short or where no go command is at hand.
func buildKassa(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the multi-node test builds kassa and runs it as processes")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build kassa with: the multi-node test runs kassa as processes")
	}
	bin := filepath.Join(t.TempDir(), "kassa")
	cmd := exec.Command(gobin, "build", "-o", bin, "github.com/openkassa/kassa/cmd/kassa")
	// For this machine, also when the tests run for another architecture.
	for _, e := range os.Environ() {
		if name, _, _ := strings.Cut(e, "="); name != "GOARCH" && name != "GOARM" && name != "GOOS" {
			cmd.Env = append(cmd.Env, e)
		}
	}
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/kassa: %v\n%s", err, out)
	}
	t.Logf("built kassa in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// logBuffer keeps what a process writes, for the test's log on failure.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a kassa process the test started.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logBuffer    // its stderr, and its stdout past what the test read
	done chan struct{} // closed once it has exited and been waited for
	err  error         // cmd.Wait's, once done is closed
}

// startProc starts bin with args; stdout, when not nil, gets the process's
// standard output. The process is killed (SIGKILL) when t ends, and dies with
// the test binary should that be killed first. On failure its output goes to
// t's log.
func startProc(t *testing.T, name, bin string, stdout io.Writer, args ...string) *proc {
	t.Helper()
	p, err := launchProc(t, name, bin, stdout, args...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launchProc is startProc for any goroutine: it returns what went wrong.
func launchProc(t *testing.T, name, bin string, stdout io.Writer, args ...string) (*proc, error) {
	p := &proc{name: name, out: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = envWithout("KASSA_DATA", "KASSA_CLOUD_DB")
	p.cmd.Stderr = p.out
	p.cmd.Stdout = p.out
	if stdout != nil {
		p.cmd.Stdout = stdout
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s (kassa %s), its output:\n%s", name, strings.Join(args, " "), tail(p.out.String(), 6000))
		}
	})
	return p, nil
}

// kill sends SIGKILL and waits for the process's end.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

func envWithout(names ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		name, _, _ := strings.Cut(e, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			env = append(env, e)
		}
	}
	return env
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// credentials is what kassa cloud prints on standard output once it listens.
type credentials struct {
	Cloud string `json:"cloud"`
	server.Sandbox
}

// cloudNode is one kassa cloud process.
type cloudNode struct {
	*proc
	url   string
	creds credentials
}

// startCloud starts kassa cloud on a free loopback port, with a data
// directory of its own, on the PostgreSQL database dsn, and waits for the
// credentials it prints once it listens.
func startCloud(t *testing.T, bin, name, dsn string) *cloudNode {
	t.Helper()
	n, err := launchCloud(t, bin, name, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// launchCloud is startCloud for any goroutine: it returns what went wrong.
func launchCloud(t *testing.T, bin, name, dsn string) (*cloudNode, error) {
	pr, pw := io.Pipe()
	p, err := launchProc(t, "node "+name, bin, pw, "cloud", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--db", dsn, "--log", "warn")
	if err != nil {
		return nil, err
	}
	got := make(chan credentials, 1)
	bad := make(chan error, 1)
	go func() {
		dec := json.NewDecoder(pr)
		var c credentials
		if err := dec.Decode(&c); err != nil {
			bad <- err
		} else {
			got <- c
		}
		// Drain the rest, so the process never blocks on its stdout.
		io.Copy(p.out, io.MultiReader(dec.Buffered(), pr))
	}()
	go func() { <-p.done; pw.Close() }()
	select {
	case c := <-got:
		if c.Cloud == "" {
			return nil, fmt.Errorf("%s printed credentials without its URL: %+v", p.name, c)
		}
		return &cloudNode{proc: p, url: c.Cloud, creds: c}, nil
	case err := <-bad:
		<-p.done
		return nil, fmt.Errorf("%s printed no credentials (%v); exit: %v\n%s", p.name, err, p.err, tail(p.out.String(), 4000))
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%s printed no credentials in 30 s\n%s", p.name, tail(p.out.String(), 4000))
	}
}

// awaitReady waits for GET /readyz to answer 200: the node's store answers.
func (n *cloudNode) awaitReady(t *testing.T) time.Duration {
	t.Helper()
	start := time.Now()
	hc := &http.Client{Timeout: 5 * time.Second}
	var last string
	for deadline := start.Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if done, err := n.exited(); done {
			t.Fatalf("%s exited before it was ready: %v", n.name, err)
		}
		resp, err := hc.Get(n.url + "/readyz")
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return time.Since(start)
		}
		last = fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	t.Fatalf("%s: GET /readyz not 200 within 30 s: %s", n.name, last)
	return 0
}

// registerProc is the kassa run process and its data directory.
type registerProc struct {
	*proc
	bin, dir string

	mu   sync.Mutex
	docs map[int]driveDoc // the drive's archive as read so far, by FD
}

// driveDoc is what the test reads of one document in the drive's archive.
type driveDoc struct {
	FD       int `json:"fd"`
	Document struct {
		Type int    `json:"type"`
		Name string `json:"name"`
	} `json:"document"`
}

// receiptType is the fiscal document type of a receipt (кассовый чек, FFD 1.05).
const receiptType = 3

// health is the part of `kassa status --json` the test reads.
type health struct {
	CloudReachable bool `json:"cloudReachable"`
	Drive          struct {
		Phase     string `json:"phase"`
		Number    string `json:"number"`
		RegNumber string `json:"regNumber"`
		LastFD    int    `json:"lastFd"`
	} `json:"drive"`
	WaitingForDrive int  `json:"waitingForDrive"`
	Stopped         bool `json:"stopped"`
}

// startRegister starts kassa run serving the cloud at cloudURL with token;
// the drive, printer and OFD stay the sandbox's emulators, on free ports.
func startRegister(t *testing.T, bin, cloudURL, token string) *registerProc {
	t.Helper()
	dir := t.TempDir()
	settings, err := json.Marshal(map[string]any{
		"cloud": map[string]any{"url": cloudURL, "token": token, "pollInterval": "200ms"},
	})
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "settings.json")
	if err := os.WriteFile(config, settings, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "var")
	p := startProc(t, "register", bin, nil, "run", "--config", config, "--data", data, "--log", "info",
		"--ofd-addr", "127.0.0.1:0", "--lookup-addr", "127.0.0.1:0", "--cloud-addr", "127.0.0.1:0")
	return &registerProc{proc: p, bin: bin, dir: data, docs: map[int]driveDoc{}}
}

// console runs a one-shot console command (kassa status, kassa doc …)
// against the running register and returns its standard output.
func (r *registerProc) console(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin, append(args, "--data", r.dir)...)
	cmd.Env = envWithout("KASSA_DATA")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kassa %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func (r *registerProc) health() (health, error) {
	var h health
	out, err := r.console("status", "--json")
	if err != nil {
		return h, err
	}
	return h, json.Unmarshal(out, &h)
}

// awaitReady waits until the register answers on its console with its drive
// registered (fiscal phase) and the cloud reachable.
func (r *registerProc) awaitReady(t *testing.T) health {
	t.Helper()
	var last string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if done, err := r.exited(); done {
			t.Fatalf("the register exited at its start: %v", err)
		}
		h, err := r.health()
		switch {
		case err != nil:
			last = err.Error()
		case h.Drive.Phase != "fiscal" || !h.CloudReachable:
			last = fmt.Sprintf("drive phase %q, cloud reachable %v", h.Drive.Phase, h.CloudReachable)
		default:
			return h
		}
	}
	t.Fatalf("the register was not ready within 30 s: %s", last)
	return health{}
}

// receipts reads the drive's archive up to its last document and returns
// the FDs of its receipts. An archive's document never changes, so each is
// read once.
func (r *registerProc) receipts(t *testing.T) map[int]bool {
	t.Helper()
	h, err := r.health()
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for fd := 1; fd <= h.Drive.LastFD; fd++ {
		if _, ok := r.docs[fd]; ok {
			continue
		}
		out, err := r.console("doc", fmt.Sprint(fd))
		if err != nil {
			t.Fatal(err)
		}
		var d driveDoc
		if err := json.Unmarshal(out, &d); err != nil {
			t.Fatalf("kassa doc %d: %v\n%s", fd, err, out)
		}
		if d.FD != fd {
			t.Fatalf("kassa doc %d answered FD %d", fd, d.FD)
		}
		r.docs[fd] = d
	}
	out := map[int]bool{}
	for fd, d := range r.docs {
		if d.Document.Type == receiptType {
			out[fd] = true
		}
	}
	return out
}

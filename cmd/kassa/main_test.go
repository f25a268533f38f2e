package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// runMainEnv makes the test binary run main() instead of the tests: where no Go
// toolchain is at hand (the QEMU board of scripts/qemu-dates) the tests run
// the test binary itself as kassa. A kassa binary ignores it.
const runMainEnv = "KASSA_TEST_RUN_MAIN=1"

// kassaBinary builds cmd/kassa once for the tests that run it as a user would,
// or, with no Go toolchain on the machine, returns the test binary itself.
func kassaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if _, err := exec.LookPath("go"); err != nil {
			binPath = os.Args[0]
			return
		}
		dir, err := os.MkdirTemp("", "kassa-cli")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "kassa")
		// For this machine, also when the tests themselves run for another
		// architecture under qemu-user (scripts/qemu-test sets GOARCH).
		build := exec.Command("go", "build", "-o", binPath, ".")
		for _, e := range os.Environ() {
			if name, _, _ := strings.Cut(e, "="); name != "GOARCH" && name != "GOARM" && name != "GOOS" {
				build.Env = append(build.Env, e)
			}
		}
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("building kassa: %v", buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	if os.Getenv("KASSA_TEST_RUN_MAIN") == "1" {
		os.Unsetenv("KASSA_TEST_RUN_MAIN")
		main()
		os.Exit(0)
	}
	code := m.Run()
	if binPath != "" && binPath != os.Args[0] {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type run struct {
	stdout, stderr string
	code           int
}

// kassa runs the binary in dir with $KASSA_DATA unset (unless env sets it).
func kassa(t *testing.T, dir string, env []string, args ...string) run {
	t.Helper()
	cmd := exec.Command(kassaBinary(t), args...)
	cmd.Dir = dir
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "KASSA_DATA=") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, runMainEnv)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return run{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// entries lists what dir holds, so a test can tell that help wrote nothing.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// Help is asked for in every way Go and Unix users ask; it answers on standard
// output with status 0, names --data and $KASSA_DATA, and touches nothing: no
// data directory made, no socket dialled, no port taken.
func TestHelpEverywhere(t *testing.T) {
	dir := t.TempDir()
	top := [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}, {"help", "help"}, {"--data", "elsewhere", "--help"}}
	for _, args := range top {
		r := kassa(t, dir, nil, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "usage: kassa") || !strings.Contains(r.stdout, "status") ||
			!strings.Contains(r.stdout, "--data DIR") || !strings.Contains(r.stdout, "$KASSA_DATA") {
			t.Errorf("kassa %s: status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	for name := range commands {
		for _, args := range [][]string{{"help", name}, {name, "-h"}, {name, "--help"}, {"--data", "x", name, "-help"}} {
			r := kassa(t, dir, nil, args...)
			if r.code != 0 || !strings.Contains(r.stdout, "usage") && !strings.Contains(r.stdout, "Usage") ||
				!strings.Contains(r.stdout, "--data DIR") || !strings.Contains(r.stdout, "$KASSA_DATA") {
				t.Errorf("kassa %s: status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr, "kassa.sock") || strings.Contains(r.stderr, "connect") {
				t.Errorf("kassa %s tried the socket: %s", strings.Join(args, " "), r.stderr)
			}
		}
	}
	// Help after the command's own arguments, and after flags it does not know.
	for _, args := range [][]string{{"cash", "in", "12", "-h"}, {"tlv", "decode", "-h"}, {"db", "check", "--help"}, {"run", "--bogus", "-h"}} {
		if r := kassa(t, dir, nil, args...); r.code != 0 || !strings.Contains(r.stdout, "usage: kassa") || !strings.Contains(r.stdout, args[0]) {
			t.Errorf("kassa %s: status %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Fatalf("help left %v in the working directory", got)
	}
}

func TestVersionAndMistakes(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}, {"--data", dir, "version"}} {
		if r := kassa(t, dir, nil, args...); r.code != 0 || r.stdout != "kassa "+version+"\n" {
			t.Errorf("kassa %s: status %d, %q %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "usage: kassa"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"--bogus", "status"}, "unknown flag --bogus"},
		{[]string{"--data"}, "--data needs a directory"},
	} {
		if r := kassa(t, dir, nil, c.args...); r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("kassa %s: status %d, stderr %q; want 2 and %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

// --data before or after the command, --data=DIR, and $KASSA_DATA all lead the
// console commands to DIR/kassa.sock; the flag wins over the environment.
func TestConsoleDataDirectory(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	sock := filepath.Join(data, "kassa.sock")
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"--data", data, "status"}},
		{nil, []string{"--data=" + data, "status"}},
		{nil, []string{"status", "--data", data}},
		{nil, []string{"status", "--json", "--data=" + data}},
		{[]string{"KASSA_DATA=" + data}, []string{"status"}},
		{[]string{"KASSA_DATA=/nonexistent"}, []string{"status", "--data", data}},
	} {
		r := kassa(t, dir, c.env, c.args...)
		if r.code != 1 || !strings.Contains(r.stderr, sock) {
			t.Errorf("%v kassa %s: status %d, stderr %q; want the socket %s", c.env, strings.Join(c.args, " "), r.code, r.stderr, sock)
		}
	}
}

// With nothing said, the data directory is ./var if it exists, else the
// installed one if that exists, else ./var.
func TestDataDirDefault(t *testing.T) {
	t.Setenv("KASSA_DATA", "")
	installed := filepath.Join(t.TempDir(), "lib-kassa")
	old := installedData
	installedData = installed
	t.Cleanup(func() { installedData = old })
	t.Chdir(t.TempDir())
	if got := dataDir(""); got != "var" {
		t.Errorf("nothing exists: %q", got)
	}
	os.Mkdir(installed, 0o700)
	if got := dataDir(""); got != installed {
		t.Errorf("installed exists: %q", got)
	}
	os.Mkdir("var", 0o700)
	if got := dataDir(""); got != "var" {
		t.Errorf("./var and installed exist: %q", got)
	}
	t.Setenv("KASSA_DATA", "/env")
	if got := dataDir(""); got != "/env" {
		t.Errorf("$KASSA_DATA: %q", got)
	}
	if got := dataDir("/flag"); got != "/flag" {
		t.Errorf("--data: %q", got)
	}
	sock, rest := socketPath([]string{"--failed", "--data", "/d", "x"})
	if sock != "/d/kassa.sock" || strings.Join(rest, " ") != "--failed x" {
		t.Errorf("socketPath: %q %q", sock, rest)
	}
}

// TestRunUnderSystemd: kassa run as the unit runs it, under a service
// manager (a real unixgram socket as $NOTIFY_SOCKET, a watchdog in
// $WATCHDOG_USEC), says READY=1 once it serves and feeds the watchdog; its
// metrics endpoint answers; it says STOPPING=1 on SIGTERM; and with
// --log-format json every line it logs is a JSON record.
func TestRunUnderSystemd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cmd := exec.Command(kassaBinary(t), "run", "--data", filepath.Join(dir, "var"), "--log-format", "json",
		"--metrics-addr", "127.0.0.1:0",
		"--cloud-addr", "127.0.0.1:0", "--ofd-addr", "127.0.0.1:0", "--lookup-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+path, "WATCHDOG_USEC=400000", runMainEnv)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// A safety net, not a measure: a register that never says what the test
	// waits for is killed, which ends the waits below in a failure, not a hang.
	guard := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill(); conn.Close() })
	defer guard.Stop()
	records := make(chan map[string]any, 1024)
	go func() {
		defer close(records)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil || m["msg"] == nil || m["level"] == nil {
				m = map[string]any{"not JSON": sc.Text()}
			}
			records <- m
		}
	}()
	var seen []map[string]any
	record := func(msg string) map[string]any {
		t.Helper()
		for m := range records {
			seen = append(seen, m)
			if m["msg"] == msg {
				return m
			}
		}
		t.Fatalf("no %q in the log: %v", msg, seen)
		return nil
	}
	buf := make([]byte, 4096)
	next := func() string {
		t.Helper()
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}

	if m := next(); !strings.HasPrefix(m, "READY=1\n") {
		t.Fatalf("first message %q; want READY=1", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "var", "sandbox.json")); err != nil {
		t.Fatalf("READY=1 before the sandbox is written: %v", err)
	}
	url, _ := record("metrics served")["metrics"].(string)
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "\nkassa_documents_waiting_for_drive 0\n") {
		t.Fatalf("GET %s: %d\n%s", url, resp.StatusCode, body)
	}
	for m := next(); !strings.HasPrefix(m, "WATCHDOG=1\n"); m = next() {
	}
	cmd.Process.Signal(syscall.SIGTERM)
	for m := next(); !strings.HasPrefix(m, "STOPPING=1\n"); m = next() {
	}
	record("register stopped")
	for m := range records {
		seen = append(seen, m)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("kassa run: %v", err)
	}
	for _, m := range seen {
		if l, bad := m["not JSON"]; bad {
			t.Errorf("log line %q is not a JSON record", l)
		}
	}
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// register is one `kassa run` process on fixed loopback ports, so that the shop's
// base URL stays valid across kills and restarts.
type register struct {
	bin, data string
	args      []string // after `run`
	logPath   string

	cmd  *exec.Cmd
	done chan struct{}
	sb   sandboxFile
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// newRegister picks the ports once; extra are more `kassa run` flags.
func newRegister(bin, root string, extra ...string) (*register, error) {
	var addrs [3]string
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	data := filepath.Join(root, "data")
	if err := os.MkdirAll(data, 0o700); err != nil {
		return nil, err
	}
	args := append([]string{"--data", data, "--cloud-addr", addrs[0], "--ofd-addr", addrs[1], "--lookup-addr", addrs[2], "--log", "warn"}, extra...)
	return &register{bin: bin, data: data, args: args, logPath: filepath.Join(root, "kassa.log")}, nil
}

// start launches the process and returns at once.
func (r *register) start() error {
	os.Remove(filepath.Join(r.data, "sandbox.json"))
	lf, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	r.cmd = exec.Command(r.bin, append([]string{"run"}, r.args...)...)
	r.cmd.Stdout, r.cmd.Stderr = lf, lf
	if err := r.cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("starting %s: %w", r.bin, err)
	}
	r.done = make(chan struct{})
	go func() { r.cmd.Wait(); lf.Close(); close(r.done) }()
	return nil
}

// waitReady polls every millisecond until sandbox.json exists and the console
// answers `status`; it returns how long that took since start.
func (r *register) waitReady(started time.Time, limit time.Duration) (time.Duration, error) {
	sj := filepath.Join(r.data, "sandbox.json")
	for deadline := started.Add(limit); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		select {
		case <-r.done:
			return 0, fmt.Errorf("kassa run exited during start (%s); its log is %s", r.cmd.ProcessState, r.logPath)
		default:
		}
		b, err := os.ReadFile(sj)
		if err != nil || json.Unmarshal(b, &r.sb) != nil {
			continue
		}
		if _, _, err := callConsole(r.sb.Socket, []string{"version"}); err != nil {
			continue
		}
		return time.Since(started), nil
	}
	return 0, fmt.Errorf("kassa run not ready within %v; its log is %s", limit, r.logPath)
}

// startReady starts the register and waits until it is ready.
func (r *register) startReady() (time.Duration, error) {
	t0 := time.Now()
	if err := r.start(); err != nil {
		return 0, err
	}
	return r.waitReady(t0, 30*time.Second)
}

func (r *register) running() bool {
	if r.done == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (r *register) signal(sig syscall.Signal) { r.cmd.Process.Signal(sig) }

// kill is kill -9.
func (r *register) kill() {
	if !r.running() {
		return
	}
	r.signal(syscall.SIGKILL)
	<-r.done
}

// stop is SIGTERM, the clean stop, with 10 s to finish.
func (r *register) stop() (time.Duration, error) {
	if !r.running() {
		return 0, nil
	}
	t0 := time.Now()
	r.signal(syscall.SIGTERM)
	select {
	case <-r.done:
		return time.Since(t0), nil
	case <-time.After(10 * time.Second):
		r.signal(syscall.SIGKILL)
		<-r.done
		return 0, errors.New("kassa run did not stop within 10 s of SIGTERM")
	}
}

// health is `kassa status --json` over the console socket.
func (r *register) health() (health, error) {
	var h health
	out, _, err := callConsole(r.sb.Socket, []string{"status", "--json"})
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		return h, fmt.Errorf("kassa status --json: %w", err)
	}
	return h, nil
}

// console runs one command over the console socket, as `kassa CMD…` does.
func (r *register) console(args ...string) (string, error) {
	out, _, err := callConsole(r.sb.Socket, args)
	return out, err
}

// waitOFD waits until the drive has nothing left for the OFD.
func (r *register) waitOFD(limit time.Duration) (time.Time, error) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		h, err := r.health()
		if err == nil && h.WaitingForOFD == 0 && h.WaitingForDrive == 0 {
			return time.Now(), nil
		}
	}
	return time.Time{}, fmt.Errorf("documents still waiting for the OFD after %v", limit)
}

// sandboxFile is the part of var/sandbox.json the driver uses.
type sandboxFile struct {
	Cloud     string `json:"cloud"`
	Login     string `json:"login"`
	Password  string `json:"password"`
	OFDLookup string `json:"ofdLookup"`
	Socket    string `json:"socket"`
}

// health is the part of `kassa status --json` the driver uses.
type health struct {
	Drive struct {
		Phase    string   `json:"phase"`
		LastFD   uint32   `json:"lastFd"`
		Error    string   `json:"error"`
		Warnings []string `json:"warnings"`
	} `json:"drive"`
	Printer struct {
		State string `json:"state"`
		Paper string `json:"paper"`
	} `json:"printer"`
	WaitingForDrive int    `json:"waitingForDrive"`
	WaitingForOFD   int    `json:"waitingForOfd"`
	OFDReachable    bool   `json:"ofdReachable"`
	Stopped         bool   `json:"stopped"`
	StopReason      string `json:"stopReason"`
}

// callConsole sends one command over the console socket: one JSON request line,
// one JSON answer, as `kassa status` does.
func callConsole(sock string, args []string) (string, []byte, error) {
	conn, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return "", nil, fmt.Errorf("console %s: %w", sock, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if err := json.NewEncoder(conn).Encode(map[string][]string{"args": args}); err != nil {
		return "", nil, fmt.Errorf("console %s: %w", sock, err)
	}
	var ans struct {
		OK     bool   `json:"ok"`
		Output string `json:"output"`
		Data   []byte `json:"data"`
		Error  string `json:"error"`
	}
	if err := json.NewDecoder(conn).Decode(&ans); err != nil {
		return "", nil, fmt.Errorf("console %s %v: reading the answer: %w", sock, args, err)
	}
	if !ans.OK {
		return ans.Output, nil, fmt.Errorf("console %v: %s", args, ans.Error)
	}
	return ans.Output, ans.Data, nil
}

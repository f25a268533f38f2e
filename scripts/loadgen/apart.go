package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// remote is the cloud (`kassa cloud`) and the OFD emulator (`kassa ofd-sim`) as
// processes of their own, with their files under dir: they stand for servers on
// other machines, so the register's process and its disk serve the register
// alone, as on a board. The register is pointed at them by a settings file.
type remote struct {
	cloud     *exec.Cmd
	cloudDone chan struct{}
	ofd       *ofdProc
	sb        sandboxFile
	token     string
}

// startRemote starts both for the register whose data directory is data.
func startRemote(bin, data, dir, logDir string) (*remote, error) {
	m := &remote{}
	bin = ownCopy(bin, dir)
	cloudAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(filepath.Join(logDir, "cloud.log"))
	if err != nil {
		return nil, err
	}
	m.cloud = exec.Command(bin, "cloud", "--addr", cloudAddr, "--data", filepath.Join(dir, "cloud"))
	m.cloud.Stderr = lf
	out, err := m.cloud.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := m.cloud.Start(); err != nil {
		return nil, fmt.Errorf("starting kassa cloud: %w", err)
	}
	m.cloudDone = make(chan struct{})
	var sb struct {
		Cloud         string `json:"cloud"`
		Login         string `json:"login"`
		Password      string `json:"password"`
		RegisterToken string `json:"registerToken"`
	}
	err = json.NewDecoder(out).Decode(&sb)
	go func() { m.cloud.Wait(); lf.Close(); close(m.cloudDone) }()
	if err != nil {
		m.stop()
		return nil, fmt.Errorf("kassa cloud: reading its credentials: %w", err)
	}
	m.sb = sandboxFile{Cloud: sb.Cloud, Login: sb.Login, Password: sb.Password, Socket: filepath.Join(data, "kassa.sock")}
	m.token = sb.RegisterToken

	if m.ofd, err = startOFDSim(bin, data, filepath.Join(dir, "ofd-sim"), filepath.Join(logDir, "ofd-sim.log")); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// settings is the register's settings file pointing at the two.
func (m *remote) settings(longPoll bool) []byte {
	b, _ := json.Marshal(map[string]any{
		"cloud": map[string]any{"url": m.sb.Cloud, "token": m.token, "longPoll": longPoll},
		"ofd":   map[string]any{"server": m.ofd.addr},
	})
	return b
}

// startRegister starts a register that reads its settings from a file, and waits
// until its console answers (it writes no sandbox.json).
func (m *remote) startRegister(r *register) error {
	r.sb = m.sb
	t0 := time.Now()
	if err := r.start(); err != nil {
		return err
	}
	for time.Since(t0) < 30*time.Second {
		select {
		case <-r.done:
			return fmt.Errorf("kassa run exited during start (%s); its log is %s", r.cmd.ProcessState, r.logPath)
		default:
		}
		if _, _, err := callConsole(r.sb.Socket, []string{"version"}); err == nil {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("kassa run not ready within 30 s; its log is %s", r.logPath)
}

func (m *remote) stop() error {
	var errs []error
	if m.ofd != nil && m.ofd.cmd != nil {
		errs = append(errs, m.ofd.signal(syscall.SIGTERM))
	}
	if m.cloud != nil && m.cloud.Process != nil {
		m.cloud.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.cloudDone:
		case <-time.After(10 * time.Second):
			m.cloud.Process.Kill()
			<-m.cloudDone
			errs = append(errs, errors.New("kassa cloud did not stop within 10 s of SIGTERM"))
		}
	}
	return errors.Join(errs...)
}

// procStatus reads the kB fields of /proc/PID/status (VmHWM, VmRSS, RssAnon, RssFile, …).
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if v = strings.TrimSpace(v); ok && strings.HasSuffix(v, " kB") {
			out[k], _ = strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		}
	}
	return out, sc.Err()
}

// procCPU is the user and system CPU time a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// After the command's name in parentheses: state, then utime and stime as
	// the 12th and 13th fields, in clock ticks (USER_HZ, 100 on Linux).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// mapped is where a process's resident pages are, from /proc/PID/smaps, in KiB.
type mapped struct {
	binary int64 // the executable's own mappings
	db     int64 // mapped *.db files (bbolt)
	pss    int64 // proportional set size: a page shared by n processes counts 1/n
}

func procMemory(pid int) (mapped, error) {
	var m mapped
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return m, err
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return m, err
	}
	defer f.Close()
	var into *int64 // where the current mapping's Rss goes
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a mapping's header: range, perms, offset, dev, inode, path
			path := ""
			if len(fields) > 5 {
				path = strings.Join(fields[5:], " ")
			}
			switch {
			case path == exe:
				into = &m.binary
			case strings.HasSuffix(path, ".db"):
				into = &m.db
			default:
				into = nil
			}
			continue
		}
		if len(fields) < 2 {
			continue
		}
		kib, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "Rss:":
			if into != nil {
				*into += kib
			}
		case "Pss:":
			m.pss += kib
		}
	}
	return m, sc.Err()
}

// ownCopy copies bin into dir for the cloud and the OFD: on machines of their
// own they would share none of the register's pages, and the register's PSS is
// then its own. Where dir's copy cannot run (a noexec mount), bin is used.
func ownCopy(bin, dir string) string {
	b, err := os.ReadFile(bin)
	if err != nil {
		return bin
	}
	c := filepath.Join(dir, "kassa")
	if os.WriteFile(c, b, 0o755) != nil || exec.Command(c, "version").Run() != nil {
		return bin
	}
	return c
}

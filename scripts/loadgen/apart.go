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

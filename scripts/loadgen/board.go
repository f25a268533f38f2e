package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
)

// boardSerial is the serial number the bench's board register runs with (its
// settings give none, so the register's default).
const boardSerial = "0000000000001234"

// boardDrive is the emulated drive served on a pty by the full build's
// `kassa fn-emu`, for a board build, which carries no emulated drive.
type boardDrive struct {
	cmd  *exec.Cmd
	port string
}

// startBoardDrive serves the drive under data/fn (the one startRemote made and
// told the OFD of) on a new pty.
func startBoardDrive(fullBin, data, logPath string) (*boardDrive, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	d := &boardDrive{cmd: exec.Command(fullBin, "fn-emu", "--pty", "--data", data)}
	d.cmd.Stderr = lf
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting kassa fn-emu --pty: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("kassa fn-emu --pty: reading its pty: %w", err)
	}
	d.port = line[:len(line)-1]
	return d, nil
}

func (d *boardDrive) stop() {
	d.cmd.Process.Kill()
	d.cmd.Wait()
}

// boardSettings are the remote's settings with the drive on its pty and no printer.
func (m *remote) boardSettings(drivePort string) []byte {
	var s map[string]any
	json.Unmarshal(m.settings(true), &s)
	s["drive"] = map[string]any{"port": drivePort}
	s["printer"] = map[string]any{"none": true}
	b, _ := json.Marshal(s)
	return b
}

// registerBoardDrive has the board build register the drive with `kassa
// register --yes`, as a technician does once, with a registration number made
// for the point's INN and the register's serial.
func (m *remote) registerBoardDrive(boardBin, config string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := cloud.NewClient(m.sb.Cloud, m.token, nil).Point(ctx)
	if err != nil {
		return fmt.Errorf("the point's data: %w", err)
	}
	reg, err := fiscal.RegNumber("0000000001", p.INN, boardSerial)
	if err != nil {
		return err
	}
	out, err := exec.Command(boardBin, "register", "--config", config, reg, "--yes").CombinedOutput()
	if err != nil {
		return fmt.Errorf("kassa register: %w: %s", err, out)
	}
	return nil
}

// boardRun readies a board run: the drive on a pty, the settings written to
// root/config.json, the drive registered. The returned stop ends the drive.
func (m *remote) boardRun(fullBin, boardBin, root string) (config string, stop func(), err error) {
	d, err := startBoardDrive(fullBin, filepath.Join(root, "data"), filepath.Join(root, "fn-emu.log"))
	if err != nil {
		return "", nil, err
	}
	config = filepath.Join(root, "config.json")
	if err := os.WriteFile(config, append(m.boardSettings(d.port), '\n'), 0o600); err != nil {
		d.stop()
		return "", nil, err
	}
	if err := m.registerBoardDrive(boardBin, config); err != nil {
		d.stop()
		return "", nil, err
	}
	return config, d.stop, nil
}

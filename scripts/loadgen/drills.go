package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// runDrills runs the fault drills one after another on one `kassa run`, giving
// each fault through the register's console (`kassa fault …`), and checks the
// invariants after each. The register sends to its embedded OFD emulator, whose
// outages are `kassa fault ofd …`; with standaloneOFD it sends to a `kassa
// ofd-sim` instead, which is killed -9 for an outage.
func runDrills(bin, root string, standaloneOFD bool, seed uint64, down time.Duration, log func(string, ...any)) error {
	g, err := newRig(bin, root, standaloneOFD, seed, log)
	if err != nil {
		return err
	}
	defer g.close()
	if standaloneOFD {
		log("drills: the register sends to a standalone kassa ofd-sim, killed -9 for the OFD's outages")
	} else {
		log("drills: the register sends to its embedded OFD emulator; its outages are kassa fault ofd")
	}
	drills := []struct {
		name string
		run  func() error
	}{
		{"cloud down", func() error { return g.cloudDown(down) }},
		{"OFD down", func() error { return g.ofdOutage(down) }},
		{"OFD refuses, then kill -9 of both", func() error { return g.ofdRefusesThenKill(down) }},
		{"drive write fault", g.driveWriteFault},
		{"drive memory full", g.driveMemoryFull},
		{"printer out of paper", g.paperOut},
		// Last: it leaves the sandbox's clock 31 days ahead, and a clock never goes back.
		{"OFD down over 20 days", g.ofdDownForDays},
	}
	for _, d := range drills {
		log("drill: %s", d.name)
		t0 := time.Now()
		if err := d.run(); err != nil {
			fmt.Printf("drills: FAIL in %q: %v\n", d.name, err)
			return errors.New("a drill failed")
		}
		v, err := g.settle()
		if err != nil {
			fmt.Printf("drills: FAIL after %q: %v\n", d.name, err)
			return errors.New("an invariant broke")
		}
		fmt.Printf("drill %-36q OK in %5.1f s: %s\n", d.name, time.Since(t0).Seconds(), v)
		if err := g.restartAll(); err != nil {
			return err
		}
	}
	return nil
}

// cloudDown: the register, and with it the sandbox cloud, is killed while two
// clients keep posting to the dead port, then started again.
func (g *rig) cloudDown(down time.Duration) error {
	stop := g.posters(2, 20*time.Millisecond)
	time.Sleep(time.Second)
	g.reg.kill()
	g.log("cloud down: register killed, the shop keeps posting for %v", down)
	time.Sleep(down)
	_, err := g.reg.startReady()
	time.Sleep(time.Second)
	stop()
	return err
}

// ofdOutage: the OFD is away for a while as receipts go on; documents wait for
// it, and the queue drains once it is back (settle waits for that).
func (g *rig) ofdOutage(down time.Duration) error {
	stop := g.posters(2, 20*time.Millisecond)
	defer stop()
	if err := g.ofdDown("refuse"); err != nil {
		return err
	}
	g.log("OFD down for %v while receipts go on", down)
	time.Sleep(down)
	h, err := g.reg.health()
	if err != nil {
		return err
	}
	if h.WaitingForOFD == 0 {
		return errors.New("the OFD has been down, yet nothing waits for it")
	}
	g.log("OFD down: %d documents waiting for it, %d for the drive; OFD back", h.WaitingForOFD, h.WaitingForDrive)
	return g.ofdUp()
}

// ofdRefusesThenKill: the OFD answers 3 messages with an error code, then the
// register and the OFD are killed -9 together.
func (g *rig) ofdRefusesThenKill(down time.Duration) error {
	stop := g.posters(2, 20*time.Millisecond)
	var err error
	if g.ofd != nil {
		g.ofd.signal(syscall.SIGKILL)
		g.ofd.args = append(g.ofd.args, "--fault", "error", "--fault-times", "3")
		err = g.ofd.start()
		g.ofd.args = g.ofd.args[:len(g.ofd.args)-4]
	} else {
		err = g.fault("ofd", "error", "3")
	}
	if err != nil {
		stop()
		return err
	}
	time.Sleep(down / 2)
	g.reg.kill() // the embedded OFD dies with it
	if g.ofd != nil {
		g.ofd.signal(syscall.SIGKILL)
	}
	defer stop() // after the restart: a POST in flight at the kill is retried until answered
	if g.ofd != nil {
		if err := g.ofd.start(); err != nil {
			return err
		}
	}
	_, err = g.reg.startReady()
	return err
}

// driveWriteFault: the drive fails one write. The register stops at once (a
// drive fault is not tolerated even once), a document posted meanwhile waits,
// and after `kassa resume` every document is fiscalized once.
func (g *rig) driveWriteFault() error {
	first, err := g.postNew("drive", false)
	if err != nil {
		return err
	}
	if err := g.complete(first); err != nil {
		return err
	}
	// Acknowledgements are drive writes too: let the OFD queue empty, so that the
	// failed write is the next receipt's.
	if _, err := g.reg.waitOFD(time.Minute); err != nil {
		return err
	}
	if err := g.fault("drive", "fail-writes", "1"); err != nil {
		return err
	}
	during, err := g.postNew("drive", false)
	if err != nil {
		return err
	}
	h, err := g.waitHealth("the stop after one failed drive write", 30*time.Second, func(h health) bool { return h.Stopped })
	if err != nil {
		return err
	}
	if !strings.Contains(h.StopReason, "drive error") {
		return fmt.Errorf("stopped for %q, want a drive error", h.StopReason)
	}
	if _, err := g.waitPoint("FAILED", 10*time.Second); err != nil {
		return err
	}
	g.log("drive write fault: stopped (%s)", h.StopReason)
	whileStopped, err := g.postNew("drive", false)
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := g.waiting("the register stopped by the drive", during, whileStopped); err != nil {
		return err
	}
	if _, err := g.reg.console("resume"); err != nil {
		return err
	}
	if err := g.complete(during, whileStopped); err != nil {
		return err
	}
	// A burst after the resume, completed together.
	var ids []string
	for range 20 {
		id, err := g.postNew("drive", false)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	return g.complete(ids...)
}

// driveMemoryFull: the drive's archive is full (06h). The register treats it as
// a drive fault, as it does a write failure: the first refusal stops it at once
// (no tolerance of three in a row), and the receipt is not FAILED but kept, to be
// fiscalized once the drive takes documents again. So the shop sees the point
// FAILED with the drive's reason and its receipts waiting, none FAILED: there is
// nothing to re-queue (re-queue answers 409). Freeing the memory does not restart
// the register by itself; after `kassa resume` every receipt completes, once.
func (g *rig) driveMemoryFull() error {
	h, err := g.reg.health()
	if err != nil {
		return err
	}
	lastFD := h.Drive.LastFD
	if err := g.fault("drive", "memory-full", "on"); err != nil {
		return err
	}
	first, err := g.postNew("memfull", false)
	if err != nil {
		return err
	}
	if h, err = g.waitHealth("the stop at the drive's refusal", 30*time.Second, func(h health) bool { return h.Stopped }); err != nil {
		return err
	}
	if !strings.Contains(h.StopReason, "drive error") || !strings.Contains(h.StopReason, "archive full") {
		return fmt.Errorf("stopped for %q, want the drive's archive full", h.StopReason)
	}
	ps, err := g.waitPoint("FAILED", 10*time.Second)
	if err != nil {
		return err
	}
	ids := []string{first}
	for range 3 {
		id, err := g.postNew("memfull", false)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	time.Sleep(time.Second)
	if err := g.waiting("the drive's memory full", ids...); err != nil {
		return err
	}
	if h, err = g.reg.health(); err != nil {
		return err
	}
	if h.Drive.LastFD != lastFD {
		return fmt.Errorf("the drive signed FD %d..%d with its memory full", lastFD+1, h.Drive.LastFD)
	}
	if _, err := g.shop.requeue(first); err == nil || !strings.Contains(err.Error(), "HTTP 409") {
		return fmt.Errorf("re-queue of the waiting %s: %v, want 409: only a FAILED document is re-queued", first, err)
	}
	g.log("memory full: stopped at once, %d receipts waiting, none FAILED; the shop sees %s", len(ids), ps)
	if err := g.fault("drive", "memory-full", "off"); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := g.waiting("the memory free again, before the resume", ids...); err != nil {
		return err
	}
	if _, err := g.reg.console("resume"); err != nil {
		return err
	}
	return g.complete(ids...)
}

// paperOut: the printer is out of paper. Receipts to be printed wait (a receipt
// that cannot be handed over is not signed) while electronic ones go on; with
// paper back every one completes, and each printed receipt's page is in the
// data directory's receipts/, once; no electronic one is there.
func (g *rig) paperOut() error {
	if err := g.fault("printer", "paper", "out"); err != nil {
		return err
	}
	var printed, electronic []string
	for i := range 8 {
		id, err := g.postNew("paper", i%2 == 0)
		if err != nil {
			return err
		}
		if i%2 == 0 {
			printed = append(printed, id)
		} else {
			electronic = append(electronic, id)
		}
	}
	if err := g.complete(electronic...); err != nil {
		return err
	}
	if _, err := g.waitHealth("paper out in the register's status", 10*time.Second, func(h health) bool { return h.Printer.Paper == "out" }); err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := g.waiting("paper out", printed...); err != nil {
		return err
	}
	h, err := g.reg.health()
	if err != nil {
		return err
	}
	if h.WaitingForDrive < len(printed) {
		return fmt.Errorf("paper out: %d documents wait for the drive, want at least the %d to print", h.WaitingForDrive, len(printed))
	}
	g.log("paper out: %d electronic receipts COMPLETED, %d to print waiting; paper in", len(electronic), len(printed))
	if err := g.fault("printer", "paper", "in"); err != nil {
		return err
	}
	if err := g.complete(printed...); err != nil {
		return err
	}
	dir := filepath.Join(g.reg.data, "receipts")
	page := func(id string, nth int) string {
		name := strconv.FormatUint(uint64(g.want.told[id]), 10)
		if nth > 1 {
			name += "-" + strconv.Itoa(nth)
		}
		return filepath.Join(dir, name+".txt")
	}
	exists := func(path string) bool { _, err := os.Stat(path); return err == nil }
	// COMPLETED comes with the signature; the page follows from the print queue.
	for _, id := range printed {
		for deadline := time.Now().Add(30 * time.Second); !exists(page(id, 1)); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s (FD %d) COMPLETED, and no page in %s", id, g.want.told[id], dir)
			}
		}
		if exists(page(id, 2)) {
			return fmt.Errorf("%s (FD %d) printed twice", id, g.want.told[id])
		}
	}
	for _, id := range electronic {
		if exists(page(id, 1)) {
			return fmt.Errorf("the electronic receipt %s (FD %d) was printed", id, g.want.told[id])
		}
	}
	return nil
}

// ofdDownForDays: the OFD is away while the sandbox's clock moves on 31 days
// (`kassa fault clock advance`). Receipts go on; the drive warns from day 25;
// at day 30 it takes no more documents, the register stops saying why and new
// documents wait; with the OFD back the backlog goes out in the drive's order
// (checkData checks the order of arrival) and the stop lifts itself, without
// `kassa resume`.
func (g *rig) ofdDownForDays() error {
	if _, err := g.reg.waitOFD(time.Minute); err != nil {
		return err
	}
	// The embedded OFD takes each message and cuts its acknowledgement off.
	if err := g.ofdDown("close"); err != nil {
		return err
	}
	first, err := g.postNew("ofd30", false)
	if err != nil {
		return err
	}
	if err := g.complete(first); err != nil {
		return err
	}
	warned := func(h health) bool { return slices.Contains(h.Drive.Warnings, "OFD timeout near") }
	for _, step := range []struct {
		advance string
		day     int
	}{{"20d", 20}, {"6d", 26}} {
		if err := g.fault("clock", "advance", step.advance); err != nil {
			return err
		}
		id, err := g.postNew("ofd30", false)
		if err != nil {
			return err
		}
		if err := g.complete(id); err != nil {
			return fmt.Errorf("day %d: %w", step.day, err)
		}
		h, err := g.reg.health()
		if err != nil {
			return err
		}
		switch {
		case h.Stopped:
			return fmt.Errorf("day %d: stopped: %s", step.day, h.StopReason)
		case h.WaitingForOFD == 0:
			return fmt.Errorf("day %d: nothing waits for the OFD", step.day)
		case warned(h) != (step.day >= 25):
			return fmt.Errorf("day %d without the OFD: the drive's warnings are %v", step.day, h.Drive.Warnings)
		}
		g.log("day %d: %d documents waiting for the OFD, the drive's warnings %v", step.day, h.WaitingForOFD, h.Drive.Warnings)
	}
	if err := g.fault("clock", "advance", "5d"); err != nil {
		return err
	}
	late, err := g.postNew("ofd30", false)
	if err != nil {
		return err
	}
	h, err := g.waitHealth("the stop at 30 days without the OFD", 30*time.Second, func(h health) bool { return h.Stopped })
	if err != nil {
		return err
	}
	if !strings.Contains(h.StopReason, "OFD") || !warned(h) {
		return fmt.Errorf("day 31: stopped for %q with the warnings %v, want the OFD's limit", h.StopReason, h.Drive.Warnings)
	}
	ps, err := g.waitPoint("FAILED", 10*time.Second)
	if err != nil {
		return err
	}
	later, err := g.postNew("ofd30", false)
	if err != nil {
		return err
	}
	time.Sleep(time.Second)
	if err := g.waiting("stopped by the OFD's limit", late, later); err != nil {
		return err
	}
	g.log("day 31: the shop sees %s; %d documents waiting for the OFD; OFD back", ps, h.WaitingForOFD)
	t0 := time.Now()
	if err := g.ofdUp(); err != nil {
		return err
	}
	// The sender's backoff and the heartbeat's period (15 s) bound the wait.
	if _, err := g.waitHealth("the stop lifting itself after the catch-up", 2*time.Minute, func(h health) bool { return !h.Stopped }); err != nil {
		return err
	}
	g.log("the stop lifted itself %.1f s after the OFD came back", time.Since(t0).Seconds())
	return g.complete(late, later)
}

// ofdDown takes the OFD away: the standalone one is killed -9, the embedded one
// is given the fault mode (`kassa fault ofd MODE`).
func (g *rig) ofdDown(mode string) error {
	if g.ofd != nil {
		g.log("kassa ofd-sim: kill -9")
		return g.ofd.signal(syscall.SIGKILL)
	}
	return g.fault("ofd", mode)
}

// ofdUp brings the OFD back after ofdDown.
func (g *rig) ofdUp() error {
	if g.ofd != nil {
		g.log("kassa ofd-sim: started again")
		return g.ofd.start()
	}
	return g.fault("ofd", "none")
}

// fault gives the register one fault through its console: `kassa fault ARGS…`.
func (g *rig) fault(args ...string) error {
	out, err := g.reg.console(append([]string{"fault"}, args...)...)
	if err != nil {
		return err
	}
	g.log("kassa fault %s: %s", strings.Join(args, " "), strings.TrimSpace(out))
	return nil
}

// postNew posts one new document under a fresh id, to be printed on paper or
// not, until the cloud answers, and counts it as accepted.
func (g *rig) postNew(prefix string, paper bool) (string, error) {
	g.mu.Lock()
	g.seq++
	id := fmt.Sprintf("%s-%07d", prefix, g.seq)
	d, r := newDoc(g.rng, id)
	g.mu.Unlock()
	d.PrintReceipt = paper
	if !g.postUntil(d) {
		return "", fmt.Errorf("%s: no answer from the cloud for a minute", id)
	}
	g.mu.Lock()
	g.want.receipts[id] = r
	g.mu.Unlock()
	return id, nil
}

// complete waits until each document is COMPLETED and keeps the FD the shop was told.
func (g *rig) complete(ids ...string) error {
	for _, id := range ids {
		st, err := g.shop.waitCompleted(id, 20*time.Millisecond, time.Minute)
		if err != nil {
			return err
		}
		if st.FiscalInfo == nil {
			return fmt.Errorf("%s COMPLETED without fiscalInfo", id)
		}
		g.mu.Lock()
		g.want.told[id] = st.FiscalInfo.FNDocNumber
		g.mu.Unlock()
	}
	return nil
}

// waiting checks that none of the documents is COMPLETED or FAILED.
func (g *rig) waiting(why string, ids ...string) error {
	for _, id := range ids {
		st, err := g.shop.status(id)
		if err != nil {
			return err
		}
		if st.Status == "COMPLETED" || st.Status == "FAILED" {
			return fmt.Errorf("%s: %s is %s, want it waiting", why, id, st.Status)
		}
	}
	return nil
}

// waitHealth polls `kassa status --json` until ok holds.
func (g *rig) waitHealth(what string, limit time.Duration, ok func(health) bool) (health, error) {
	var h health
	var err error
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if h, err = g.reg.health(); err == nil && ok(h) {
			return h, nil
		}
	}
	return h, fmt.Errorf("%s: not within %v (stopped %v %q; %v)", what, limit, h.Stopped, h.StopReason, err)
}

// waitPoint waits until the shop's GET /api/fn/v1/status answers want (the
// register's heartbeat carries a stop or a resume to the cloud) and returns the answer.
func (g *rig) waitPoint(want string, limit time.Duration) (string, error) {
	var ps string
	var err error
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if ps, err = g.shop.pointStatus(); err == nil && strings.HasPrefix(ps, want) {
			return ps, nil
		}
	}
	return ps, fmt.Errorf("the shop sees the point as %q (%v), want %s", ps, err, want)
}

package main

import (
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/openkassa/kassa/fiscal/fn"
)

// rig is a register under torture, the shop posting to it, and optionally a
// standalone OFD emulator (`kassa ofd-sim`) the register sends to.
type rig struct {
	root string
	reg  *register
	ofd  *ofdProc // nil: the sandbox's embedded OFD
	shop *shop
	rng  *rand.Rand
	log  func(string, ...any)

	mu   sync.Mutex
	want expectation
	seq  int
	lost []string // posted without ever an answer: a failure of the cloud
}

// ofdProc is a `kassa ofd-sim` process on fixed ports.
type ofdProc struct {
	bin, addr, dir, logPath string
	key                     []byte
	args                    []string
	cmd                     *exec.Cmd
	done                    chan struct{}
}

// startOFDSim starts `kassa ofd-sim` with its files in dir for the register
// whose data directory is data: the drive is made first, so that the OFD can
// be told its key before the register starts.
func startOFDSim(bin, data, dir, logPath string) (*ofdProc, error) {
	em, err := fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(data, "fn")})
	if err != nil {
		return nil, fmt.Errorf("creating the drive: %w", err)
	}
	driveKey, number := em.Key(), em.DriveNumber()
	em.Close()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	lookup, err := freeAddr()
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	crand.Read(key)
	o := &ofdProc{bin: bin, addr: addr, dir: filepath.Join(dir, "ofd"), key: key, logPath: logPath,
		args: []string{"ofd-sim", "--addr", addr, "--lookup-addr", lookup, "--data", dir,
			"--ofd-key", hex.EncodeToString(key), "--drive-key", number + "=" + hex.EncodeToString(driveKey)}}
	return o, o.start()
}

func newRig(bin, root string, standaloneOFD bool, seed uint64, log func(string, ...any)) (*rig, error) {
	g := &rig{root: root, rng: rand.New(rand.NewPCG(seed, 7)), log: log,
		want: expectation{receipts: map[string]receipt{}, told: map[string]uint32{}}}
	var extra []string
	if standaloneOFD {
		var err error
		if g.ofd, err = startOFDSim(bin, filepath.Join(root, "data"), filepath.Join(root, "ofd-sim"), filepath.Join(root, "ofd-sim.log")); err != nil {
			return nil, err
		}
		extra = []string{"--ofd-server", g.ofd.addr}
	}
	r, err := newRegister(bin, root, extra...)
	if err != nil {
		return nil, err
	}
	g.reg = r
	if _, err := r.startReady(); err != nil {
		return nil, err
	}
	g.shop = newShop(r.sb.Cloud, r.sb.Login, r.sb.Password)
	g.shop.hc.Timeout = 3 * time.Second
	return g, nil
}

func (o *ofdProc) start() error {
	lf, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	o.cmd = exec.Command(o.bin, o.args...)
	o.cmd.Stdout, o.cmd.Stderr = lf, lf
	if err := o.cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("starting kassa ofd-sim: %w", err)
	}
	o.done = make(chan struct{})
	go func() { o.cmd.Wait(); lf.Close(); close(o.done) }()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if c, err := net.Dial("tcp", o.addr); err == nil {
			c.Close()
			return nil
		}
	}
	return fmt.Errorf("kassa ofd-sim not listening on %s within 20 s; its log is %s", o.addr, o.logPath)
}

func (o *ofdProc) signal(sig syscall.Signal) error {
	select {
	case <-o.done:
		return nil
	default:
	}
	o.cmd.Process.Signal(sig)
	select {
	case <-o.done:
		return nil
	case <-time.After(10 * time.Second):
		o.cmd.Process.Kill()
		<-o.done
		return errors.New("kassa ofd-sim did not stop within 10 s of SIGTERM")
	}
}

// postLoop posts new documents from one client until stop closes, each retried
// under its own id until the cloud answers 200 (the register may be dead).
func (g *rig) postLoop(stop <-chan struct{}, seed uint64, pause time.Duration) {
	rng := rand.New(rand.NewPCG(seed, 11))
	for {
		select {
		case <-stop:
			return
		default:
		}
		g.mu.Lock()
		g.seq++
		id := fmt.Sprintf("torture-%07d", g.seq)
		g.mu.Unlock()
		d, r := newDoc(rng, id)
		if !g.postUntil(d) {
			g.log("%s: no answer from the cloud for a minute; the shop gives up on it", id)
			g.mu.Lock()
			g.lost = append(g.lost, id)
			g.mu.Unlock()
			return
		}
		g.mu.Lock()
		g.want.receipts[id] = r
		g.mu.Unlock()
		time.Sleep(time.Duration(rng.Int64N(int64(pause) + 1)))
	}
}

// postUntil posts d until the cloud answers 200. A POST without an answer may
// have landed, so once tried, a document is posted until it is answered, even
// after stop closes; stop only keeps new documents from being started. It
// reports whether the cloud answered within a minute.
func (g *rig) postUntil(d shopDoc) bool {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if g.shop.post(d) == nil {
			return true
		}
	}
	return false
}

// posters runs k posting clients; the returned func stops them and waits.
func (g *rig) posters(k int, pause time.Duration) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range k {
		wg.Add(1)
		seed := g.rng.Uint64() // here, not in the goroutine: g.rng is not safe for concurrent use
		go func() { defer wg.Done(); g.postLoop(stop, seed, pause) }()
	}
	return func() { close(stop); wg.Wait() }
}

// settle brings the register up, waits for every accepted document to be
// COMPLETED and for the OFD queue to empty, checks the point is READY, stops
// everything cleanly and checks the invariants on the files.
func (g *rig) settle() (verdict, error) {
	if !g.reg.running() {
		if _, err := g.reg.startReady(); err != nil {
			return verdict{}, err
		}
	}
	if g.ofd != nil {
		select {
		case <-g.ofd.done:
			if err := g.ofd.start(); err != nil {
				return verdict{}, err
			}
		default:
		}
	}
	if len(g.lost) > 0 {
		return verdict{}, fmt.Errorf("the cloud never answered the POST of %d documents (%s…)", len(g.lost), g.lost[0])
	}
	for id := range g.want.receipts {
		if _, ok := g.want.told[id]; ok {
			continue
		}
		st, err := g.shop.waitCompleted(id, 20*time.Millisecond, 2*time.Minute)
		if err != nil {
			return verdict{}, err
		}
		if st.FiscalInfo == nil {
			return verdict{}, fmt.Errorf("%s COMPLETED without fiscalInfo", id)
		}
		g.want.told[id] = st.FiscalInfo.FNDocNumber
	}
	if _, err := g.reg.waitOFD(2 * time.Minute); err != nil {
		return verdict{}, err
	}
	ps, err := g.shop.pointStatus()
	if err != nil {
		return verdict{}, err
	}
	if ps != "READY" {
		return verdict{}, fmt.Errorf("the point's status is %s, want READY", ps)
	}
	if _, err := g.reg.stop(); err != nil {
		return verdict{}, err
	}
	ofdDir, key := g.reg.data, []byte(nil)
	if g.ofd != nil {
		if err := g.ofd.signal(syscall.SIGTERM); err != nil {
			return verdict{}, err
		}
		ofdDir, key = g.ofd.dir, g.ofd.key
	} else if key, err = readKey(filepath.Join(g.reg.data, "ofd.key")); err != nil {
		return verdict{}, err
	}
	return checkData(g.reg.data, ofdDir, key, g.want)
}

// restartAll brings the register (and the standalone OFD) back after settle.
func (g *rig) restartAll() error {
	if g.ofd != nil {
		if err := g.ofd.start(); err != nil {
			return err
		}
	}
	_, err := g.reg.startReady()
	return err
}

func (g *rig) close() {
	g.reg.kill()
	if g.ofd != nil {
		g.ofd.signal(syscall.SIGKILL)
	}
}

func runTorture(args []string) error {
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	bin := fs.String("kassa", "kassa", "the kassa binary")
	cycles := fs.Int("cycles", 200, "kill -9 cycles")
	clients := fs.Int("c", 4, "posting shop clients")
	pause := fs.Duration("pause", 20*time.Millisecond, "longest pause of a client between documents")
	maxUp := fs.Duration("max-up", 400*time.Millisecond, "longest a register lives before its kill -9")
	standalone := fs.Bool("ofd-sim", false, "send to a standalone `kassa ofd-sim`, and kill -9 it at random too (in drills: kill it for the OFD's outages)")
	drills := fs.Bool("drills", false, "run the fault drills instead of the kill -9 cycles")
	downFor := fs.Duration("down", 5*time.Second, "how long the cloud or the OFD stays down in a drill")
	seed := fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (printed, to repeat a run)")
	tmp := fs.String("tmp", "", "where the data directory goes (default the system's temp dir)")
	keep := fs.Bool("keep", false, "keep the data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := os.MkdirTemp(*tmp, "kassa-torture-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(root)
	}
	log := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+format+"\n", a...)
	}
	log("seed %d, data in %s", *seed, root)
	if *drills {
		return runDrills(*bin, root, *standalone, *seed, *downFor, log)
	}
	g, err := newRig(*bin, root, *standalone, *seed, log)
	if err != nil {
		return err
	}
	defer g.close()
	stopPosting := g.posters(*clients, *pause)
	ofdKills := 0
	t0 := time.Now()
	for i := range *cycles {
		time.Sleep(time.Duration(g.rng.Int64N(int64(*maxUp))))
		g.reg.kill()
		if g.ofd != nil && g.rng.IntN(4) == 0 {
			g.ofd.signal(syscall.SIGKILL)
			if err := g.ofd.start(); err != nil {
				stopPosting()
				return err
			}
			ofdKills++
		}
		if err := g.reg.start(); err != nil {
			stopPosting()
			return err
		}
		if (i+1)%50 == 0 {
			log("%d kill -9 cycles, %d documents posted", i+1, len(g.want.receipts))
		}
	}
	stopPosting()
	log("%d cycles in %v; settling", *cycles, time.Since(t0).Round(time.Second))
	if _, err := g.reg.waitReady(time.Now(), 30*time.Second); err != nil {
		return err
	}
	v, err := g.settle()
	if err != nil {
		fmt.Printf("torture: FAIL after %d kill -9 cycles (seed %d): %v\n", *cycles, *seed, err)
		return errors.New("an invariant broke")
	}
	extra := ""
	if g.ofd != nil {
		extra = fmt.Sprintf(", %d kill -9 of the standalone OFD", ofdKills)
	}
	fmt.Printf("torture: OK: %d kill -9 cycles%s; %s; every document COMPLETED once, drive contiguous with every ФПД verified, OFD complete, ledger equal to the drive, point READY\n",
		*cycles, extra, v)
	return nil
}

// Package pgtest starts a throwaway PostgreSQL cluster for a test binary and
// hands each test a database of its own in it.
//
// A package that tests against PostgreSQL runs its tests through Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and asks for a database with DSN(t). The cluster starts on the first DSN, in
// a temporary directory, listening only on a Unix socket there (no TCP port, so
// test binaries run side by side), with fsync off; Main stops it and removes the
// directory once the tests are done. Each DSN is a fresh, empty database,
// dropped when its test ends, so tests are independent and may run in parallel.
//
// Where no PostgreSQL server is installed the tests that ask for one skip, and
// fail under CI (the CI environment variable set): .ci/run installs Debian's
// postgresql package, and a skipped storage suite there would hide a failure.
//
// As root, which initdb refuses, the cluster runs as the postgres user (Debian's
// package creates it), or nobody.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Superuser is the role initdb makes and every DSN connects as.
const Superuser = "kassa"

// startTimeout bounds initdb and the server's start together.
const startTimeout = 60 * time.Second

var (
	mainCalled atomic.Bool
	once       sync.Once
	shared     *cluster
	sharedErr  error // why the cluster is missing: errNotInstalled or a failure
	dbSeq      atomic.Int64
)

// errNotInstalled: no initdb/postgres pair on this machine.
var errNotInstalled = errors.New("PostgreSQL not installed: apt-get install postgresql")

// Main runs the tests and then stops the cluster, if one was started, and
// removes its directory. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if shared != nil {
		if err := shared.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// DSN returns the connection string of a new, empty database owned by
// Superuser, dropped when t ends. It skips t where PostgreSQL is not installed
// (fails it under CI), and fails t where the cluster would not start.
func DSN(t testing.TB) string {
	t.Helper()
	c := get(t)
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	if err := c.exec(fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// FORCE ends the sessions a failed test left open.
		if err := c.exec(fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return c.dsn(name)
}

// Dir returns the directory of the cluster's socket: a test that must reach
// the server some other way (psql, pgbench) connects with host=Dir.
func Dir(t testing.TB) string {
	t.Helper()
	return get(t).dir
}

func get(t testing.TB) *cluster {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatal("pgtest: the package's TestMain must call pgtest.Main(m), which stops the cluster")
	}
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		shared, sharedErr = start(ctx, false)
	})
	switch {
	case errors.Is(sharedErr, errNotInstalled) && os.Getenv("CI") == "":
		t.Skip(sharedErr.Error())
	case errors.Is(sharedErr, errNotInstalled):
		t.Fatalf("pgtest: %v (CI must have it: .ci/run installs Debian's postgresql)", sharedErr)
	case sharedErr != nil:
		t.Fatalf("pgtest: %v", sharedErr)
	}
	return shared
}

// cluster is one running server and the directory that holds it.
type cluster struct {
	dir  string // the temporary directory: data/, the socket, server.log
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
	err  error         // cmd.Wait's, once done is closed

	mu    sync.Mutex
	admin *pgx.Conn // to the postgres database, for CREATE and DROP DATABASE
}

func (c *cluster) dsn(db string) string {
	return fmt.Sprintf("host=%s user=%s dbname=%s sslmode=disable", c.dir, Superuser, db)
}

func (c *cluster) exec(sql string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.admin.Exec(ctx, sql)
	return err
}

// Cluster is a throwaway server for a program rather than a test: the fleet
// benchmark's database, in a temporary directory, on a Unix socket there.
type Cluster struct{ c *cluster }

// Start starts a cluster; durable keeps fsync and synchronous commits on, as
// a real server has them, for figures worth comparing.
func Start(ctx context.Context, durable bool) (*Cluster, error) {
	c, err := start(ctx, durable)
	if err != nil {
		return nil, err
	}
	return &Cluster{c}, nil
}

// Database creates the database name and returns its connection string.
func (c *Cluster) Database(name string) (string, error) {
	if err := c.c.exec("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return c.c.dsn(name), nil
}

// Stop ends the server and removes its directory.
func (c *Cluster) Stop() error { return c.c.stop() }

// start makes a cluster in a new temporary directory and starts its server;
// without durable, fsync and synchronous commits are off.
func start(ctx context.Context, durable bool) (_ *cluster, err error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir(cred)
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, done: make(chan struct{})}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-A", "trust", "-U", Superuser, "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	initdb.Env = env()
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	logPath := filepath.Join(dir, "server.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	// No TCP at all: the socket in dir is the only way in, so two test
	// binaries never meet. For tests fsync and friends are off: the cluster
	// is thrown away, and a power cut during a test loses nothing worth keeping.
	args := []string{"-D", data,
		"-c", "listen_addresses=",
		"-c", "unix_socket_directories=" + dir,
		"-c", "max_connections=200",
		"-c", "log_min_messages=warning"}
	if durable {
		args = append(args, "-c", "shared_buffers=128MB")
	} else {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
			"-c", "shared_buffers=16MB")
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Env = env()
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	// Pdeathsig: a test binary killed on its timeout takes its server along
	// (SIGQUIT is the server's immediate shutdown, which ends its backends).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := c.cmd.Start(); err != nil {
		c.cmd = nil
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()

	// Ready when it takes a connection.
	for {
		conn, err := pgx.Connect(ctx, c.dsn("postgres"))
		if err == nil {
			c.admin = conn
			return c, nil
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited: %v\n%s", c.err, log)
		case <-ctx.Done():
			log, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres did not take connections: %v\n%s", err, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the server, if it runs, and removes the directory.
func (c *cluster) stop() error {
	var errs []error
	if c.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c.admin.Close(ctx)
		cancel()
	}
	if c.cmd != nil {
		// Immediate shutdown: nothing in the cluster is kept.
		c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			c.cmd.Process.Kill()
			<-c.done
			errs = append(errs, errors.New("postgres did not stop within 30 s; killed"))
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// findBin returns the directory holding initdb and postgres: the one of the
// initdb on PATH, else the newest /usr/lib/postgresql/*/bin (Debian keeps the
// server's programs off PATH).
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if isExec(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = slices.DeleteFunc(dirs, func(d string) bool {
		return !isExec(filepath.Join(d, "initdb")) || !isExec(filepath.Join(d, "postgres"))
	})
	if len(dirs) == 0 {
		return "", errNotInstalled
	}
	version := func(d string) float64 { // "15", "9.6"
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	return slices.MaxFunc(dirs, func(a, b string) int {
		va, vb := version(a), version(b)
		switch {
		case va < vb:
			return -1
		case va > vb:
			return 1
		}
		return 0
	}), nil
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// credential is whom the server runs as: nil (this process's user) unless
// that is root, which initdb and postgres refuse; then postgres, else nobody.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither a postgres nor a nobody user to run PostgreSQL as")
}

// tempDir makes the cluster's directory, owned by whom the server runs as.
// The socket's path must fit in 107 bytes, and another user must be able to
// reach the directory; where TMPDIR allows neither, /tmp does.
func tempDir(cred *syscall.Credential) (string, error) {
	base := os.TempDir()
	if len(base) > 60 || (cred != nil && !searchable(base)) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// searchable says whether every directory from / down to dir lets others through.
func searchable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" || d == "." {
			return true
		}
	}
}

// env is this process's environment without the PG variables that would
// point initdb or the server elsewhere.
func env() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG")
	})
}

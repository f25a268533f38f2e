//go:build !board

package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// capture runs f with standard output going to a pipe and returns what it wrote.
func capture(t *testing.T, f func() error) (string, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan string)
	go func() {
		b := new(strings.Builder)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				done <- b.String()
				return
			}
		}
	}()
	ferr := f()
	os.Stdout = old
	w.Close()
	return <-done, ferr
}

// kassa cloud admin provisions a running cloud started with an admin token:
// an account, a point of it, the point's shop pair and register token.
func TestCloudAdmin(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	token := strings.Repeat("k", 40)
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "short-token")
	os.WriteFile(short, []byte("short\n"), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := cloudOptions{addr: "127.0.0.1:0", dir: dir, log: slog.New(slog.DiscardHandler), shutdownDeadline: time.Second}
	opts.adminTokenFile = short
	if err := serveCloud(ctx, opts); err == nil || !strings.Contains(err.Error(), "32 or more") {
		t.Fatalf("a short admin token: %v", err)
	}
	urls := make(chan string, 1)
	opts.adminTokenFile, opts.ready = tokenFile, func(u string) { urls <- u }
	done := make(chan error, 1)
	go func() { done <- serveCloud(ctx, opts) }()
	var base string
	select {
	case base = <-urls:
	case err := <-done:
		t.Fatal(err)
	}
	admin := func(args ...string) (map[string]any, error) {
		out, err := capture(t, func() error {
			return runCloudAdmin(ctx, append([]string{"--cloud", base, "--token-file", tokenFile}, args...))
		})
		var m map[string]any
		if err == nil {
			if jerr := json.Unmarshal([]byte(out), &m); jerr != nil {
				t.Fatalf("%v: not JSON: %q", args, out)
			}
		}
		return m, err
	}
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("a long password\n"), 0o600)
	if _, err := admin("account", "create", "romashka", "--password-file", pw); err != nil {
		t.Fatal(err)
	}
	if _, err := admin("account", "create", "romashka", "--password-file", pw); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("the same account twice: %v", err)
	}
	if _, err := admin("point", "create", "--account", "romashka", "--name", "Ромашка", "--inn", "7707083894",
		"--address", "Москва"); err == nil || !strings.Contains(err.Error(), "inn") {
		t.Fatalf("a wrong INN: %v", err)
	}
	p, err := admin("point", "create", "--account", "romashka", "--name", "Ромашка", "--inn", "7707083893",
		"--address", "г. Москва, ул. Тверская, д. 1", "--tax", "SIMPLIFIED,PATENT", "--timezone", "Asia/Vladivostok")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := p["id"].(string)
	pair, err := admin("point", "shop-login", id)
	if err != nil || pair["login"] == "" || pair["password"] == "" {
		t.Fatalf("shop-login: %v %v", pair, err)
	}
	reg, err := admin("point", "register", id)
	if err != nil || reg["token"] == "" {
		t.Fatalf("register: %v %v", reg, err)
	}
	view, err := admin("point", "show", id)
	if err != nil || view["register"] == nil || view["account"] != "romashka" {
		t.Fatalf("point show: %v %v", view, err)
	}
	acc, err := admin("account", "show", "romashka")
	if pts, _ := acc["points"].([]any); err != nil || len(pts) != 1 || pts[0] != id {
		t.Fatalf("account show: %v %v", acc, err)
	}
	if err := runCloudAdmin(ctx, []string{"--cloud", base, "--token-file", pw, "account", "show", "romashka"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a wrong token: %v", err)
	}
}

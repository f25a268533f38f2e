package server

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// ServerLimits bound what one client may hold of an HTTP server. Zero fields
// take the defaults named on them.
type ServerLimits struct {
	ReadHeader time.Duration // the request's line and headers; default 10 s
	Read       time.Duration // the whole request, body included; default 30 s
	Write      time.Duration // from the end of the headers to the end of the answer; default 75 s (above the longest long-poll)
	Idle       time.Duration // a kept-alive connection between requests; default 60 s
	MaxConns   int           // connections at once; more are closed as they come; default 4096
}

// HTTPServer is an http.Server for h with lim's timeouts and connection cap,
// so that a client that trickles its headers or body, or opens connections by
// the hundred, holds neither a goroutine nor a file for long.
func HTTPServer(h http.Handler, lim ServerLimits) *http.Server {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&lim.ReadHeader, 10*time.Second)
	def(&lim.Read, 30*time.Second)
	def(&lim.Write, 75*time.Second)
	def(&lim.Idle, 60*time.Second)
	if lim.MaxConns <= 0 {
		// A cloud node holds a long-poll per register, a thousand and more,
		// beside its shops' connections.
		lim.MaxConns = 4096
	}
	c := &connCap{max: lim.MaxConns, open: map[net.Conn]bool{}}
	return &http.Server{Handler: h, ReadHeaderTimeout: lim.ReadHeader, ReadTimeout: lim.Read,
		WriteTimeout: lim.Write, IdleTimeout: lim.Idle, MaxHeaderBytes: 64 << 10, ConnState: c.track}
}

// connCap closes the connections past max as they are accepted.
type connCap struct {
	mu   sync.Mutex
	max  int
	open map[net.Conn]bool
}

func (c *connCap) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew:
		if len(c.open) >= c.max {
			conn.Close() // the server sees it closed and lets it go
			return
		}
		c.open[conn] = true
	case http.StateHijacked, http.StateClosed:
		delete(c.open, conn)
	}
}

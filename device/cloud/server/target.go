package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// errPrivateTarget: a callback or webhook would connect to an address of the
// cloud's own networks.
var errPrivateTarget = errors.New("the address is loopback, private or link-local: refused (Config.AllowPrivateTargets)")

// reserved are the ranges a hosted cloud never connects to on a shop's word:
// beyond what netip's predicates name, the shared address space of carriers'
// NAT, "this network", the IPv4 broadcast, and IPv6's NAT64 prefix carrying
// them.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// publicAddr says whether a is an address a shop's responseURL or an owner's
// webhook may make the cloud connect to.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// refusePrivate is a net.Dialer's Control: it runs for every connection, after
// the name is resolved and just before connecting, so a name that resolves to
// a public address when checked and to a private one when used (DNS rebinding),
// and a redirect to a private address, are refused alike.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%s: %w", address, errPrivateTarget)
	}
	if !publicAddr(ap.Addr()) {
		return fmt.Errorf("%s: %w", ap.Addr(), errPrivateTarget)
	}
	return nil
}

// outboundClient is the client of callbacks and webhooks: 10 s per attempt,
// idleConns kept per host, no proxy from the environment (the check must see
// the target, not a proxy), and, unless allowPrivate, no connection to the
// cloud's own networks. It follows at most 3 redirects.
func outboundClient(allowPrivate bool) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = idleConns
	if !allowPrivate {
		t.Proxy = nil
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: refusePrivate}
		t.DialContext = d.DialContext
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: t,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 {
				return errors.New("more than 3 redirects")
			}
			if a, err := netip.ParseAddr(req.URL.Hostname()); err == nil && !allowPrivate && !publicAddr(a) {
				return fmt.Errorf("redirect to %s: %w", a, errPrivateTarget)
			}
			return nil
		}}
}

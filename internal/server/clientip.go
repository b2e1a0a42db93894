package server

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientIPs finds a request's client address. It is the socket peer,
// unless the peer is a trusted proxy: then X-Forwarded-For is read from
// the right, skipping trusted proxies, and the first address that is not
// one is the client. Entries left of it were written by the client and
// prove nothing, so a client cannot choose its own rate-limit key.
type clientIPs struct{ trusted []netip.Prefix }

func (c clientIPs) isTrusted(a netip.Addr) bool {
	for _, p := range c.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// of returns the client address of r.
func (c clientIPs) of(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if len(c.trusted) == 0 || !c.isTrusted(peer) {
		return peer.String()
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client.String() // garbage: trust what we have
			}
			client = a.Unmap()
			if !c.isTrusted(client) {
				return client.String()
			}
		}
	}
	return client.String()
}

// Package origin turns httpbin answers into the origin chain they report: the
// X-Forwarded-For hops the external service saw, in order, client first.
//
// Two httpbin implementations answer differently, and the harness meets both:
//
//   - python httpbin (httpbin.org, postmanlabs/httpbin) sets "origin" to the whole
//     X-Forwarded-For header it received, or to the peer address when there is none
//     (httpbin/core.py view_origin and helpers.get_dict:
//     request.headers.get("X-Forwarded-For", request.remote_addr)). httpbin.org runs
//     behind a load balancer that appends the peer it saw, so a request straight from
//     a sidecar reports one hop (the node's public address) and a request through an
//     egress gateway reports two (the client pod's address, then the public one).
//     Its /headers hides X-Forwarded-For unless the query has show_env
//     (helpers.ENV_HEADERS).
//   - go-httpbin (mccutchen/go-httpbin, Istio's samples/httpbin) sets "origin" to the
//     first X-Forwarded-For entry only (helpers.go getClientIP), so /ip always
//     reports one hop there; its /headers prints every header as a list of strings,
//     X-Forwarded-For included, which keeps the whole chain.
//
// Entries are kept as opaque hops: an address in any of the forms proxies print
// (IPv4, IPv6, "[v6]:port", "v4:port") is parsed so that it compares equal to a
// pod IP however it was written; anything else ("unknown", RFC 7239 obfuscated
// "_hidden" tokens, host names) is kept verbatim and compared verbatim.
//
// The package is pure: no I/O.
package origin

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
)

// Hop is one entry of the origin chain.
type Hop struct {
	// Raw is the entry as httpbin printed it, without surrounding spaces.
	Raw string
	// Addr is the address Raw names, when it names one: brackets, port and IPv6
	// zone stripped, IPv4-mapped IPv6 unmapped. Invalid (the zero Addr) when Raw
	// is not an address ("unknown", "_hidden", a host name).
	Addr netip.Addr
	// Port is the port Raw carried ("10.0.0.1:5555", "[2001:db8::1]:443"), 0 when none.
	Port uint16
}

// IsAddr reports whether the hop is an IP address rather than an opaque token.
func (h Hop) IsAddr() bool { return h.Addr.IsValid() }

// String returns the hop as httpbin printed it.
func (h Hop) String() string { return h.Raw }

// Is reports whether the hop names want, e.g. a pod IP such as "10.244.0.12" or
// "fd00:10:244::5". When both are addresses they are compared as addresses, so
// "2001:DB8::1", "[2001:db8::1]:443" and "2001:db8:0:0:0:0:0:1" are one hop, and a
// port on either side is ignored. Otherwise the texts are compared exactly. The
// zero Hop (the first hop of an empty chain) is nothing: Is is always false.
func (h Hop) Is(want string) bool {
	if h.Raw == "" {
		return false
	}
	w, err := parseHop(strings.TrimSpace(want))
	if err != nil {
		return false
	}
	if h.IsAddr() && w.IsAddr() {
		return h.Addr == w.Addr
	}
	return h.Raw == w.Raw
}

// Chain is the origin chain, client first, as httpbin reports it.
type Chain []Hop

// Hops is the number of entries in the chain.
func (c Chain) Hops() int { return len(c) }

// First is the first hop, the one closest to the client; the zero Hop when the
// chain is empty (and the zero Hop's Is is always false).
func (c Chain) First() Hop {
	if len(c) == 0 {
		return Hop{}
	}
	return c[0]
}

// Last is the last hop, the peer the outermost proxy saw.
func (c Chain) Last() Hop {
	if len(c) == 0 {
		return Hop{}
	}
	return c[len(c)-1]
}

// String prints the chain as httpbin does: entries joined by ", ".
func (c Chain) String() string {
	parts := make([]string, len(c))
	for i, h := range c {
		parts[i] = h.Raw
	}
	return strings.Join(parts, ", ")
}

// Parse parses an origin field or an X-Forwarded-For value: comma-separated
// entries, each surrounded by any amount of spaces. An empty value, an empty
// entry ("a,,b", a trailing comma) or an entry with spaces or control characters
// inside it is an error: the chain is evidence, and a malformed one must not be
// counted as if it were well formed.
func Parse(originField string) (Chain, error) {
	if strings.TrimSpace(originField) == "" {
		return nil, errors.New("origin: empty origin")
	}
	parts := strings.Split(originField, ",")
	chain := make(Chain, 0, len(parts))
	for i, p := range parts {
		h, err := parseHop(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("origin: hop %d of %q: %w", i+1, originField, err)
		}
		chain = append(chain, h)
	}
	return chain, nil
}

// parseHop parses one trimmed entry.
func parseHop(s string) (Hop, error) {
	if s == "" {
		return Hop{}, errors.New("empty entry")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == ',' || r == unicode.ReplacementChar {
			return Hop{}, fmt.Errorf("entry %q has a space, comma, control or invalid character", s)
		}
	}
	h := Hop{Raw: s}
	// RFC 7239 (Forwarded) quotes IPv6 node names; tolerate quotes around an address.
	addrText := s
	if len(addrText) >= 2 && addrText[0] == '"' && addrText[len(addrText)-1] == '"' {
		addrText = addrText[1 : len(addrText)-1]
	}
	if a, err := netip.ParseAddr(addrText); err == nil {
		h.Addr = normalize(a)
		return h, nil
	}
	if ap, err := netip.ParseAddrPort(addrText); err == nil {
		h.Addr = normalize(ap.Addr())
		h.Port = ap.Port()
		return h, nil
	}
	if len(addrText) > 2 && addrText[0] == '[' && addrText[len(addrText)-1] == ']' {
		if a, err := netip.ParseAddr(addrText[1 : len(addrText)-1]); err == nil && a.Is6() {
			h.Addr = normalize(a)
			return h, nil
		}
	}
	return h, nil // an opaque hop: "unknown", "_hidden", a host name
}

func normalize(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

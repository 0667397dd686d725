package scenario

import (
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Methods are the request methods a step may send. The list is closed so that
// a typo ("GTE") is an error at load time rather than a 405 on a cluster.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// headerName is an HTTP field name (RFC 9110 token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// MethodOrGet is the request's method, GET when unstated.
func (r Request) MethodOrGet() string {
	if r.Method == "" {
		return "GET"
	}
	return r.Method
}

// Header is the value of the first header named name (case-insensitive), and
// whether the request sets it.
func (r Request) Header(name string) (string, bool) {
	for _, h := range r.Headers {
		k, v, ok := strings.Cut(h, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// Resolved is the address curl connects to for the URL's host and port when a
// resolve entry pins them (curl --resolve), and whether one does.
func (r Request) Resolved() (string, bool) {
	u, err := url.Parse(r.URL)
	if err != nil {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, e := range r.Resolve {
		host, p, addr, ok := splitResolve(e)
		if ok && strings.EqualFold(host, u.Hostname()) && p == port {
			return addr, true
		}
	}
	return "", false
}

// CurlArgs are the curl options that send the request as the step states it,
// before the URL (the probe adds its own output and timeout options).
func (r Request) CurlArgs() []string {
	var args []string
	switch m := r.MethodOrGet(); m {
	case "GET":
	case "HEAD":
		// -X HEAD would make curl wait for a body that never comes.
		args = append(args, "-I")
	default:
		args = append(args, "-X", m)
	}
	for _, h := range r.Headers {
		args = append(args, "-H", h)
	}
	for _, e := range r.Resolve {
		args = append(args, "--resolve", e)
	}
	if r.Proxy != "" {
		args = append(args, "-x", r.Proxy)
	}
	if r.FollowRedirects {
		args = append(args, "-L")
	}
	return args
}

// splitResolve reads "host:port:address" (curl --resolve); the address may be
// an IPv6 literal in brackets.
func splitResolve(e string) (host, port, addr string, ok bool) {
	host, rest, ok1 := strings.Cut(e, ":")
	port, addr, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 {
		return "", "", "", false
	}
	return host, port, strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), true
}

// request checks the options of step i's request; its URL is valid.
func (v *validator) request(i int) {
	r := v.s.Steps[i].Request
	rp := joinPath(indexPath("steps", i), "request")
	field := func(name string) string { return joinPath(rp, name) }

	if r.Method != "" && !slices.Contains(Methods, r.Method) {
		v.add(field("method"), "%q is not one of %s (upper case, as sent)", r.Method, strings.Join(Methods, ", "))
	}
	hosts := 0
	for j, h := range r.Headers {
		hp := indexPath(field("headers"), j)
		name, value, ok := strings.Cut(h, ":")
		switch {
		case !ok || !headerName.MatchString(name):
			v.add(hp, "%q is not a header line \"Name: value\" (curl -H)", h)
		case strings.ContainsAny(value, "\r\n\x00"):
			v.add(hp, "%q: a header value holds no line breaks", name)
		case strings.HasPrefix(name, ":"):
			v.add(hp, "%q: pseudo-headers are set by the URL and method, not by headers", name)
		case strings.EqualFold(name, "host"):
			hosts++
			if hosts > 1 {
				v.add(hp, "a second Host header; a request carries one")
			}
		}
	}
	u, _ := url.Parse(r.URL)
	urlPort := u.Port()
	if urlPort == "" {
		urlPort = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for j, e := range r.Resolve {
		ep := indexPath(field("resolve"), j)
		host, port, addr, ok := splitResolve(e)
		n, perr := strconv.Atoi(port)
		_, aerr := netip.ParseAddr(addr)
		switch {
		case !ok || host == "":
			v.add(ep, "%q is not host:port:address (curl --resolve)", e)
		case perr != nil || n < 1 || n > 65535:
			v.add(ep, "%q: port %q is not 1..65535", e, port)
		case aerr != nil:
			v.add(ep, "%q: %q is not an IP address", e, addr)
		case !strings.EqualFold(host, u.Hostname()) || port != urlPort:
			v.add(ep, "%q does not pin the URL's %s: curl would ignore it", e, net.JoinHostPort(u.Hostname(), urlPort))
		}
	}
	if r.Proxy != "" {
		pu, err := url.Parse(r.Proxy)
		switch {
		case err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Hostname() == "":
			v.add(field("proxy"), "%q is not an http:// or https:// proxy URL with a host (curl -x)", r.Proxy)
		case pu.Port() == "":
			v.add(field("proxy"), "%q names no port; curl would guess 1080", r.Proxy)
		}
	}
}

package offline

import (
	"fmt"
	"net"
	"net/url"
	"strconv"

	"istio.io/istio/pilot/pkg/simulation"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// A request through an HTTP proxy (curl -x, istio.io's http-proxy task:
// `HTTPS_PROXY=$PROXY_IP:$PROXY_PORT curl https://en.wikipedia.org/...`) is a
// connection from the client to the proxy, not to the URL's host: curl sends
// the proxy `CONNECT en.wikipedia.org:443 HTTP/1.1` for an https:// URL (then
// TLS to the destination inside the tunnel) and the request in absolute form
// (`GET http://host/path HTTP/1.1`) for an http:// one. So the client's sidecar
// sees plaintext HTTP/1.1 to the proxy's address and port, and routes it by
// that address and port: a TCP ServiceEntry whose addresses hold the proxy's IP
// gives Envoy a listener <IP>_<port> whose TCP proxy sends the connection to
// outbound|<port>||<host> (Istio builds it per ServiceEntry address and TCP port:
// buildSidecarOutboundListeners / buildSidecarOutboundTCPListenerOpts in
// istio/istio pilot/pkg/networking/core/listener.go; the page's sidecar log
// shows outbound|3128||my-company-proxy.com). Without one, the connection takes
// the outbound policy's way: PassthroughCluster under ALLOW_ANY, BlackHoleCluster
// under REGISTRY_ONLY. Where the proxy then forwards the request is the proxy's
// business, outside Istio: not observable offline.

// proxyCall is the connection curl makes to the request's proxy, before DNS
// (simulate resolves a proxy named by a bundle Service's host).
func proxyCall(req scenario.Request, target *url.URL) (simulation.Call, error) {
	pu, err := url.Parse(req.Proxy)
	if err != nil {
		return simulation.Call{}, fmt.Errorf("request.proxy %q: %w", req.Proxy, err)
	}
	port, err := strconv.Atoi(pu.Port())
	if err != nil {
		return simulation.Call{}, fmt.Errorf("request.proxy %q: port: %w", req.Proxy, err)
	}
	call := simulation.Call{
		Address:    externalAddress,
		Port:       port,
		Protocol:   simulation.HTTP,
		TLS:        simulation.Plaintext,
		HostHeader: target.Hostname(),
		Path:       target.EscapedPath(),
		CallMode:   simulation.CallModeOutbound,
	}
	if net.ParseIP(pu.Hostname()) != nil {
		call.Address = pu.Hostname()
	}
	if pu.Scheme == "https" {
		// curl speaks TLS to an https:// proxy, with the proxy's name as SNI.
		call.TLS, call.Sni = simulation.TLS, pu.Hostname()
	}
	if target.Scheme == "https" {
		// CONNECT carries no path (the simulation wants one).
		call.Path = "/"
	}
	return call, nil
}

// proxyHost is the host curl connects to for req: its proxy's when it has one.
func proxyHost(req scenario.Request) string {
	if req.Proxy == "" {
		return ""
	}
	return urlHost(req.Proxy)
}

// proxyLine is how a hop's call reads for a request through a proxy: what curl
// sends to whom, rather than the simulation's view of it.
func proxyLine(req scenario.Request, call simulation.Call) string {
	u, _ := url.Parse(req.URL)
	to := net.JoinHostPort(call.Address, strconv.Itoa(call.Port))
	if u != nil && u.Scheme == "https" {
		port := u.Port()
		if port == "" {
			port = "443"
		}
		return fmt.Sprintf("CONNECT %s to the HTTP proxy %s (curl -x %s)", net.JoinHostPort(u.Hostname(), port), to, req.Proxy)
	}
	return fmt.Sprintf("%s %s to the HTTP proxy %s (curl -x %s)", req.MethodOrGet(), req.URL, to, req.Proxy)
}

// notObservableBeyondProxy is what the offline tier cannot tell about a
// request through a proxy, added to the route's explanation.
const notObservableBeyondProxy = "where the proxy, a program outside Istio, sends the request from there is not observable offline"

// throughProxy says in p what the hop to the proxy was and what stays unknown:
// the route is the client's connection to the proxy (direct: it reaches the
// proxy, wherever that is; blocked: it never does).
func throughProxy(p Path, req scenario.Request, call simulation.Call) Path {
	if p.Sidecar.Proxy != "" {
		p.Sidecar.Call = proxyLine(req, call)
	}
	if p.Route == scenario.RouteDirect {
		p.Why += "; that connection is to the HTTP proxy (" + proxyLine(req, call) + "): " + notObservableBeyondProxy
	}
	return p
}

package evidence

import (
	"context"
	"errors"
	"fmt"
	"github.com/egress-conformance/egress-conformance/pkg/probe/token"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/accesslog"
)

// Target is what identifies one probe's lines.
type Target struct {
	// RequestID is the x-request-id the probe sent: it finds HTTP lines.
	RequestID string
	// LocalAddr is curl's local ip:port: it finds the client sidecar's TCP/TLS
	// line. Empty means curl never connected, so no proxy can have a line for it.
	LocalAddr string
	// Since is when the probe started; lines written before it are not read.
	Since time.Time
}

// Found is what the logs showed for one probe.
type Found struct {
	// Sidecar and Gateway are the client sidecar's and an egress gateway's lines;
	// nil when none was found. SidecarRaw and GatewayRaw are the lines as logged.
	Sidecar, Gateway       *accesslog.Entry
	SidecarRaw, GatewayRaw string
	// GatewayProxy is the gateway pod whose log held Gateway.
	GatewayProxy Proxy
	// Ztunnel and Waypoint are an ambient client's lines (AmbientCollector):
	// the outbound line of the ztunnel on its node and the line of the waypoint
	// the request passed; nil when none was found, and always for a sidecar client.
	Ztunnel                 *accesslog.ZtunnelEntry
	Waypoint                *accesslog.Entry
	ZtunnelRaw, WaypointRaw string
	ZtunnelProxy            Proxy
	WaypointProxy           Proxy
	// LogsObserved is true when the last poll read the sidecar's and every
	// gateway's log without error. Without it, a missing line proves nothing.
	LogsObserved bool
	// NoSidecar: the client has no sidecar (Collector.NoSidecar); Sidecar is nil
	// because there is no such proxy, not because its line is missing.
	NoSidecar bool
	// Notes say what a reader of a verdict should know: duplicate matches,
	// malformed lines, read errors, what was still awaited when time ran out.
	Notes []string
	// Polls is how many times the logs were read; Waited how long it took.
	Polls  int
	Waited time.Duration
}

// Collector reads the client sidecar's and the egress gateways' logs until it has
// the lines of a probe, or knows there will be none.
type Collector struct {
	Source   LogSource
	Sidecar  Proxy
	Gateways []Proxy
	// NoSidecar: the client runs without Istio's sidecar (a scenario client with
	// injected: false), so Sidecar is not read and no sidecar line is awaited.
	// Only the gateways' logs are read, for Flush after the probe: a line there
	// says the request reached an egress gateway, none says it did not.
	NoSidecar bool

	// Poll is the pause between two reads of the logs (required).
	Poll time.Duration
	// Flush is how long a line can take to appear after the request ended (Envoy
	// flushes access logs about once a second). A gateway line is declared absent
	// only after the sidecar's line has been visible for Flush.
	Flush time.Duration
	// Timeout bounds one Collect (required).
	Timeout time.Duration
	// SinceSlack is subtracted from Target.Since before reading: a little more log
	// than the probe's own window, for lines Envoy stamps before curl's start is
	// recorded. (Clock skew between this host and the nodes needs no slack:
	// KubeLogSource sends a duration, SinceSeconds, never an instant.)
	SinceSlack time.Duration

	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// maxMalformedNotes bounds the malformed lines noted per proxy.
const maxMalformedNotes = 3

// Collect polls the logs until the client sidecar's line for t is there and
// either a gateway's line is there too, or one is not coming:
//
//   - the sidecar line names no upstream host (a local reply: block_all,
//     BlackHoleCluster, no route): the request reached no proxy after it;
//   - its upstream host is none of the watched gateway pods (their IPs are known);
//   - gateway IPs are unknown and wantGateway is false;
//
// in which cases a gateway line still counts as absent only once the sidecar's
// line has been visible for Flush: both proxies flush on the same clock, so a
// gateway line that exists shows by then. When the sidecar line names a watched
// gateway pod (or IPs are unknown and wantGateway is true), Collect waits for the
// gateway line until Timeout.
//
// A target without LocalAddr (curl never connected) is looked up for Flush only.
//
// Running out of time is not an error: Collect returns what it found, with a note
// on what it still waited for, so the verdict says what is missing. The error is
// for a misconfigured Collector or an ended ctx (with what was found so far).
func (c Collector) Collect(ctx context.Context, t Target, wantGateway bool) (Found, error) {
	if err := c.check(t); err != nil {
		return Found{}, err
	}
	start := c.now()
	deadline := start.Add(c.Timeout)
	since := t.Since
	if !since.IsZero() {
		since = since.Add(-c.SinceSlack)
	}
	s := &scan{c: c, t: t, since: since, lines: map[int][]line{}, readErr: map[int]error{}, malformed: map[string]bool{}}
	var sidecarSeen time.Time
	for {
		s.poll(ctx)
		f := s.found()
		now := c.now()
		if f.Sidecar != nil && sidecarSeen.IsZero() {
			sidecarSeen = now
		}
		waiting := s.waitingFor(f, wantGateway, now, start, sidecarSeen)
		if waiting == "" {
			return s.finish(f, now.Sub(start), ""), nil
		}
		if !now.Before(deadline) {
			return s.finish(f, now.Sub(start), fmt.Sprintf("gave up after %s waiting for %s", c.Timeout, waiting)), nil
		}
		if err := c.sleep(ctx, min(c.Poll, deadline.Sub(now))); err != nil {
			f := s.finish(f, c.now().Sub(start), "stopped waiting for "+waiting)
			return f, fmt.Errorf("collect access lines for request id %s: %w", t.RequestID, err)
		}
	}
}

func (c Collector) check(t Target) error {
	switch {
	case c.Source == nil:
		return errors.New("evidence: Collector has no LogSource")
	case !c.NoSidecar && (c.Sidecar.Pod == "" || c.Sidecar.Container == ""):
		return errors.New("evidence: Collector has no client sidecar (pod and container)")
	case c.Poll <= 0 || c.Timeout <= 0:
		return fmt.Errorf("evidence: Collector needs Poll and Timeout above zero (got %s, %s)", c.Poll, c.Timeout)
	case t.RequestID == "" && t.LocalAddr == "":
		return errors.New("evidence: target has neither a request id nor a local address")
	}
	return nil
}

// line is one parsed access line of a proxy's log.
type line struct {
	raw   string
	entry accesslog.Entry
}

// scan is the state of one Collect. Proxy index 0 is the sidecar, i+1 is
// Gateways[i].
type scan struct {
	c     Collector
	t     Target
	since time.Time
	polls int
	// lines holds each proxy's access lines from its last successful read: each
	// read covers the whole window since `since`, so it supersedes the previous.
	lines map[int][]line
	// readErr holds each proxy's error of the last poll (nil: read fine).
	readErr map[int]error
	// malformed counts malformed lines per proxy, and remembers those noted.
	malformedCount map[int]int
	malformed      map[string]bool
	notes          []string
}

// first is the index of the first proxy read: 1 (the gateways) when the client
// has no sidecar.
func (s *scan) first() int {
	if s.c.NoSidecar {
		return 1
	}
	return 0
}

func (s *scan) proxy(i int) Proxy {
	if i == 0 {
		return s.c.Sidecar
	}
	return s.c.Gateways[i-1]
}

func (s *scan) poll(ctx context.Context) {
	s.polls++
	for i := s.first(); i <= len(s.c.Gateways); i++ {
		p := s.proxy(i)
		text, err := s.c.Source.Logs(ctx, p, s.since)
		s.readErr[i] = err
		if err != nil {
			continue
		}
		s.lines[i] = s.parse(i, text)
	}
}

// parse keeps the access lines of a log. Lines that are not access lines
// (pilot-agent, Envoy's own messages) are skipped; malformed access lines are
// noted, a few per proxy, since one of them may be the probe's own.
func (s *scan) parse(i int, text string) []line {
	var out []line
	for raw := range strings.SplitSeq(text, "\n") {
		e, err := accesslog.Parse(raw)
		switch {
		case err == nil:
			out = append(out, line{raw: strings.TrimSpace(raw), entry: e})
		case errors.Is(err, accesslog.ErrMalformed):
			key := fmt.Sprint(i) + "\x00" + raw
			if s.malformed[key] {
				continue
			}
			s.malformed[key] = true
			if s.malformedCount == nil {
				s.malformedCount = map[int]int{}
			}
			s.malformedCount[i]++
			if s.malformedCount[i] <= maxMalformedNotes {
				s.notes = append(s.notes, fmt.Sprintf("%s: %v; the whole line: %s", s.proxy(i), err, strings.TrimSpace(raw)))
			}
		}
	}
	return out
}

// found matches the current lines against the target. The gateway match needs
// the sidecar's line first: a gateway TCP line is found by the sidecar line's
// upstream local address.
func (s *scan) found() Found {
	f := Found{NoSidecar: s.c.NoSidecar}
	sc := s.match(0, s.sidecarMatch) // no lines at index 0 without a sidecar
	if sc.ok {
		f.Sidecar, f.SidecarRaw = &sc.entry, sc.raw
	}
	f.Notes = append(f.Notes, sc.notes...)
	for i := 1; i <= len(s.c.Gateways); i++ {
		gw := s.match(i, func(e accesslog.Entry) (bool, string) { return s.gatewayMatch(e, f.Sidecar) })
		if !gw.ok {
			continue
		}
		f.Notes = append(f.Notes, gw.notes...)
		if f.Gateway != nil {
			f.Notes = append(f.Notes, fmt.Sprintf("%s also has a line matching %s; used the one of %s: %s",
				s.proxy(i), gw.by, f.GatewayProxy, gw.raw))
			continue
		}
		f.Gateway, f.GatewayRaw, f.GatewayProxy = &gw.entry, gw.raw, s.proxy(i)
	}
	return f
}

type matched struct {
	ok    bool
	entry accesslog.Entry
	raw   string
	by    string
	notes []string
}

// match returns the first line of proxy i that ok accepts; more than one is noted.
func (s *scan) match(i int, ok func(accesslog.Entry) (bool, string)) matched {
	var m matched
	n := 0
	for _, l := range s.lines[i] {
		hit, by := ok(l.entry)
		if !hit {
			continue
		}
		n++
		if n == 1 {
			m = matched{ok: true, entry: l.entry, raw: l.raw, by: by}
		}
	}
	if n > 1 {
		m.notes = append(m.notes, fmt.Sprintf("%s has %d lines matching %s; used the first: %s", s.proxy(i), n, m.by, m.raw))
	}
	return m
}

// isTCP reports a TCP/TLS line: no method and no request id.
func isTCP(e accesslog.Entry) bool { return e.Method == "" && e.RequestID == "" }

func (s *scan) sidecarMatch(e accesslog.Entry) (bool, string) {
	if s.t.RequestID != "" && e.RequestID == s.t.RequestID {
		return true, "request id " + s.t.RequestID
	}
	if token.In(e.Path, s.t.RequestID) {
		return true, "probe token " + s.t.RequestID + " in the path"
	}
	if s.t.LocalAddr != "" && isTCP(e) && sameAddr(e.DownstreamRemoteAddress, s.t.LocalAddr) {
		return true, "downstream remote address " + s.t.LocalAddr
	}
	return false, ""
}

func (s *scan) gatewayMatch(e accesslog.Entry, sidecar *accesslog.Entry) (bool, string) {
	if s.t.RequestID != "" && e.RequestID == s.t.RequestID {
		return true, "request id " + s.t.RequestID
	}
	// A gateway that treats the sidecar as an external client replaces
	// x-request-id (Envoy >= 1.33 in Istio >= 1.25); the token in the path stays.
	if token.In(e.Path, s.t.RequestID) {
		return true, "probe token " + s.t.RequestID + " in the path (the gateway replaced x-request-id with " + e.RequestID + ")"
	}
	if sidecar != nil && sidecar.UpstreamLocalAddress != "" && isTCP(e) &&
		sameAddr(e.DownstreamRemoteAddress, sidecar.UpstreamLocalAddress) {
		return true, "downstream remote address " + sidecar.UpstreamLocalAddress + " (the client sidecar's upstream local address)"
	}
	return false, ""
}

// waitingFor says what is still awaited, or "" when Collect may return.
func (s *scan) waitingFor(f Found, wantGateway bool, now, start, sidecarSeen time.Time) string {
	for i := s.first(); i <= len(s.c.Gateways); i++ {
		if s.readErr[i] != nil {
			return "a successful read of the log of " + s.proxy(i).String()
		}
	}
	if s.c.NoSidecar {
		// Nothing tells where the request went but a gateway line: one that
		// exists shows within Flush of the probe's end.
		if f.Gateway != nil || len(s.c.Gateways) == 0 || now.Sub(start) >= s.c.Flush {
			return ""
		}
		return fmt.Sprintf("the flush window (%s) to prove no egress gateway line (the client has no sidecar)", s.c.Flush)
	}
	if f.Sidecar == nil {
		if s.t.LocalAddr == "" && now.Sub(start) >= s.c.Flush {
			return "" // curl never connected: nothing could log it
		}
		return "the client sidecar's line (" + s.targetString() + ")"
	}
	if f.Gateway != nil || len(s.c.Gateways) == 0 {
		return ""
	}
	if s.gatewayBound(f.Sidecar, wantGateway) {
		return "the egress gateway's line (the client sidecar sent the request to " + f.Sidecar.UpstreamHost + ")"
	}
	if now.Sub(sidecarSeen) < s.c.Flush {
		return fmt.Sprintf("the flush window (%s) to prove no egress gateway line", s.c.Flush)
	}
	return ""
}

// gatewayBound reports whether the sidecar's line shows the request went to an
// egress gateway, so that the gateway's line must come.
func (s *scan) gatewayBound(sc *accesslog.Entry, wantGateway bool) bool {
	if sc.UpstreamHost == "" {
		return false // a local reply: no upstream host was ever picked
	}
	host := hostOf(sc.UpstreamHost)
	allKnown := true
	for _, g := range s.c.Gateways {
		if g.IP == "" {
			allKnown = false
			continue
		}
		if sameIP(host, g.IP) {
			return true
		}
	}
	if allKnown {
		return false
	}
	return wantGateway
}

func (s *scan) targetString() string {
	var parts []string
	if s.t.RequestID != "" {
		parts = append(parts, "request id "+s.t.RequestID)
	}
	if s.t.LocalAddr != "" {
		parts = append(parts, "or a TCP line from "+s.t.LocalAddr)
	}
	return strings.Join(parts, " ")
}

// finish completes a Found: read errors, the x-request-id hint, polls, the note on
// what was still awaited.
func (s *scan) finish(f Found, waited time.Duration, gaveUp string) Found {
	f.Polls, f.Waited = s.polls, waited
	// The notes of matching come from the last poll only; malformed lines and the
	// rest are added here once.
	f.LogsObserved = true
	for i := s.first(); i <= len(s.c.Gateways); i++ {
		if err := s.readErr[i]; err != nil {
			f.LogsObserved = false
			f.Notes = append(f.Notes, fmt.Sprintf("could not read the log of %s: %v", s.proxy(i), err))
		}
	}
	if len(s.c.Gateways) == 0 {
		f.LogsObserved = false
		f.Notes = append(f.Notes, "no egress gateway pod was watched: no gateway line can be proven absent")
	}
	if f.Sidecar != nil && f.Gateway == nil && !isTCP(*f.Sidecar) && f.Sidecar.UpstreamLocalAddress != "" {
		n := 0
		for i := 1; i <= len(s.c.Gateways); i++ {
			for _, l := range s.lines[i] {
				if !isTCP(l.entry) && sameAddr(l.entry.DownstreamRemoteAddress, f.Sidecar.UpstreamLocalAddress) {
					n++
				}
			}
		}
		if n > 0 {
			f.Notes = append(f.Notes, fmt.Sprintf("%d egress gateway line(s) came over the client sidecar's connection %s but none carries request id %s: did the gateway replace x-request-id?",
				n, f.Sidecar.UpstreamLocalAddress, s.t.RequestID))
		}
	}
	for i := 0; i <= len(s.c.Gateways); i++ {
		if extra := s.malformedCount[i] - maxMalformedNotes; extra > 0 {
			f.Notes = append(f.Notes, fmt.Sprintf("%s: %d more malformed access line(s) not shown", s.proxy(i), extra))
		}
	}
	f.Notes = append(append([]string(nil), s.notes...), f.Notes...)
	if gaveUp != "" {
		f.Notes = append(f.Notes, gaveUp)
	}
	return f
}

func (c Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Collector) sleep(ctx context.Context, d time.Duration) error {
	if c.Sleep != nil {
		return c.Sleep(ctx, d)
	}
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sameAddr compares two ip:port addresses as Envoy and curl print them
// ("10.0.0.1:80", "[fd00::1]:80"); unparsable ones are compared as strings.
func sameAddr(a, b string) bool {
	pa, errA := netip.ParseAddrPort(a)
	pb, errB := netip.ParseAddrPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.Addr().Unmap() == pb.Addr().Unmap() && pa.Port() == pb.Port()
}

// hostOf drops the port of an ip:port.
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

func sameIP(a, b string) bool {
	pa, errA := netip.ParseAddr(a)
	pb, errB := netip.ParseAddr(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.Unmap() == pb.Unmap()
}

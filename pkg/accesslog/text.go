package accesslog

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Istio's default TEXT formats, by release. Every era shares the same head and
// tail; they differ only in the "middle" between %RESPONSE_FLAGS% and
// %BYTES_RECEIVED%, and in how the line ends:
//
//	head   [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS%
//	middle 1.0 (and early 1.1 builds): nothing
//	       1.1–1.2: "%DYNAMIC_METADATA(istio.mixer:status)%"
//	       1.3–1.7: "%DYNAMIC_METADATA(istio.mixer:status)%" "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
//	       1.8:     "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
//	       ≥1.9:    %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "%UPSTREAM_TRANSPORT_FAILURE_REASON%"
//	tail   %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
//	       "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//	       %UPSTREAM_CLUSTER% %UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS%
//	end    1.0: nothing more; early 1.1 and 1.1–1.2: %REQUESTED_SERVER_NAME%;
//	       1.3–1.7 and ≥1.8: %REQUESTED_SERVER_NAME% %ROUTE_NAME%
//
// ≥1.24 prints %UPSTREAM_CLUSTER_RAW% instead of %UPSTREAM_CLUSTER% (the
// change, istio/istio#52384, was also cherry-picked to 1.23): same token
// shape. Sources: istio.io "Envoy Access Logs" task
// (https://istio.io/latest/docs/tasks/observability/logs/access-log/), the
// real lines of each era in parse_test.go, and
// pilot/pkg/model/telemetry_logging.go (EnvoyTextLogFormat) in istio/istio.
//
// The layout is recognised from the shape of each line, not from a setting,
// because one `kubectl logs` stream can span an upgrade. The X-Forwarded-For
// field is the first quoted field at index 8 or later (the four fields
// before it are the byte counts and timings), so its index fixes the
// middle's length, 0 to 3; the quoted/unquoted pattern of the middle and the
// number of fields after %UPSTREAM_HOST% must then match that era exactly.
// Anything else is ErrMalformed. One ambiguity is inherent: a 1.8 line cut
// just before its route name looks like a complete 1.2 line.

// maxTokens is one more than the longest layout (22 tokens), so a line with
// extra fields is detected rather than silently cut.
const maxTokens = 23

// token is one field of a TEXT line; quoted fields have their quotes removed.
type token struct {
	s      string
	quoted bool
}

func parseText(line string) (Entry, error) {
	var toks [maxTokens]token
	n, start, err := tokenize(line, &toks)
	if err != nil {
		return Entry{}, err
	}
	t := toks[:n]

	// Index of "%REQ(X-FORWARDED-FOR)%": first quoted token at index ≥ 8.
	xff := -1
	for i := 8; i < len(t) && i <= 11; i++ {
		if t[i].quoted {
			xff = i
			break
		}
	}
	if xff < 0 {
		return Entry{}, malformed(line, "found %d fields, no layout of any Istio release matches", n)
	}
	// After the five quoted header/host fields: cluster, upstream local,
	// downstream local, downstream remote, then SNI (≥1.1) and route (≥1.3).
	// Which of those may be missing depends on the era, checked below: a
	// ≥1.9 line cut just before its route name must not pass as complete.
	trailing := len(t) - (xff + 5)
	if trailing < 4 || trailing > 6 {
		return Entry{}, malformed(line, "found %d fields, no layout of any Istio release matches", n)
	}
	if !t[1].quoted || t[2].quoted || t[3].quoted {
		return Entry{}, malformed(line, "head must be \"request\" code flags")
	}
	for i := xff - 4; i < xff; i++ {
		if t[i].quoted {
			return Entry{}, malformed(line, "field %d (byte counts and timings) is quoted", i+1)
		}
	}
	for i := xff; i < xff+5; i++ {
		if !t[i].quoted {
			return Entry{}, malformed(line, "field %d (headers and upstream host) is not quoted", i+1)
		}
	}
	for i := xff + 5; i < len(t); i++ {
		if t[i].quoted {
			return Entry{}, malformed(line, "field %d (cluster and addresses) is quoted", i+1)
		}
	}

	var details string
	switch middle := t[4 : xff-4]; len(middle) {
	case 0: // 1.0–1.1: ends with SNI at most
		if trailing == 6 {
			return Entry{}, malformed(line, "a route name without mixer status or details matches no Istio release")
		}
	case 1: // 1.1–1.2 mixer status (no route), or 1.8 transport failure reason (route)
		if !middle[0].quoted {
			return Entry{}, malformed(line, "field 5 must be quoted in the 1.1/1.2/1.8 layouts")
		}
		if trailing == 4 {
			return Entry{}, malformed(line, "line ends before the requested server name")
		}
	case 2: // 1.3–1.7: mixer status, transport failure reason
		if !middle[0].quoted || !middle[1].quoted {
			return Entry{}, malformed(line, "fields 5 and 6 must be quoted in the 1.3–1.7 layout")
		}
		if trailing != 6 {
			return Entry{}, malformed(line, "line ends before the route name")
		}
	case 3: // ≥1.9: details, connection termination details, transport failure reason
		if middle[0].quoted || middle[1].quoted || !middle[2].quoted {
			return Entry{}, malformed(line, "fields 5–7 must be details, termination details, \"failure reason\" in the ≥1.9 layout")
		}
		if trailing != 6 {
			return Entry{}, malformed(line, "line ends before the route name")
		}
		details = empty(middle[0].s)
	}

	var e Entry
	e.StartTime = start
	if e.Method, e.Path, e.Protocol, err = splitRequest(line, t[1].s); err != nil {
		return Entry{}, err
	}
	code, ok := parseCount(t[2].s, 999)
	if !ok {
		return Entry{}, malformed(line, "response code %q is not a status code", t[2].s)
	}
	e.ResponseCode = int(code)
	e.ResponseFlags = empty(t[3].s)
	e.ResponseCodeDetails = details

	b := xff - 4
	if e.BytesReceived, ok = parseCount(t[b].s, math.MaxInt64); !ok {
		return Entry{}, malformed(line, "bytes received %q is not a count", t[b].s)
	}
	if e.BytesSent, ok = parseCount(t[b+1].s, math.MaxInt64); !ok {
		return Entry{}, malformed(line, "bytes sent %q is not a count", t[b+1].s)
	}
	// %DURATION% is not kept, but checking it catches a shifted line that
	// would otherwise pass. %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% is a
	// response header, so it is free text and not checked.
	if _, ok = parseCount(t[b+2].s, math.MaxInt64); !ok {
		return Entry{}, malformed(line, "duration %q is not a count", t[b+2].s)
	}

	e.XForwardedFor = empty(t[xff].s)
	e.UserAgent = empty(t[xff+1].s)
	e.RequestID = empty(t[xff+2].s)
	e.Authority = empty(t[xff+3].s)
	e.UpstreamHost = empty(t[xff+4].s)
	e.UpstreamCluster = stripStatDelimiter(empty(t[xff+5].s))
	e.UpstreamLocalAddress = empty(t[xff+6].s)
	e.DownstreamLocalAddress = empty(t[xff+7].s)
	e.DownstreamRemoteAddress = empty(t[xff+8].s)
	if trailing >= 5 {
		e.RequestedServerName = empty(t[xff+9].s)
	}
	if trailing == 6 {
		e.RouteName = empty(t[xff+10].s)
	}
	return e, nil
}

// tokenize splits a TEXT line into its fields. The first field is the
// "[start time]", parsed here because it decides whether the line is an
// access-log line at all. Fields are separated by exactly one space, as
// Envoy prints them, so an empty unquoted field stays a field. A quoted field
// ends at a quote followed by a space or the end of the line: Envoy does not
// escape quotes inside header values, and this keeps a value such as
// `Java/17 "x"y` in one piece.
func tokenize(line string, toks *[maxTokens]token) (n int, start time.Time, err error) {
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return 0, time.Time{}, errNoBracket
	}
	ts := line[1:end]
	if ts != "-" {
		// Envoy's own log lines also start with "[", but with
		// "2019-02-21 05:38:48.587" or "Envoy (Epoch 0)": not RFC 3339.
		if start, err = time.Parse(time.RFC3339Nano, ts); err != nil {
			return 0, time.Time{}, errNotTime
		}
	}
	toks[0] = token{s: ts}
	n = 1
	pos := end + 1
	for pos < len(line) {
		if line[pos] != ' ' {
			return 0, time.Time{}, malformed(line, "no space before field %d", n+1)
		}
		pos++
		if n == maxTokens {
			return 0, time.Time{}, malformed(line, "more than %d fields", maxTokens-1)
		}
		if pos < len(line) && line[pos] == '"' {
			from := pos + 1
			for {
				q := strings.IndexByte(line[from:], '"')
				if q < 0 {
					return 0, time.Time{}, malformed(line, "field %d has no closing quote", n+1)
				}
				q += from
				if q+1 == len(line) || line[q+1] == ' ' {
					toks[n] = token{s: line[pos+1 : q], quoted: true}
					pos = q + 1
					break
				}
				from = q + 1
			}
		} else {
			sp := strings.IndexByte(line[pos:], ' ')
			if sp < 0 {
				sp = len(line) - pos
			}
			toks[n] = token{s: line[pos : pos+sp]}
			pos += sp
		}
		n++
	}
	return n, start, nil
}

// splitRequest splits "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%
// %PROTOCOL%". The path is everything between the first and the last space,
// so a path with a space (possible in a rejected request) stays whole. TCP
// and TLS lines print "- - -".
func splitRequest(line, s string) (method, path, protocol string, err error) {
	i := strings.IndexByte(s, ' ')
	j := strings.LastIndexByte(s, ' ')
	if i < 0 || i == j {
		return "", "", "", malformed(line, "request %q is not \"METHOD PATH PROTOCOL\"", s)
	}
	return empty(s[:i]), empty(s[i+1 : j]), empty(s[j+1:]), nil
}

func malformed(line, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, fmt.Sprintf(format, args...), excerpt(line))
}

package accesslog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ZtunnelEntry is one access line of ztunnel, the per-node proxy of Istio's ambient
// mode. ztunnel is not Envoy: it writes one line per connection, not per request,
// and knows nothing of HTTP (no method, path, status or x-request-id). The fields
// are the ones ztunnel's access events carry (istio/ztunnel src/proxy/metrics.rs:
// ConnectionResultBuilder::build for "connection opened", ConnectionResult::record
// for "connection complete", log_early_deny for "connection failed"). A field the
// line does not carry is empty (0 for numbers): ztunnel omits a field whose value
// is unknown, e.g. src.identity without mutual TLS, dst.hbone_addr for a plain TCP
// connection.
type ZtunnelEntry struct {
	Time time.Time
	// Level is the line's level: info for a connection that completed without
	// error, error with Error set, warn for "connection failed", debug for
	// "connection opened".
	Level string
	// Message is "connection complete", "connection opened" or "connection failed".
	Message string

	SrcAddr      string // src.addr: the connection's source ip:port
	SrcWorkload  string // src.workload: pod name (or canonical service)
	SrcNamespace string // src.namespace
	SrcIdentity  string // src.identity: SPIFFE id, only with mutual TLS

	// DstAddr is where ztunnel connected: a waypoint's or a pod's ip:15008 for
	// HBONE, the original destination for plain TCP (passthrough).
	DstAddr string
	// DstHboneAddr is the target inside the HBONE tunnel (the address the
	// application dialled, e.g. a service VIP:port); empty without HBONE.
	DstHboneAddr string
	DstService   string // dst.service: the destination service's host name
	DstWorkload  string // dst.workload: the pod ztunnel connected to
	DstNamespace string // dst.namespace
	DstIdentity  string // dst.identity: SPIFFE id, only with mutual TLS

	// Direction is "outbound" (the source's ztunnel) or "inbound" (the
	// destination's ztunnel).
	Direction string
	BytesSent int64  // bytes_sent
	BytesRecv int64  // bytes_recv
	Duration  string // duration, e.g. "13ms"
	// Error is why the connection failed, e.g. "connection closed due to policy
	// rejection: allow policies exist, but none allowed".
	Error string
}

// ztunnelAccessTarget is the tracing target of ztunnel's access events.
const ztunnelAccessTarget = "access"

var (
	errZtunnelShape  = fmt.Errorf("%w: not \"<time>\\t<level>\\t<target>\\t<message>\\t<fields>\"", ErrNotAccessLog)
	errZtunnelTarget = fmt.Errorf("%w: ztunnel line of a target other than %q", ErrNotAccessLog, ztunnelAccessTarget)
)

// ParseZtunnel parses one line of ztunnel's log, in either of the formats
// istio/ztunnel src/telemetry.rs writes (fmt_layer: LOG_FORMAT=json selects
// IstioJsonFormat, anything else IstioFormat):
//
//   - plain, the default:
//     <RFC 3339 time>\t<level>\t<target>\t<message>\t<key>=<value> <key>=<value> ...
//     where a value is written with Rust's Debug formatting: strings quoted with
//     escapes ("sleep-7f8d"), addresses and numbers bare (10.244.0.9:58866, 84).
//     Releases before 1.23 printed some strings bare too; both are accepted.
//   - JSON: one object per line, {"level":"info","time":"<RFC 3339>",
//     "scope":"<target>","message":"…","src.addr":"…",…,"bytes_sent":84,…}, the
//     same fields under the same names, numbers as JSON numbers, then one
//     object per enclosing span under the span's name (access events have none:
//     they are logged with `parent: None`, src/proxy/metrics.rs).
//
// A line of another target (ztunnel's own messages: xds, dns, state…) is
// ErrNotAccessLog; an access line that cannot be read is ErrMalformed. The
// cluster tier installs ztunnel with the plain format (the chart's default,
// logAsJson: false in manifests/charts/ztunnel/values.yaml); a mesh it did not
// install may log JSON, and both are read.
func ParseZtunnel(line string) (ZtunnelEntry, error) {
	line = strings.TrimRight(line, "\r\n")
	line = stripZtunnelKubectlTimestamp(strings.TrimSpace(line))
	if strings.HasPrefix(line, "{") {
		return parseZtunnelJSON(line)
	}
	parts := strings.SplitN(line, "\t", 5)
	if len(parts) < 4 {
		return ZtunnelEntry{}, errZtunnelShape
	}
	e, err := ztunnelHead(parts[0], parts[1], parts[2], parts[3])
	if err != nil {
		return ZtunnelEntry{}, err
	}
	var fields map[string]string
	if len(parts) == 5 {
		if fields, err = ztunnelFields(parts[4]); err != nil {
			return ZtunnelEntry{}, err
		}
	}
	return e.fill(fields)
}

// parseZtunnelJSON reads a line of IstioJsonFormat. Strings stay as they are,
// numbers keep their digits (bytes_sent), and the span objects, which access
// events do not have, are skipped.
func parseZtunnelJSON(line string) (ZtunnelEntry, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var raw map[string]any
	if err := dec.Decode(&raw); err != nil {
		return ZtunnelEntry{}, fmt.Errorf("%w: ztunnel JSON line: %v", ErrNotAccessLog, err)
	}
	head := map[string]string{}
	fields := map[string]string{}
	for k, v := range raw {
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		default:
			continue
		}
		switch k {
		case "time", "level", "scope", "message":
			head[k] = s
		default:
			fields[k] = s
		}
	}
	e, err := ztunnelHead(head["time"], head["level"], head["scope"], head["message"])
	if err != nil {
		return ZtunnelEntry{}, err
	}
	return e.fill(fields)
}

// ztunnelHead reads what precedes the fields in either format, and tells an
// access line from ztunnel's other lines before any field is read.
func ztunnelHead(at, level, target, message string) (ZtunnelEntry, error) {
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return ZtunnelEntry{}, errZtunnelShape
	}
	if target != ztunnelAccessTarget {
		return ZtunnelEntry{}, errZtunnelTarget
	}
	e := ZtunnelEntry{Time: t, Level: level, Message: message}
	if !strings.HasPrefix(e.Message, "connection ") {
		return ZtunnelEntry{}, fmt.Errorf("%w: ztunnel access message %q is none of connection complete/opened/failed", ErrMalformed, e.Message)
	}
	return e, nil
}

// fill sets the entry's fields from the line's, whichever the format.
func (e ZtunnelEntry) fill(fields map[string]string) (ZtunnelEntry, error) {
	if len(fields) == 0 {
		return ZtunnelEntry{}, fmt.Errorf("%w: ztunnel access line without fields", ErrMalformed)
	}
	for k, v := range fields {
		if f, ok := ztunnelStrings[k]; ok {
			*f(&e) = v
			continue
		}
		if f, ok := ztunnelCounts[k]; ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return ZtunnelEntry{}, fmt.Errorf("%w: ztunnel %s=%q is not a number", ErrMalformed, k, v)
			}
			*f(&e) = n
		}
		// Other fields (src.cluster, dst.cluster, and whatever a later ztunnel
		// adds) are read and dropped: an unknown field must not break a parse.
	}
	if e.SrcAddr == "" || e.DstAddr == "" {
		return ZtunnelEntry{}, fmt.Errorf("%w: ztunnel access line without src.addr or dst.addr", ErrMalformed)
	}
	return e, nil
}

// ztunnelStrings and ztunnelCounts map the field names ztunnel's access events
// carry (istio/ztunnel src/proxy/metrics.rs) to the entry's fields.
var (
	ztunnelStrings = map[string]func(*ZtunnelEntry) *string{
		"src.addr":       func(e *ZtunnelEntry) *string { return &e.SrcAddr },
		"src.workload":   func(e *ZtunnelEntry) *string { return &e.SrcWorkload },
		"src.namespace":  func(e *ZtunnelEntry) *string { return &e.SrcNamespace },
		"src.identity":   func(e *ZtunnelEntry) *string { return &e.SrcIdentity },
		"dst.addr":       func(e *ZtunnelEntry) *string { return &e.DstAddr },
		"dst.hbone_addr": func(e *ZtunnelEntry) *string { return &e.DstHboneAddr },
		"dst.service":    func(e *ZtunnelEntry) *string { return &e.DstService },
		"dst.workload":   func(e *ZtunnelEntry) *string { return &e.DstWorkload },
		"dst.namespace":  func(e *ZtunnelEntry) *string { return &e.DstNamespace },
		"dst.identity":   func(e *ZtunnelEntry) *string { return &e.DstIdentity },
		"direction":      func(e *ZtunnelEntry) *string { return &e.Direction },
		"duration":       func(e *ZtunnelEntry) *string { return &e.Duration },
		"error":          func(e *ZtunnelEntry) *string { return &e.Error },
	}
	ztunnelCounts = map[string]func(*ZtunnelEntry) *int64{
		"bytes_sent": func(e *ZtunnelEntry) *int64 { return &e.BytesSent },
		"bytes_recv": func(e *ZtunnelEntry) *int64 { return &e.BytesRecv },
	}
)

// ztunnelFields reads `key=value key="quoted value" ...`.
func ztunnelFields(s string) (map[string]string, error) {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return out, nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \t\"") {
			return nil, fmt.Errorf("%w: ztunnel field without key=value near %q", ErrMalformed, clip(s))
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			v, rest, err := rustDebugString(s)
			if err != nil {
				return nil, fmt.Errorf("%w: ztunnel field %s: %v", ErrMalformed, key, err)
			}
			val, s = v, rest
		} else {
			end := strings.IndexAny(s, " \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		out[key] = val
	}
}

var errUnterminated = errors.New("unterminated quoted value")

// rustDebugString reads a string in Rust's Debug form (`"a\"b"`) at the start of s
// and returns it unescaped, and the rest of s. Rust escapes \" \\ \n \r \t \0,
// and other control characters as \u{hex} (core::char::escape_debug).
func rustDebugString(s string) (string, string, error) {
	var b strings.Builder
	for i := 1; i < len(s); {
		c := s[i]
		switch c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 >= len(s) {
				return "", "", errUnterminated
			}
			switch s[i+1] {
			case '"', '\\', '\'':
				b.WriteByte(s[i+1])
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case '0':
				b.WriteByte(0)
			case 'u':
				end := strings.IndexByte(s[i:], '}')
				if !strings.HasPrefix(s[i+2:], "{") || end < 0 {
					return "", "", fmt.Errorf("bad \\u escape")
				}
				n, err := strconv.ParseUint(s[i+3:i+end], 16, 32)
				if err != nil || !utf8.ValidRune(rune(n)) {
					return "", "", fmt.Errorf("bad \\u escape %q", s[i:i+end+1])
				}
				b.WriteRune(rune(n))
				i += end + 1
				continue
			default:
				return "", "", fmt.Errorf("unknown escape \\%c", s[i+1])
			}
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", "", errUnterminated
}

// stripZtunnelKubectlTimestamp drops the "<RFC 3339 time> " that `kubectl logs
// --timestamps` puts before ztunnel's own tab-separated time.
func stripZtunnelKubectlTimestamp(line string) string {
	sp := strings.IndexByte(line, ' ')
	tab := strings.IndexByte(line, '\t')
	if sp < 0 || (tab >= 0 && tab < sp) {
		return line
	}
	if _, err := time.Parse(time.RFC3339Nano, line[:sp]); err != nil {
		return line
	}
	return strings.TrimLeft(line[sp+1:], " ")
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

package accesslog

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

var (
	// ErrNotAccessLog reports a line that is not an access-log line at all:
	// an empty line, a pilot-agent or Envoy message such as
	// "2024-01-01T00:00:00.000000Z\tinfo\txdsproxy\t...", or Envoy's own
	// "[2019-02-21 05:38:48.587][18][warning][config] ..." format. `kubectl logs`
	// of istio-proxy interleaves these with access lines, so callers usually
	// skip them.
	ErrNotAccessLog = errors.New("accesslog: not an access-log line")

	// ErrMalformed reports a line that starts like an access-log line (a
	// "[start time]" prefix, or a JSON object with access-log keys) but does
	// not match any Istio format: truncated, a custom format, a broken field.
	// Unlike ErrNotAccessLog this is worth showing to a human.
	ErrMalformed = errors.New("accesslog: malformed access-log line")
)

// The reasons a line is not an access line. They are fixed values, without
// the line, because most lines of an istio-proxy log are of this kind and
// ParseAll skips them: rejecting one must not allocate. The caller has the
// line if it wants to show it.
var (
	errEmpty      = fmt.Errorf("%w: empty line", ErrNotAccessLog)
	errNoPrefix   = fmt.Errorf("%w: starts with neither \"[start time]\" nor \"{\"", ErrNotAccessLog)
	errNoBracket  = fmt.Errorf("%w: no closing \"]\" after \"[\"", ErrNotAccessLog)
	errNotTime    = fmt.Errorf("%w: \"[...]\" does not hold an RFC 3339 start time", ErrNotAccessLog)
	errNoJSONKeys = fmt.Errorf("%w: JSON object with fewer than 3 access-log keys", ErrNotAccessLog)
)

// Parse parses one access-log line written by an Istio proxy. The format is
// detected per line, never configured: Istio's TEXT format of every release
// from 1.0 on (see text.go for the layouts) and the JSON encoding (any key
// order, missing keys and null are empty). Surrounding whitespace, including a
// trailing "\n" or "\r\n", is ignored, and so is the timestamp that `kubectl
// logs --timestamps` prefixes.
//
// On error the returned Entry is always the zero Entry, and the error matches
// ErrNotAccessLog or ErrMalformed with errors.Is.
func Parse(line string) (Entry, error) {
	line = trimSpace(line)
	if line == "" {
		return Entry{}, errEmpty
	}
	line = stripKubectlTimestamp(line)
	switch line[0] {
	case '[':
		return parseText(line)
	case '{':
		return parseJSON(line)
	}
	return Entry{}, errNoPrefix
}

// maxLineBytes bounds one line in ParseAll. Access lines are a few hundred
// bytes; the bound only protects against a stream without newlines.
const maxLineBytes = 4 << 20

// ParseAll parses every line of r (for example the output of `kubectl logs -c
// istio-proxy`). Lines that are not access-log lines (ErrNotAccessLog) are
// skipped silently. A malformed access-log line does not stop the scan: its
// error, with the line number, is joined into the returned error while the
// entries of all good lines are still returned, in input order. A read error
// ends the scan and is joined the same way.
func ParseAll(r io.Reader) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	var (
		entries []Entry
		errs    []error
		n       int
	)
	for sc.Scan() {
		n++
		// sc.Text copies the line, so the entry may outlive the scanner buffer.
		e, err := Parse(sc.Text())
		switch {
		case err == nil:
			entries = append(entries, e)
		case errors.Is(err, ErrNotAccessLog):
		default:
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("after line %d: %w", n, err))
	}
	return entries, errors.Join(errs...)
}

// stripKubectlTimestamp removes the RFC 3339 timestamp and space that
// `kubectl logs --timestamps` (PodLogOptions.Timestamps) puts before every
// line, e.g. "2020-11-22T20:04:54.223086877Z [2020-11-22T20:04:33.157Z] ...",
// but only when an access line ("[" or "{") follows. pilot-agent's own lines
// also start with a timestamp, followed by a tab, and are left alone.
func stripKubectlTimestamp(line string) string {
	if c := line[0]; c < '0' || c > '9' {
		return line
	}
	// "2006-01-02T15:04:05Z" is 20 bytes; nanoseconds and an offset add 16.
	sp := strings.IndexByte(line, ' ')
	if sp < 20 || sp > 36 || sp+1 == len(line) {
		return line
	}
	if c := line[sp+1]; c != '[' && c != '{' {
		return line
	}
	if _, err := time.Parse(time.RFC3339Nano, line[:sp]); err != nil {
		return line
	}
	return line[sp+1:]
}

// trimSpace trims ASCII whitespace only: cheaper than strings.TrimSpace and
// Envoy never pads with anything else.
func trimSpace(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// empty maps Envoy's placeholder for a missing value to "".
func empty(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// parseCount parses a non-negative decimal integer of at most max, where "-"
// and "" mean 0. Hand-written rather than strconv.ParseInt because it must
// reject signs ("+1", "-1" would hide a misaligned field) and it runs several
// times per line on the hot path.
func parseCount(s string, max int64) (int64, bool) {
	if s == "" || s == "-" {
		return 0, true
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (max-d)/10 { // n*10+d would exceed max (and never overflows)
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseNumber is parseCount for JSON values, which older Envoy versions print
// as strings ("200") and newer ones as numbers (200), possibly with a
// fraction or exponent since the JSON formatter goes through a double.
func parseNumber(s string, max int64) (int64, bool) {
	if n, ok := parseCount(s, max); ok {
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > float64(max) || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

// excerpt quotes the start of a line for an error message without dumping a
// huge line into logs.
func excerpt(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// stripStatDelimiter removes the ";" that Istio (≥1.22) appends to a
// cluster's alt_stat_name (constants.StatPrefixDelimiter) to help stat tag
// extraction. %UPSTREAM_CLUSTER% prints the alt_stat_name, so a custom format
// copied from the pre-1.23 default shows "outbound|80||httpbin.org;". The
// default format switched to %UPSTREAM_CLUSTER_RAW% to hide it
// (istio/istio#52384); a cluster name never contains ";", so dropping it is
// safe and keeps expectations like "outbound|80||httpbin.org" portable.
func stripStatDelimiter(s string) string {
	return strings.TrimSuffix(s, ";")
}

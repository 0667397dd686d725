package origin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// ErrNoForwardedFor is returned (wrapped) by FromBody for a /headers answer that
// carries no X-Forwarded-For header. python httpbin (httpbin.org) hides that
// header from /headers unless the query has show_env=1; go-httpbin shows it, so
// there its absence means no proxy on the way added one. Callers decide which of
// the two they are talking to.
var ErrNoForwardedFor = errors.New("no X-Forwarded-For header in the /headers answer")

// FromBody extracts the origin chain from an httpbin answer. target is the path
// the request was sent to ("/ip", "/get", "/anything/x", "/headers"), with or
// without a query, or the whole URL ("http://httpbin.org/ip"); it chooses the
// field:
//
//   - /ip, /get, /anything[/...], /post, /put, /patch, /delete, /delay/N: the
//     "origin" field. go-httpbin's /ip?format=text answers plain text, which is
//     accepted too.
//   - /headers: the X-Forwarded-For header (any letter case), a string in python
//     httpbin, a list of strings in go-httpbin (repeated header lines, joined in
//     order as HTTP/1.1 joins them).
func FromBody(target string, body []byte) (Chain, error) {
	path, query, err := splitTarget(target)
	if err != nil {
		return nil, err
	}
	switch {
	case path == "/headers":
		return fromHeaders(body)
	case path == "/ip" && query.Get("format") == "text":
		return Parse(string(body))
	case hasOrigin(path):
		return fromOriginField(path, body)
	default:
		return nil, fmt.Errorf("origin: httpbin path %q reports no origin (use /ip, /get, /anything or /headers)", path)
	}
}

func splitTarget(target string) (string, url.Values, error) {
	u, err := url.Parse(strings.TrimSpace(target))
	if err != nil {
		return "", nil, fmt.Errorf("origin: request target %q: %w", target, err)
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	return p, u.Query(), nil
}

func hasOrigin(path string) bool {
	switch path {
	case "/ip", "/get", "/anything", "/post", "/put", "/patch", "/delete":
		return true
	}
	return strings.HasPrefix(path, "/anything/") || strings.HasPrefix(path, "/delay/")
}

func fromOriginField(path string, body []byte) (Chain, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("origin: %s answer is not a JSON object: %w (body %s)", path, err, quote(body))
	}
	raw, ok := doc["origin"]
	if !ok {
		return nil, fmt.Errorf("origin: %s answer has no \"origin\" field (body %s)", path, quote(body))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("origin: %s answer's \"origin\" is not a string: %s", path, raw)
	}
	return Parse(s)
}

func fromHeaders(body []byte) (Chain, error) {
	var doc struct {
		Headers map[string]json.RawMessage `json:"headers"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("origin: /headers answer is not a JSON object: %w (body %s)", err, quote(body))
	}
	if doc.Headers == nil {
		return nil, fmt.Errorf("origin: /headers answer has no \"headers\" object (body %s)", quote(body))
	}
	var keys []string
	for k := range doc.Headers {
		if strings.EqualFold(k, "X-Forwarded-For") {
			keys = append(keys, k)
		}
	}
	switch len(keys) {
	case 0:
		return nil, fmt.Errorf("origin: %w", ErrNoForwardedFor)
	case 1:
	default:
		sort.Strings(keys)
		return nil, fmt.Errorf("origin: /headers answer has X-Forwarded-For under several spellings %q", keys)
	}
	raw := doc.Headers[keys[0]]
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return Parse(one)
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("origin: X-Forwarded-For is neither a string nor a list of strings: %s", raw)
	}
	if len(many) == 0 {
		return nil, fmt.Errorf("origin: %w (empty list)", ErrNoForwardedFor)
	}
	return Parse(strings.Join(many, ", "))
}

// quote shortens a body for an error message.
func quote(body []byte) string {
	const max = 512
	b := bytes.TrimSpace(body)
	if len(b) > max {
		return fmt.Sprintf("%q…(%d bytes)", b[:max], len(body))
	}
	return fmt.Sprintf("%q", b)
}

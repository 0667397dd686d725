// Package probe sends one request from the client pod: it execs curl in the client
// container and reads back, from that one exec, the answer's body and HTTP status,
// curl's exit code, and the local address curl's connection used.
//
// The local address matters because TCP and TLS access-log lines carry no
// x-request-id: for outbound traffic captured by iptables, the client sidecar
// logs curl's own ip:port as its DOWNSTREAM_REMOTE_ADDRESS, which is how
// pkg/evidence finds the sidecar's line for an HTTPS request.
//
// Only transport failures (the exec could not reach the container) are retried,
// each time with a fresh request id; a wrong answer is an answer, never retried.
package probe

import (
	"errors"
	"fmt"
	"github.com/egress-conformance/egress-conformance/pkg/probe/token"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Request is one request the client sends.
type Request struct {
	// URL is what curl is given, e.g. http://httpbin.org/ip.
	URL string
	// RequestID is sent as x-request-id. Istio's access-log format prints it, so it
	// finds this request's lines and no neighbour's. Empty: Probe makes one.
	RequestID string
	// Timeout is curl's --max-time: the whole transfer, connect included. Zero
	// leaves curl unbounded; the exec's context still bounds it.
	Timeout time.Duration
	// TrustArgs are extra curl options for trusting the server, e.g. the hermetic
	// stand-in's --pinnedpubkey; they never change where the request goes.
	TrustArgs []string
	// Options are the scenario's own request options (scenario.Request.CurlArgs:
	// method, headers, --resolve, proxy, redirects), passed to curl as written.
	Options []string
}

// NewRequestID returns a fresh random (version 4) UUID, the form Envoy itself
// generates for x-request-id.
func NewRequestID() string { return uuid.NewString() }

// writeOutMarker starts the line curl prints after the body (--write-out). It is
// printed on a line of its own; a body that happens to contain it cannot fool the
// parser, which takes the last occurrence (curl writes --write-out after the body).
const writeOutMarker = "@@egress-conformance-probe@@"

// writeOut is curl's --write-out format: a newline (the body may not end with one),
// the marker, then key=value pairs, so that a variable an old curl does not know
// (printed empty) cannot shift the others. %{http_code} is 000 when there was no
// HTTP answer; %{local_ip} and %{local_port} are empty or 0 when curl never
// connected. All three exist since curl 7.29.
const writeOut = "\n" + writeOutMarker + " http_code=%{http_code} local_ip=%{local_ip} local_port=%{local_port}\n"

// Command is the exact argv run in the client container (DRY_RUN prints it). It is
// pure. No shell is involved: curl's exit code comes back as the exec's exit status.
//
//   - --silent --show-error: no progress meter, but curl's error message on stderr;
//   - --max-time: curl gives up (exit 28) before the exec's own deadline;
//   - --header x-request-id: the id Istio's access lines print;
//   - --write-out: status and local address after the body, on stdout;
//   - --url: the URL as an option value, so a URL can never be read as an option.
func Command(r Request) []string {
	argv := []string{"curl", "--silent", "--show-error"}
	if r.Timeout > 0 {
		argv = append(argv, "--max-time", strconv.FormatFloat(r.Timeout.Seconds(), 'f', -1, 64))
	}
	if r.RequestID != "" {
		argv = append(argv, "--header", "x-request-id: "+r.RequestID)
	}
	// The id also rides in the query string: gateways may replace x-request-id
	// (see package token), the query string they never touch.
	argv = append(argv, r.TrustArgs...)
	argv = append(argv, r.Options...)
	return append(argv, "--write-out", writeOut, "--url", token.Tag(r.URL, r.RequestID))
}

// Result is what one probe observed.
type Result struct {
	// RequestID is the x-request-id of the attempt this result comes from.
	RequestID string
	// EarlierRequestIDs are the ids of attempts lost to transport errors before
	// this one: any of them may have reached a proxy, so a line with one of them is
	// a retry's trace, not this request's.
	EarlierRequestIDs []string
	// Status is the HTTP status curl reported; 0 means no HTTP answer.
	Status int
	// CurlExit is curl's exit code (0, 7 could not connect, 28 timeout, 35 TLS
	// handshake failed, 52 empty reply, 56 reset...).
	CurlExit int
	// Body is the answer's body, as curl wrote it (bounded, see maxBody).
	Body string
	// LocalAddr is curl's local ip:port ("10.244.0.27:49692", "[fd00::5]:40000"),
	// empty when curl never connected.
	LocalAddr string
	// Stderr is curl's error output ("curl: (35) Recv failure: ...").
	Stderr string
	// Command is the argv that ran.
	Command []string
	// Started is when the exec began; Duration how long it took.
	Started  time.Time
	Duration time.Duration
}

// ErrNoWriteOut reports an exec whose output lacks curl's --write-out line: curl
// did not run to completion (not installed, killed, out of memory), so the output
// says nothing about the request. It is not a transport failure and not retried.
var ErrNoWriteOut = errors.New("probe: curl printed no --write-out line")

// writeOutFields is what parseOutput reads from curl's stdout.
type writeOutFields struct {
	body      string
	status    int
	localAddr string
}

// parseOutput splits curl's stdout into the body and the --write-out line. It
// takes the last marker line: --write-out is written after the body.
func parseOutput(stdout string) (writeOutFields, error) {
	i := strings.LastIndex(stdout, "\n"+writeOutMarker)
	if i < 0 {
		return writeOutFields{}, ErrNoWriteOut
	}
	out := writeOutFields{body: stdout[:i]}
	line := stdout[i+1+len(writeOutMarker):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	kv := map[string]string{}
	for f := range strings.FieldsSeq(line) {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	code, ok := kv["http_code"]
	if !ok {
		return out, fmt.Errorf("%w: the write-out line %q has no http_code", ErrNoWriteOut, line)
	}
	status, err := strconv.Atoi(code)
	if err != nil || status < 0 || status > 999 {
		return out, fmt.Errorf("%w: http_code %q in %q is not a status", ErrNoWriteOut, code, line)
	}
	out.status = status // 000 → 0: no HTTP answer
	if ip, port := kv["local_ip"], kv["local_port"]; ip != "" && port != "" && port != "0" {
		// JoinHostPort brackets IPv6 the way Envoy prints addresses.
		out.localAddr = net.JoinHostPort(ip, port)
	}
	return out, nil
}

package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	utilexec "k8s.io/client-go/util/exec"
)

// Real httpbin.org answers to /ip from a sleep pod (10.244.104.16), Istio 1.16.0,
// 2022-12-01: straight from the sidecar, then through the egress gateway (the
// client pod's IP first). github.com/cloudzun/istiolabmanual manual.md, "6.Egress"
// (the same bodies are in pkg/expect/evidence_data_test.go).
const (
	bodyIPDirect     = "{\n  \"origin\": \"20.205.45.50\"\n}\n"
	bodyIPViaGateway = "{\n  \"origin\": \"10.244.104.16, 20.205.45.50\"\n}\n"
)

// curlStdout is what curl writes to stdout for Command's --write-out: the body,
// then the write-out line with curl's variables filled in. curl prints the
// write-out even when the transfer failed, with http_code 000: the Istio 1.0
// "Authentication Policy" task shows `-w "%{http_code}\n"` printing 000 before
// "command terminated with exit code 35" (istio/istio.io
// content/docs/tasks/security/authn-policy/index.md, 2018).
func curlStdout(body string, code, localIP string, localPort int) string {
	return body + "\n" + writeOutMarker + fmt.Sprintf(" http_code=%s local_ip=%s local_port=%d\n", code, localIP, localPort)
}

func TestCommand(t *testing.T) {
	got := Command(Request{URL: "http://httpbin.org/ip", RequestID: "0b6f3c52-2f1e-4f7e-9d55-0a4c2f1b9e11", Timeout: 10 * time.Second})
	want := []string{"curl", "--silent", "--show-error", "--max-time", "10",
		"--header", "x-request-id: 0b6f3c52-2f1e-4f7e-9d55-0a4c2f1b9e11",
		"--write-out", "\n" + writeOutMarker + " http_code=%{http_code} local_ip=%{local_ip} local_port=%{local_port}\n",
		"--url", "http://httpbin.org/ip?egress-conformance-probe=0b6f3c52-2f1e-4f7e-9d55-0a4c2f1b9e11"}
	if !slices.Equal(got, want) {
		t.Errorf("Command =\n%q\nwant\n%q", got, want)
	}
	if got := Command(Request{URL: "https://example.com", Timeout: 2500 * time.Millisecond}); !slices.Contains(got, "2.5") || slices.Contains(got, "--header") {
		t.Errorf("fractional timeout, no id: %q", got)
	}
	if got := Command(Request{URL: "-K/etc/passwd"}); got[len(got)-2] != "--url" {
		t.Errorf("the URL must be the value of --url: %q", got)
	}
}

func TestNewRequestID(t *testing.T) {
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewRequestID(), NewRequestID()
	if !v4.MatchString(a) || a == b {
		t.Errorf("ids %q %q: want two different UUID v4", a, b)
	}
}

func TestParseOutput(t *testing.T) {
	for _, tt := range []struct {
		name       string
		stdout     string
		wantBody   string
		wantStatus int
		wantAddr   string
		wantErr    bool
	}{
		{name: "httpbin /ip direct", stdout: curlStdout(bodyIPDirect, "200", "10.244.104.16", 43594),
			wantBody: bodyIPDirect, wantStatus: 200, wantAddr: "10.244.104.16:43594"},
		{name: "httpbin /ip through the gateway", stdout: curlStdout(bodyIPViaGateway, "200", "10.244.104.16", 57680),
			wantBody: bodyIPViaGateway, wantStatus: 200, wantAddr: "10.244.104.16:57680"},
		{name: "body without a final newline", stdout: curlStdout(strings.TrimSuffix(bodyIPDirect, "\n"), "200", "10.244.104.16", 43594),
			wantBody: strings.TrimSuffix(bodyIPDirect, "\n"), wantStatus: 200, wantAddr: "10.244.104.16:43594"},
		// REGISTRY_ONLY http://example.com: block_all's 502 has an empty body.
		{name: "empty body 502", stdout: curlStdout("", "502", "10.244.0.27", 35284),
			wantStatus: 502, wantAddr: "10.244.0.27:35284"},
		// REGISTRY_ONLY https://example.com: the sidecar resets the TLS handshake.
		{name: "no HTTP answer", stdout: curlStdout("", "000", "10.244.0.27", 49692),
			wantStatus: 0, wantAddr: "10.244.0.27:49692"},
		{name: "never connected", stdout: curlStdout("", "000", "", 0), wantStatus: 0},
		{name: "IPv6", stdout: curlStdout(bodyIPDirect, "200", "fd00:10:244::5", 40000),
			wantBody: bodyIPDirect, wantStatus: 200, wantAddr: "[fd00:10:244::5]:40000"},
		{name: "a body that mimics the marker", stdout: curlStdout("\n"+writeOutMarker+" http_code=418 local_ip=1.2.3.4 local_port=1\n", "200", "10.244.104.16", 43594),
			wantBody: "\n" + writeOutMarker + " http_code=418 local_ip=1.2.3.4 local_port=1\n", wantStatus: 200, wantAddr: "10.244.104.16:43594"},
		{name: "no write-out", stdout: bodyIPDirect, wantErr: true},
		{name: "write-out cut", stdout: bodyIPDirect + "\n" + writeOutMarker, wantErr: true},
		{name: "status not a number", stdout: curlStdout("", "abc", "", 0), wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOutput(tt.stdout)
			if tt.wantErr {
				if !errors.Is(err, ErrNoWriteOut) {
					t.Fatalf("err = %v, want ErrNoWriteOut", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.body != tt.wantBody || got.status != tt.wantStatus || got.localAddr != tt.wantAddr {
				t.Errorf("got body %q status %d addr %q; want %q %d %q", got.body, got.status, got.localAddr, tt.wantBody, tt.wantStatus, tt.wantAddr)
			}
		})
	}
}

// fakeExec plays recorded exec outcomes in order and records the calls.
type fakeExec struct {
	mu    sync.Mutex
	steps []execStep
	calls [][]string
}

type execStep struct {
	stdout, stderr string
	code           int
	err            error
}

func (f *fakeExec) Exec(ctx context.Context, namespace, pod, container string, command []string, stdout, stderr io.Writer) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, command)
	if len(f.steps) == 0 {
		return 0, errors.New("fakeExec: no more steps")
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	io.WriteString(stdout, s.stdout)
	io.WriteString(stderr, s.stderr)
	return s.code, s.err
}

// idOf returns the x-request-id a recorded command sent.
func idOf(cmd []string) string {
	for i, a := range cmd {
		if a == "--header" && i+1 < len(cmd) {
			return strings.TrimPrefix(cmd[i+1], "x-request-id: ")
		}
	}
	return ""
}

type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func newProber(f *fakeExec, c *fakeClock) Prober {
	return Prober{Exec: f, Namespace: "egress-gateway-http", Pod: "sleep-7f9c", Container: "sleep",
		Retries: 2, RetryWait: time.Second, Now: c.Now, Sleep: c.Sleep}
}

// Transport errors as the API server reports a kubelet it cannot reach, quoted
// from kubectl exec output in kubernetes/kubernetes#40817 and #107186.
var (
	errDialBackend = errors.New(`error dialing backend: dial tcp 172.18.10.229:10250: getsockopt: connection refused`)
	errDialTimeout = errors.New(`error dialing backend: dial tcp 10.0.3.123:10250: i/o timeout`)
)

func TestProbe(t *testing.T) {
	t.Run("an answer", func(t *testing.T) {
		f := &fakeExec{steps: []execStep{{stdout: curlStdout(bodyIPViaGateway, "200", "10.244.104.16", 57680)}}}
		c := &fakeClock{now: time.Unix(1700000000, 0)}
		r := Request{URL: "http://httpbin.org/ip", RequestID: "81f48ace-057e-978a-85b4-1bcecdb48e27", Timeout: 10 * time.Second}
		res, err := newProber(f, c).Probe(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		if res.RequestID != r.RequestID || res.Status != 200 || res.CurlExit != 0 || res.Body != bodyIPViaGateway ||
			res.LocalAddr != "10.244.104.16:57680" || len(res.EarlierRequestIDs) != 0 || !slices.Equal(res.Command, Command(r)) {
			t.Errorf("result = %+v", res)
		}
		if idOf(f.calls[0]) != r.RequestID {
			t.Errorf("sent id %q, want %q", idOf(f.calls[0]), r.RequestID)
		}
	})
	t.Run("a failed request is an answer, not retried", func(t *testing.T) {
		// REGISTRY_ONLY https: curl exit 35; the exec itself worked. The stderr is
		// curl's message for a reset handshake as a public kubectl exec transcript
		// in cilium/cilium's documentation quotes it.
		f := &fakeExec{steps: []execStep{{stdout: curlStdout("", "000", "10.244.0.27", 49692),
			stderr: "curl: (35) Recv failure: Connection reset by peer\n", code: 35}}}
		res, err := newProber(f, &fakeClock{}).Probe(context.Background(), Request{URL: "https://example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if len(f.calls) != 1 || res.CurlExit != 35 || res.Status != 0 || res.LocalAddr != "10.244.0.27:49692" ||
			!strings.Contains(res.Stderr, "(35)") || res.RequestID == "" {
			t.Errorf("calls %d result %+v", len(f.calls), res)
		}
	})
	t.Run("transport errors are retried with fresh ids", func(t *testing.T) {
		f := &fakeExec{steps: []execStep{{err: errDialBackend}, {err: errDialTimeout},
			{stdout: curlStdout(bodyIPDirect, "200", "10.244.104.16", 43594)}}}
		c := &fakeClock{}
		res, err := newProber(f, c).Probe(context.Background(), Request{URL: "http://httpbin.org/ip", RequestID: "e839b6e0-060c-9c78-9f97-26dda40d94d0"})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{idOf(f.calls[0]), idOf(f.calls[1]), idOf(f.calls[2])}
		if ids[0] != "e839b6e0-060c-9c78-9f97-26dda40d94d0" || ids[1] == ids[0] || ids[2] == ids[1] || ids[2] == ids[0] {
			t.Errorf("ids per attempt %q: want the given one, then fresh ones", ids)
		}
		if res.RequestID != ids[2] || !slices.Equal(res.EarlierRequestIDs, ids[:2]) {
			t.Errorf("result id %q earlier %q; want %q and %q", res.RequestID, res.EarlierRequestIDs, ids[2], ids[:2])
		}
		if !slices.Equal(c.sleeps, []time.Duration{time.Second, time.Second}) {
			t.Errorf("waits %v, want RetryWait before each retry", c.sleeps)
		}
	})
	t.Run("retries are bounded and every id is reported", func(t *testing.T) {
		f := &fakeExec{steps: []execStep{{err: errDialBackend}, {err: errDialBackend}, {err: errDialBackend}, {err: errDialBackend}}}
		_, err := newProber(f, &fakeClock{}).Probe(context.Background(), Request{URL: "http://httpbin.org/ip"})
		var ee *ExecError
		if !errors.As(err, &ee) || len(f.calls) != 3 || len(ee.RequestIDs) != 3 {
			t.Fatalf("err %v after %d calls", err, len(f.calls))
		}
		for _, want := range append([]string{"pod egress-gateway-http/sleep-7f9c", "container sleep", "http://httpbin.org/ip", "exec failed 3 time(s)"}, ee.RequestIDs...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if !errors.Is(err, errDialBackend) {
			t.Errorf("the last transport error must be wrapped")
		}
	})
	t.Run("an ended context stops the retries", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		f := &fakeExec{steps: []execStep{{err: context.Canceled}, {err: context.Canceled}}}
		_, err := newProber(f, &fakeClock{}).Probe(ctx, Request{URL: "http://httpbin.org/ip"})
		if err == nil || len(f.calls) != 1 {
			t.Fatalf("err %v after %d calls, want one call", err, len(f.calls))
		}
	})
	t.Run("curl that did not finish is no result and not retried", func(t *testing.T) {
		f := &fakeExec{steps: []execStep{{code: 137}}}
		res, err := newProber(f, &fakeClock{}).Probe(context.Background(), Request{URL: "http://httpbin.org/ip"})
		if !errors.Is(err, ErrNoWriteOut) || len(f.calls) != 1 || res.CurlExit != 137 {
			t.Fatalf("err %v calls %d exit %d", err, len(f.calls), res.CurlExit)
		}
		if !strings.Contains(err.Error(), res.RequestID) || !strings.Contains(err.Error(), "sleep-7f9c") {
			t.Errorf("error %q must name the request id and pod", err)
		}
	})
	t.Run("no executor, no URL", func(t *testing.T) {
		if _, err := (Prober{}).Probe(context.Background(), Request{URL: "http://x"}); err == nil {
			t.Error("no executor: no error")
		}
		if _, err := newProber(&fakeExec{}, &fakeClock{}).Probe(context.Background(), Request{}); err == nil {
			t.Error("no URL: no error")
		}
	})
}

func TestProbeBoundsTheBody(t *testing.T) {
	big := strings.Repeat("x", 3*maxBody)
	f := &fakeExec{steps: []execStep{{stdout: curlStdout(big, "200", "10.244.104.16", 43594)}}}
	res, err := newProber(f, &fakeClock{}).Probe(context.Background(), Request{URL: "http://httpbin.org/bytes/3145728"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.LocalAddr != "10.244.104.16:43594" {
		t.Errorf("status %d addr %q: the write-out line must survive a large body", res.Status, res.LocalAddr)
	}
	if len(res.Body) > maxBody+tailKeep+100 || !strings.Contains(res.Body, "bytes dropped") {
		t.Errorf("body of %d bytes, want it bounded with a note", len(res.Body))
	}
}

func TestExitCode(t *testing.T) {
	code, err := exitCode(utilexec.CodeExitError{Err: errors.New("command terminated with exit code 35"), Code: 35})
	if code != 35 || err != nil {
		t.Errorf("CodeExitError: %d %v", code, err)
	}
	code, err = exitCode(fmt.Errorf("stream: %w", utilexec.CodeExitError{Err: errors.New("command terminated with exit code 7"), Code: 7}))
	if code != 7 || err != nil {
		t.Errorf("wrapped CodeExitError: %d %v", code, err)
	}
	if _, err := exitCode(errDialBackend); err == nil {
		t.Error("a transport error must stay an error")
	}
	if code, err := exitCode(nil); code != 0 || err != nil {
		t.Errorf("nil: %d %v", code, err)
	}
}

// The KubeExecutor against a stand-in API server that refuses every exec: it
// must try WebSocket, fall back to SPDY, address the right pod and container,
// and report a transport error naming them.
func TestKubeExecutorPlumbing(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		mu.Unlock()
		http.Error(w, "exec refused by the test server", http.StatusForbidden)
	}))
	defer srv.Close()
	ex, err := NewKubeExecutor(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	cmd := Command(Request{URL: "http://httpbin.org/ip", RequestID: "e839b6e0-060c-9c78-9f97-26dda40d94d0", Timeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = ex.Exec(ctx, "egress-gateway-http", "sleep-7f9c", "sleep", cmd, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pod egress-gateway-http/sleep-7f9c container sleep") {
		t.Fatalf("err = %v, want a transport error naming the pod and container", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || !strings.HasPrefix(seen[0], "GET /api/v1/namespaces/egress-gateway-http/pods/sleep-7f9c/exec?") ||
		!strings.HasPrefix(seen[1], "POST /api/v1/namespaces/egress-gateway-http/pods/sleep-7f9c/exec?") {
		t.Fatalf("requests %q: want a WebSocket GET then a SPDY POST on the pod's exec", seen)
	}
	for _, want := range []string{"container=sleep", "command=curl", "stdout=true", "stderr=true", "command=--url"} {
		if !strings.Contains(seen[1], want) {
			t.Errorf("query %q lacks %q", seen[1], want)
		}
	}
	if strings.Contains(seen[1], "stdin=true") || strings.Contains(seen[1], "tty=true") {
		t.Errorf("query %q asks for stdin or a tty", seen[1])
	}
}

func TestDescribe(t *testing.T) {
	p := Prober{Namespace: "egress-gateway-http", Pod: "sleep-7f9c", Container: "sleep"}
	got := p.Describe(Request{URL: "http://httpbin.org/ip", RequestID: "e839b6e0-060c-9c78-9f97-26dda40d94d0", Timeout: 10 * time.Second})
	want := `kubectl exec --namespace egress-gateway-http sleep-7f9c --container sleep -- curl --silent --show-error --max-time 10 --header 'x-request-id: e839b6e0-060c-9c78-9f97-26dda40d94d0' --write-out '` +
		"\n" + writeOutMarker + ` http_code=%{http_code} local_ip=%{local_ip} local_port=%{local_port}` + "\n" + `' --url 'http://httpbin.org/ip?egress-conformance-probe=e839b6e0-060c-9c78-9f97-26dda40d94d0'`
	if got != want {
		t.Errorf("Describe =\n%s\nwant\n%s", got, want)
	}
	if got := ShellQuote([]string{"it's", ""}); got != `'it'\''s' ''` {
		t.Errorf("ShellQuote = %s", got)
	}
}

func TestCommandTrustArgs(t *testing.T) {
	got := Command(Request{URL: "https://httpbin.org/ip", RequestID: "id-1", TrustArgs: []string{"--insecure", "--pinnedpubkey", "sha256//AAAA"}})
	i := slices.Index(got, "--pinnedpubkey")
	if i < 0 || got[i+1] != "sha256//AAAA" || !slices.Contains(got, "--insecure") {
		t.Fatalf("trust args missing: %q", got)
	}
	if got[len(got)-2] != "--url" {
		t.Errorf("--url must stay last so no argument is read as the URL: %q", got)
	}
}

// A scenario's request options reach curl, before --write-out and --url, so that
// the cluster tier sends the request the scenario states (method, Host, --resolve).
func TestCommandOptions(t *testing.T) {
	opts := []string{"-X", "POST", "-H", "Host: httpbin.org", "--resolve", "httpbin.org:80:198.51.100.7"}
	got := Command(Request{URL: "http://httpbin.org/post", RequestID: "id-1", Options: opts})
	i := slices.Index(got, "-X")
	if i < 0 || !slices.Equal(got[i:i+len(opts)], opts) {
		t.Fatalf("options missing or reordered in %q", got)
	}
	if w := slices.Index(got, "--write-out"); w < i {
		t.Errorf("options after --write-out in %q", got)
	}
}

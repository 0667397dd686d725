package origin

import (
	"errors"
	"strings"
	"testing"
)

// Real httpbin answers. Each comes with where it was recorded.
const (
	// httpbin.org /ip straight from a sidecar (ServiceEntry only), Istio 1.16.0 demo
	// profile, 2022-12-01. github.com/cloudzun/istiolabmanual manual.md, "6.Egress".
	bodyIPDirect = "{\n  \"origin\": \"20.205.45.50\"\n}\n"
	// The same client after Gateway + VirtualService + DestinationRule routed it
	// through istio-egressgateway: the client pod's IP (10.244.104.16, also the
	// downstream address in that run's sidecar line), then the node's public IP.
	// Same source.
	bodyIPViaGateway = "{\n  \"origin\": \"10.244.104.16, 20.205.45.50\"\n}\n"

	// httpbin.org /ip before and after egress-gateway routing, Istio 1.5.1, 2022-11-13.
	// github.com/dendi875/dendi875.github.io
	// source/_posts/Istio-Engress—实现访问外部服务.md. The gateway's access line in
	// that post carries X-Forwarded-For "172.17.0.16", the first hop here.
	bodyIPDirect2     = "{\n    \"origin\": \"103.206.189.20\"\n  }"
	bodyIPViaGateway2 = "{\n      \"origin\": \"172.17.0.16, 103.206.189.20\"\n    }"

	// httpbin.org /delay/5 (same document shape as /get) through a sidecar with a
	// ServiceEntry, Istio 1.22.1, 2024-06-26, recorded in public Chinese lab notes
	// titled "服务入口" (found in the code index; repository not identified). The
	// Python formatting (", \n") and the missing X-Forwarded-For are httpbin.org's.
	bodyDelay = `{
  "args": {}, 
  "data": "", 
  "files": {}, 
  "form": {}, 
  "headers": {
    "Accept": "*/*", 
    "Host": "httpbin.org", 
    "User-Agent": "curl/8.8.0", 
    "X-Amzn-Trace-Id": "Root=1-667ba89d-5f26009b6c33ff87227f51bd", 
    "X-Envoy-Attempt-Count": "1", 
    "X-Envoy-Decorator-Operation": "httpbin.org:80/*", 
    "X-Envoy-Peer-Metadata": "ChkKDkFQUF9DT05UQUlORVJTEgcaBXNsZWVwChoKCkNMVVNURVJfSUQSDBoKS3ViZXJuZXRlcwofCgxJTlNUQU5DRV9JUFMSDxoNMTAuMjQ0Ljk2LjI0NQoZCg1JU1RJT19WRVJTSU9OEggaBjEuMjIuMQqhAQoGTEFCRUxTEpYBKpMBCg4KA2FwcBIHGgVzbGVlcAokChlzZWN1cml0eS5pc3Rpby5pby90bHNNb2RlEgcaBWlzdGlvCioKH3NlcnZpY2UuaXN0aW8uaW8vY2Fub25pY2FsLW5hbWUSBxoFc2xlZXAKLwojc2VydmljZS5pc3Rpby5pby9jYW5vbmljYWwtcmV2aXNpb24SCBoGbGF0ZXN0ChoKB01FU0hfSUQSDxoNY2x1c3Rlci5sb2NhbAogCgROQU1FEhgaFnNsZWVwLTc2NTZjZjg3OTQtcDg2ZjIKFgoJTkFNRVNQQUNFEgkaB2RlZmF1bHQKSQoFT1dORVISQBo+a3ViZXJuZXRlczovL2FwaXMvYXBwcy92MS9uYW1lc3BhY2VzL2RlZmF1bHQvZGVwbG95bWVudHMvc2xlZXAKGAoNV09SS0xPQURfTkFNRRIHGgVzbGVlcA==", 
    "X-Envoy-Peer-Metadata-Id": "sidecar~10.244.96.245~sleep-7656cf8794-p86f2.default~default.svc.cluster.local"
  }, 
  "origin": "46.232.50.12", 
  "url": "http://httpbin.org/delay/5"
}`

	// httpbin.org /headers through a sidecar, Istio 1.4.10, 2020-08: python httpbin
	// hides X-Forwarded-For from /headers (postmanlabs/httpbin helpers.ENV_HEADERS).
	// Recorded in public Chinese notes "Egress---管理出网络的流量" (code index;
	// repository not identified).
	bodyHeadersPython = `{
  "headers": {
    "Accept": "*/*",
    "Content-Length": "0",
    "Host": "httpbin.org",
    "User-Agent": "curl/7.69.1",
    "X-Amzn-Trace-Id": "Root=1-5f44c0bc-e0fb975a8b9f1b62bfffddb4",
    "X-B3-Sampled": "1",
    "X-B3-Spanid": "06eb85967ce87c12",
    "X-B3-Traceid": "150400b6814a1a5c06eb85967ce87c12",
    "X-Envoy-Decorator-Operation": "httpbin.org:80/*"
  }
}`

	// go-httpbin /headers (list values) behind a kgateway waypoint.
	// github.com/kgateway-dev/kgateway.dev
	// content/docs/latest/integrations/istio/ambient/waypoint.md, "Transformations".
	bodyHeadersGo = `{
  "headers": {
    "Accept": [
      "*/*"
    ],
    "App": [
      "httpbin2"
    ],
    "Host": [
      "httpbin2:8000"
    ],
    "User-Agent": [
      "custom"
    ],
    "X-Envoy-External-Address": [
      "10.0.74.217"
    ],
    "X-Forwarded-For": [
      "10.0.74.217"
    ],
    "X-Forwarded-Proto": [
      "http"
    ],
    "X-Request-Id": [
      "4b6444cc-b631-49c9-b2b4-f71ec479925f"
    ]
  }
}`

	// go-httpbin /get as printed in the same kgateway page: the origin is redacted
	// there ("10.XX.X.XX") and carries the peer port. A redacted entry is not an
	// address; it must survive as an opaque hop.
	bodyGetGoRedacted = `{
  "args": {},
  "headers": {
    "Accept": [
      "*/*"
    ],
    "Host": [
      "httpbin3:8000"
    ]
  },
  "method": "GET",
  "origin": "10.XX.X.XX:53569",
  "url": "http://httpbin3:8000/get"
}`
)

func TestFromBodyRealAnswers(t *testing.T) {
	tests := []struct {
		name      string
		target    string
		body      string
		wantHops  int
		wantFirst string // compared with Hop.Is
		wantStr   string
		wantAddr  bool // first hop parses as an address
	}{
		{"httpbin.org /ip direct (1.16)", "/ip", bodyIPDirect, 1, "20.205.45.50", "20.205.45.50", true},
		{"httpbin.org /ip via gateway (1.16)", "http://httpbin.org/ip", bodyIPViaGateway, 2, "10.244.104.16", "10.244.104.16, 20.205.45.50", true},
		{"httpbin.org /ip direct (1.5)", "/ip", bodyIPDirect2, 1, "103.206.189.20", "103.206.189.20", true},
		{"httpbin.org /ip via gateway (1.5)", "/ip", bodyIPViaGateway2, 2, "172.17.0.16", "172.17.0.16, 103.206.189.20", true},
		{"httpbin.org /delay/5 origin field", "/delay/5", bodyDelay, 1, "46.232.50.12", "46.232.50.12", true},
		{"go-httpbin /headers list value", "/headers", bodyHeadersGo, 1, "10.0.74.217", "10.0.74.217", true},
		{"go-httpbin /get redacted origin is opaque", "/get?show_env=1", bodyGetGoRedacted, 1, "10.XX.X.XX:53569", "10.XX.X.XX:53569", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := FromBody(tt.target, []byte(tt.body))
			if err != nil {
				t.Fatalf("FromBody: %v", err)
			}
			if c.Hops() != tt.wantHops {
				t.Errorf("Hops() = %d, want %d (chain %q)", c.Hops(), tt.wantHops, c)
			}
			if !c.First().Is(tt.wantFirst) {
				t.Errorf("First() = %q, want it to be %q", c.First(), tt.wantFirst)
			}
			if c.String() != tt.wantStr {
				t.Errorf("String() = %q, want %q", c.String(), tt.wantStr)
			}
			if c.First().IsAddr() != tt.wantAddr {
				t.Errorf("First().IsAddr() = %v, want %v", c.First().IsAddr(), tt.wantAddr)
			}
		})
	}
}

func TestFromBodyPythonHeadersHideForwardedFor(t *testing.T) {
	_, err := FromBody("/headers", []byte(bodyHeadersPython))
	if !errors.Is(err, ErrNoForwardedFor) {
		t.Fatalf("err = %v, want ErrNoForwardedFor", err)
	}
}

func TestFromBodyFieldChoice(t *testing.T) {
	// Constructed in go-httpbin's shape (handlers.go Anything: origin is the first
	// X-Forwarded-For entry, headers keep every line): the path decides which
	// field is read.
	body := []byte(`{"args":{},"headers":{"x-forwarded-for":["10.244.0.12, 172.18.0.1","203.0.113.7"]},"method":"GET","origin":"10.244.0.12","url":"http://httpbin/anything/a/b"}`)
	for _, tt := range []struct {
		target string
		want   string
	}{
		{"/anything", "10.244.0.12"},
		{"/anything/a/b", "10.244.0.12"},
		{"/headers", "10.244.0.12, 172.18.0.1, 203.0.113.7"},
	} {
		c, err := FromBody(tt.target, body)
		if err != nil {
			t.Fatalf("%s: %v", tt.target, err)
		}
		if c.String() != tt.want {
			t.Errorf("%s: chain %q, want %q", tt.target, c, tt.want)
		}
	}
	// go-httpbin /ip?format=text answers "ip\n" (handlers.go IP).
	c, err := FromBody("/ip?format=text", []byte("10.244.0.12\n"))
	if err != nil || c.String() != "10.244.0.12" {
		t.Errorf("format=text: %q, %v", c, err)
	}
}

func TestFromBodyErrors(t *testing.T) {
	for _, tt := range []struct {
		name, target, body, wantErr string
	}{
		{"not JSON", "/ip", "upstream connect error or disconnect/reset before headers", "not a JSON object"},
		{"no origin", "/get", `{"args":{}}`, `no "origin" field`},
		{"origin not a string", "/ip", `{"origin":["1.2.3.4"]}`, "not a string"},
		{"empty origin", "/ip", `{"origin":""}`, "empty origin"},
		{"path without origin", "/status/200", ``, "reports no origin"},
		{"ambiguous header spelling", "/headers", `{"headers":{"X-Forwarded-For":"a","x-forwarded-for":"b"}}`, "several spellings"},
		{"headers value not a string", "/headers", `{"headers":{"X-Forwarded-For":7}}`, "neither a string"},
		{"no headers object", "/headers", `{"origin":"1.2.3.4"}`, `no "headers" object`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromBody(tt.target, []byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseHopForms(t *testing.T) {
	tests := []struct {
		in       string
		hops     int
		first    string // Raw of the first hop
		isAddr   bool
		port     uint16
		equalsTo []string // strings First().Is must accept
		differs  []string // strings First().Is must reject
	}{
		{"10.244.0.12", 1, "10.244.0.12", true, 0, []string{"10.244.0.12", " 10.244.0.12 ", "::ffff:10.244.0.12", "10.244.0.12:8080"}, []string{"10.244.0.13", "10.244.0.1", ""}},
		{"10.0.0.1:5555, 198.51.100.7", 2, "10.0.0.1:5555", true, 5555, []string{"10.0.0.1"}, []string{"198.51.100.7"}},
		{"[2001:db8::1]:443", 1, "[2001:db8::1]:443", true, 443, []string{"2001:db8::1", "2001:DB8:0:0:0:0:0:1", "[2001:db8::1]"}, []string{"2001:db8::2"}},
		{"  2001:db8:cafe::17 ,  203.0.113.195  ", 2, "2001:db8:cafe::17", true, 0, []string{"2001:db8:cafe:0::17"}, []string{"203.0.113.195"}},
		{"[2001:db8::5]", 1, "[2001:db8::5]", true, 0, []string{"2001:db8::5"}, nil},
		{"fe80::1%eth0", 1, "fe80::1%eth0", true, 0, []string{"fe80::1"}, nil},
		{`"[2001:db8:cafe::17]:4711"`, 1, `"[2001:db8:cafe::17]:4711"`, true, 4711, []string{"2001:db8:cafe::17"}, nil},
		{"unknown, 10.1.2.3", 2, "unknown", false, 0, []string{"unknown"}, []string{"10.1.2.3", "Unknown"}},
		{"_hidden, _SEVKISEK", 2, "_hidden", false, 0, []string{"_hidden"}, []string{"_SEVKISEK"}},
		{"::ffff:192.0.2.128", 1, "::ffff:192.0.2.128", true, 0, []string{"192.0.2.128"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if c.Hops() != tt.hops {
				t.Fatalf("Hops() = %d, want %d", c.Hops(), tt.hops)
			}
			f := c.First()
			if f.Raw != tt.first || f.IsAddr() != tt.isAddr || f.Port != tt.port {
				t.Errorf("First() = %+v, want Raw %q addr %v port %d", f, tt.first, tt.isAddr, tt.port)
			}
			for _, s := range tt.equalsTo {
				if !f.Is(s) {
					t.Errorf("First().Is(%q) = false, want true", s)
				}
			}
			for _, s := range tt.differs {
				if f.Is(s) {
					t.Errorf("First().Is(%q) = true, want false", s)
				}
			}
		})
	}
}

func TestParseRejectsMalformed(t *testing.T) {
	for _, in := range []string{"", "   ", "10.0.0.1,", ",10.0.0.1", "10.0.0.1,,10.0.0.2", "10.0.0.1 10.0.0.2", "a\tb", "a\x00b", "\xff"} {
		if c, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", in, c)
		}
	}
}

func TestEmptyChain(t *testing.T) {
	var c Chain
	if c.Hops() != 0 || c.String() != "" {
		t.Errorf("empty chain: %d %q", c.Hops(), c)
	}
	if c.First().Is("10.0.0.1") || c.First().Is("") || c.Last().Is("") {
		t.Error("the zero hop must match nothing")
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"20.205.45.50",
		"10.244.104.16, 20.205.45.50",
		"172.17.0.16, 103.206.189.20",
		"10.XX.X.XX:53569",
		"[2001:db8::1]:443, 10.0.0.1:5555",
		"unknown, _hidden",
		"fe80::1%eth0",
		"::ffff:10.0.0.1",
		" , ",
		"\"[2001:db8:cafe::17]:4711\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(in)
		if err != nil {
			return
		}
		if c.Hops() == 0 {
			t.Fatalf("Parse(%q) returned an empty chain without error", in)
		}
		again, err := Parse(c.String())
		if err != nil {
			t.Fatalf("Parse(String()) of %q: %v", c.String(), err)
		}
		if again.String() != c.String() || again.Hops() != c.Hops() {
			t.Fatalf("round trip changed the chain: %q -> %q", c, again)
		}
		for i, h := range c {
			if h.Raw == "" || strings.ContainsAny(h.Raw, ", \t\n") {
				t.Fatalf("hop %d of %q has a bad Raw %q", i, in, h.Raw)
			}
			if !h.Is(h.Raw) {
				t.Fatalf("hop %d (%q) is not itself", i, h.Raw)
			}
			if h.IsAddr() && !h.Is(h.Addr.String()) {
				t.Fatalf("hop %d (%q) is not its own address %s", i, h.Raw, h.Addr)
			}
			if again[i] != h {
				t.Fatalf("hop %d changed on round trip: %+v -> %+v", i, h, again[i])
			}
		}
	})
}

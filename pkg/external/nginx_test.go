package external

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/egress-conformance/egress-conformance/pkg/origin"
)

func TestNginxConfShape(t *testing.T) {
	conf := renderNginxConf(nginxParams{ListenHTTP: "8080", TempDir: "/tmp", AccessLog: "/dev/stdout", ID: "ns"})
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Error("unbalanced braces")
	}
	for _, code := range StatusCodes {
		if !strings.Contains(conf, fmt.Sprintf("location = /status/%d {\n            default_type \"text/html; charset=utf-8\";\n            return %d '';", code, code)) {
			t.Errorf("no /status/%d", code)
		}
	}
	if !strings.Contains(conf, `add_header X-Egress-Conformance-Standin "ns" always;`) {
		t.Error("no stand-in header")
	}
	if strings.Contains(conf, "ssl") && strings.Contains(conf, "listen 8443") {
		t.Error("TLS without a TLS listener asked for")
	}
}

// nginxBinary finds nginx (Debian installs it in /usr/sbin, often not on PATH).
func nginxBinary() string {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNginxAnswersLikeHTTPBin runs the generated nginx.conf in a real nginx on
// loopback and checks, with pkg/origin, that it answers like httpbin.org behind its
// load balancer. Skipped when no nginx binary is installed (apt-get install
// nginx-light provides one).
func TestNginxAnswersLikeHTTPBin(t *testing.T) {
	bin := nginxBinary()
	if bin == "" {
		t.Skip("no nginx binary (install nginx or nginx-light): the generated nginx.conf was not run")
	}
	if testing.Short() {
		t.Skip("-short: not starting nginx")
	}
	dir := t.TempDir()
	ca := mustCA(t)
	srv := mustServer(t, ca, "httpbin.org")
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for f, b := range map[string][]byte{certFile: srv.CertPEM, keyFile: srv.KeyPEM} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	httpAddr, httpsAddr := freePort(t), freePort(t)
	conf := renderNginxConf(nginxParams{
		ListenHTTP: httpAddr, ListenHTTPS: httpsAddr, CertFile: certFile, KeyFile: keyFile,
		TempDir: dir, AccessLog: filepath.Join(dir, "access.log"), ID: "test-standin",
	})
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, "-e", "stderr", "-p", dir, "-c", confFile, "-t").CombinedOutput(); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-e", "stderr", "-p", dir, "-c", confFile, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGQUIT: graceful shutdown of master and workers; then make sure.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("nginx output:\n%s", stderr.String())
			if b, err := os.ReadFile(filepath.Join(dir, "access.log")); err == nil {
				t.Logf("access log:\n%s", b)
			}
		}
	})
	waitListening(t, ctx, httpAddr)
	waitListening(t, ctx, httpsAddr)

	plain := &http.Client{Timeout: 5 * time.Second}
	send := func(c *http.Client, method, url string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "httpbin.org"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}
	get := func(c *http.Client, url string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		return send(c, http.MethodGet, url, hdr)
	}
	base := "http://" + httpAddr

	t.Run("ip without X-Forwarded-For: the peer alone", func(t *testing.T) {
		resp, body := get(plain, base+"/ip", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("status %d content-type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if want := "{\n  \"origin\": \"127.0.0.1\"\n}\n"; string(body) != want {
			t.Errorf("body %q, want httpbin.org's layout %q", body, want)
		}
		if resp.Header.Get(StandinHeader) != "test-standin" || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("headers %v", resp.Header)
		}
		chain := mustChain(t, "/ip", body)
		if chain.Hops() != 1 || !chain.First().Is("127.0.0.1") {
			t.Errorf("chain %s, want the peer only", chain)
		}
	})

	// What the egress gateway sends: X-Forwarded-For = the client pod's address; the
	// stand-in appends the gateway's (here: loopback). Two hops, client first.
	t.Run("ip through a gateway: client then peer", func(t *testing.T) {
		_, body := get(plain, base+"/ip", map[string]string{"X-Forwarded-For": "10.244.0.17"})
		if want := "{\n  \"origin\": \"10.244.0.17, 127.0.0.1\"\n}\n"; string(body) != want {
			t.Errorf("body %q, want %q", body, want)
		}
		chain := mustChain(t, "/ip", body)
		if chain.Hops() != 2 || !chain.First().Is("10.244.0.17") || !chain.Last().Is("127.0.0.1") {
			t.Errorf("chain %s", chain)
		}
	})

	// Envoy appends with "," and no space; the stand-in keeps the received entries as
	// they are and appends the peer with ", ", as httpbin.org's load balancer does.
	t.Run("ip keeps the received spacing", func(t *testing.T) {
		_, body := get(plain, base+"/ip", map[string]string{"X-Forwarded-For": "203.0.113.9,10.244.0.17"})
		if want := "{\n  \"origin\": \"203.0.113.9,10.244.0.17, 127.0.0.1\"\n}\n"; string(body) != want {
			t.Errorf("body %q, want %q", body, want)
		}
		if chain := mustChain(t, "/ip", body); chain.Hops() != 3 || !chain.First().Is("203.0.113.9") {
			t.Errorf("chain %s", chain)
		}
	})

	t.Run("ip with an IPv6 hop", func(t *testing.T) {
		_, body := get(plain, base+"/ip", map[string]string{"X-Forwarded-For": "fd00:10:244::5"})
		if chain := mustChain(t, "/ip", body); chain.Hops() != 2 || !chain.First().Is("fd00:10:244::5") {
			t.Errorf("chain %s", chain)
		}
	})

	t.Run("ip never emits broken JSON", func(t *testing.T) {
		_, body := get(plain, base+"/ip", map[string]string{"X-Forwarded-For": `10.0.0.1", "injected": "x`})
		chain := mustChain(t, "/ip", body)
		if chain.Hops() != 2 || chain.First().Raw != "_unprintable" {
			t.Errorf("chain %s from %q", chain, body)
		}
	})

	t.Run("headers with show_env carries the same chain", func(t *testing.T) {
		_, body := get(plain, base+"/headers?show_env=1", map[string]string{"X-Forwarded-For": "10.244.0.17", "X-Request-Id": "abc-123"})
		chain := mustChain(t, "/headers", body)
		if chain.String() != "10.244.0.17, 127.0.0.1" {
			t.Errorf("chain %s", chain)
		}
		var doc struct {
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Headers["Host"] != "httpbin.org" || doc.Headers["X-Request-Id"] != "abc-123" || doc.Headers["User-Agent"] == "" {
			t.Errorf("headers %v", doc.Headers)
		}
	})

	t.Run("headers hides X-Forwarded-For like httpbin.org", func(t *testing.T) {
		_, body := get(plain, base+"/headers", map[string]string{"X-Forwarded-For": "10.244.0.17"})
		if _, err := origin.FromBody("/headers", body); !errors.Is(err, origin.ErrNoForwardedFor) {
			t.Errorf("FromBody err = %v, want ErrNoForwardedFor (body %s)", err, body)
		}
	})

	t.Run("get", func(t *testing.T) {
		_, body := get(plain, base+"/get?a=1", map[string]string{"X-Forwarded-For": "10.244.0.17"})
		var doc struct {
			Args    map[string]any    `json:"args"`
			Headers map[string]string `json:"headers"`
			Origin  string            `json:"origin"`
			URL     string            `json:"url"`
		}
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if doc.URL != "http://httpbin.org/get?a=1" || doc.Origin != "10.244.0.17, 127.0.0.1" || doc.Headers["Host"] != "httpbin.org" {
			t.Errorf("/get = %+v", doc)
		}
		if chain := mustChain(t, "/get", body); chain.Hops() != 2 {
			t.Errorf("chain %s", chain)
		}
	})

	// httpbin.org's /post answers a POST with 200 and anything else with 405.
	t.Run("post", func(t *testing.T) {
		resp, body := send(plain, http.MethodPost, base+"/post", nil)
		var doc struct {
			Origin string `json:"origin"`
			URL    string `json:"url"`
		}
		if err := json.Unmarshal(body, &doc); resp.StatusCode != 200 || err != nil || doc.URL != "http://httpbin.org/post" || doc.Origin != "127.0.0.1" {
			t.Errorf("POST /post: %d %v %+v: %s", resp.StatusCode, err, doc, body)
		}
		if resp, _ := get(plain, base+"/post", nil); resp.StatusCode != 405 {
			t.Errorf("GET /post answered %d, want 405", resp.StatusCode)
		}
	})

	t.Run("status codes", func(t *testing.T) {
		for _, code := range []int{200, 204, 418, 503} {
			resp, _ := get(plain, fmt.Sprintf("%s/status/%d", base, code), nil)
			if resp.StatusCode != code {
				t.Errorf("/status/%d answered %d", code, resp.StatusCode)
			}
		}
		if resp, _ := get(plain, base+"/nowhere", nil); resp.StatusCode != 404 {
			t.Errorf("/nowhere answered %d", resp.StatusCode)
		}
	})

	t.Run("https verified against the run's CA", func(t *testing.T) {
		c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "httpbin.org", MinVersion: tls.VersionTLS12},
		}}
		resp, body := get(c, "https://"+httpsAddr+"/ip", nil)
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
			t.Fatal("no TLS")
		}
		if chain := mustChain(t, "/ip", body); chain.Hops() != 1 || !chain.First().Is("127.0.0.1") {
			t.Errorf("chain %s", chain)
		}
		// A client that trusts only the system roots refuses the stand-in.
		strict := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: "httpbin.org", MinVersion: tls.VersionTLS12},
		}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+httpsAddr+"/ip", nil)
		if resp, err := strict.Do(req); err == nil {
			resp.Body.Close()
			t.Error("the stand-in's certificate was trusted without the run's CA")
		}
	})

	// The DNS check pod's script, run for real against this nginx: curl is wrapped to
	// connect httpbin.org:80 to the loopback port (what the CoreDNS rewrite does in
	// the cluster).
	t.Run("check script", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("no curl: the check script was not run")
		}
		bin := t.TempDir()
		wrapper := fmt.Sprintf("#!/bin/sh\nexec %s --connect-to httpbin.org:80:%s \"$@\"\n", curl, httpAddr)
		if err := os.WriteFile(filepath.Join(bin, "curl"), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
		run := func(ns string) (string, error) {
			cmd := exec.CommandContext(ctx, "/bin/sh", "-c", CheckScript([]string{"httpbin.org"}, ns, false, 1))
			cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run("test-standin"); err != nil || !strings.Contains(out, "every host is answered by the stand-in") {
			t.Errorf("check against the stand-in: %v\n%s", err, out)
		}
		// Another stand-in's mark (or the internet's answer) is not enough.
		out, err := run("someone-else")
		if err == nil || !strings.Contains(out, "is not answered by the stand-in yet") || !strings.Contains(out, "giving up") {
			t.Errorf("check against a foreign answer: err %v\n%s", err, out)
		}
	})

	t.Run("access log carries the request id", func(t *testing.T) {
		_, _ = get(plain, base+"/ip", map[string]string{"X-Request-Id": "find-me-42"})
		deadline := time.Now().Add(5 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(dir, "access.log"))
			if bytes.Contains(b, []byte(`request_id="find-me-42"`)) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no access-log line with the request id:\n%s", b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func mustChain(t *testing.T, target string, body []byte) origin.Chain {
	t.Helper()
	chain, err := origin.FromBody(target, body)
	if err != nil {
		t.Fatalf("origin.FromBody(%s, %q): %v", target, body, err)
	}
	return chain
}

func waitListening(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("nginx never listened on %s: %v", addr, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

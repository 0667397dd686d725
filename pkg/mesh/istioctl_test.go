package mesh

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

const testVersion = "1.31.4"

// makeArchive builds a tar.gz with the given entries, in order.
func makeArchive(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Name: e.name, Mode: 0o755, Size: int64(len(e.body)), Typeflag: typ}
		if typ != tar.TypeReg {
			hdr.Size = 0
			hdr.Linkname = "elsewhere"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type tarEntry struct {
	name string
	body []byte
	typ  byte
}

// release serves /<version>/<asset> and /<version>/<asset>.sha256 on loopback and
// counts requests.
type release struct {
	srv      *httptest.Server
	requests atomic.Int64
	files    map[string][]byte
}

func newRelease(t *testing.T, files map[string][]byte) *release {
	t.Helper()
	r := &release{files: files}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		body, ok := r.files[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *release) downloader() Downloader {
	return Downloader{BaseURL: r.srv.URL, Client: r.srv.Client(), GOOS: "linux", GOARCH: "amd64"}
}

func sumLine(b []byte, name string) []byte {
	return fmt.Appendf(nil, "%x %s\n", sha256.Sum256(b), name)
}

const asset = "istioctl-" + testVersion + "-linux-amd64.tar.gz"

func goodRelease(t *testing.T, binary []byte) *release {
	archive := makeArchive(t, tarEntry{name: "istioctl", body: binary})
	return newRelease(t, map[string][]byte{
		"/" + testVersion + "/" + asset:             archive,
		"/" + testVersion + "/" + asset + ".sha256": sumLine(archive, asset),
	})
}

// filesUnder lists every file and directory below root, relative to it.
func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAcquireDownloadsAndVerifies(t *testing.T) {
	binary := []byte("#!/bin/sh\necho client version: " + testVersion + "\n")
	rel := goodRelease(t, binary)
	root := t.TempDir()
	var out bytes.Buffer

	got, err := Acquire(context.Background(), Config{Version: testVersion, CacheRoot: root}, rel.downloader(), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(root, "istio", testVersion, "istioctl")
	if got.Path != want || got.Version != testVersion {
		t.Fatalf("got %+v, want path %s version %s", got, want, testVersion)
	}
	b, err := os.ReadFile(want)
	if err != nil || !bytes.Equal(b, binary) {
		t.Fatalf("cached binary = %q, %v; want the archive's istioctl", b, err)
	}
	fi, _ := os.Stat(want)
	if fi.Mode().Perm()&0o111 == 0 {
		t.Errorf("cached istioctl mode %v is not executable", fi.Mode())
	}
	if files := filesUnder(t, root); strings.Join(files, ",") != "istio,istio/"+testVersion+",istio/"+testVersion+"/istioctl" {
		t.Errorf("cache holds %v, want only istio/%s/istioctl (no temp files)", files, testVersion)
	}
	if !strings.Contains(out.String(), "downloading "+rel.srv.URL+"/"+testVersion+"/"+asset) ||
		!strings.Contains(out.String(), "verified sha256") {
		t.Errorf("progress output lacks the download and verification lines:\n%s", out.String())
	}
	// The downloaded binary is usable: it reports its version.
	if v, err := ReportedVersion(context.Background(), got.Path); err != nil || v != testVersion {
		t.Errorf("ReportedVersion = %q, %v", v, err)
	}
}

func TestAcquireCacheHitMakesNoRequest(t *testing.T) {
	rel := goodRelease(t, []byte("binary"))
	root := t.TempDir()
	cfg := Config{Version: testVersion, CacheRoot: root}
	if _, err := Acquire(context.Background(), cfg, rel.downloader(), nil); err != nil {
		t.Fatal(err)
	}
	before := rel.requests.Load()
	if before != 2 {
		t.Errorf("first acquisition made %d requests, want 2 (sha256 + archive)", before)
	}
	got, err := Acquire(context.Background(), cfg, rel.downloader(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := rel.requests.Load() - before; n != 0 {
		t.Errorf("cache hit made %d HTTP requests, want 0", n)
	}
	if got.Path != IstioctlCachePath(root, testVersion) {
		t.Errorf("cache hit path = %s", got.Path)
	}
}

func TestAcquireRefusesBadChecksum(t *testing.T) {
	archive := makeArchive(t, tarEntry{name: "istioctl", body: []byte("tampered")})
	other := makeArchive(t, tarEntry{name: "istioctl", body: []byte("genuine")})
	rel := newRelease(t, map[string][]byte{
		"/" + testVersion + "/" + asset:             archive,
		"/" + testVersion + "/" + asset + ".sha256": sumLine(other, asset),
	})
	root := t.TempDir()
	_, err := Acquire(context.Background(), Config{Version: testVersion, CacheRoot: root}, rel.downloader(), nil)
	if err == nil {
		t.Fatal("a mismatching archive was accepted")
	}
	for _, want := range []string{"sha256 mismatch", testVersion, asset, fmt.Sprintf("%x", sha256.Sum256(other))} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if files := filesUnder(t, root); len(files) != 0 {
		t.Errorf("a refused download left %v in the cache", files)
	}
}

func TestAcquireChecksumForAnotherFile(t *testing.T) {
	archive := makeArchive(t, tarEntry{name: "istioctl", body: []byte("x")})
	rel := newRelease(t, map[string][]byte{
		"/" + testVersion + "/" + asset:             archive,
		"/" + testVersion + "/" + asset + ".sha256": sumLine(archive, "istioctl-"+testVersion+"-osx-arm64.tar.gz"),
	})
	root := t.TempDir()
	_, err := Acquire(context.Background(), Config{Version: testVersion, CacheRoot: root}, rel.downloader(), nil)
	if err == nil || !strings.Contains(err.Error(), "osx-arm64") {
		t.Fatalf("err = %v, want a refusal naming the other file", err)
	}
	if files := filesUnder(t, root); len(files) != 0 {
		t.Errorf("cache holds %v", files)
	}
}

func TestAcquireNotFound(t *testing.T) {
	rel := newRelease(t, map[string][]byte{})
	root := t.TempDir()
	_, err := Acquire(context.Background(), Config{Version: "1.99.0", CacheRoot: root}, rel.downloader(), nil)
	if err == nil {
		t.Fatal("want an error for a missing release")
	}
	assetURL := rel.srv.URL + "/1.99.0/istioctl-1.99.0-linux-amd64.tar.gz"
	for _, want := range []string{"istioctl 1.99.0", "linux/amd64", assetURL, "404", EnvIstioVersion} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if files := filesUnder(t, root); len(files) != 0 {
		t.Errorf("cache holds %v", files)
	}
}

func TestAcquireArchiveWithoutIstioctl(t *testing.T) {
	archive := makeArchive(t,
		tarEntry{name: "README", body: []byte("hi")},
		tarEntry{name: "bin/istioctl", body: []byte("nested, not the top-level entry")},
	)
	rel := newRelease(t, map[string][]byte{
		"/" + testVersion + "/" + asset:             archive,
		"/" + testVersion + "/" + asset + ".sha256": sumLine(archive, asset),
	})
	root := t.TempDir()
	_, err := Acquire(context.Background(), Config{Version: testVersion, CacheRoot: root}, rel.downloader(), nil)
	if err == nil || !strings.Contains(err.Error(), "no istioctl entry") {
		t.Fatalf("err = %v", err)
	}
	if files := filesUnder(t, root); len(files) != 0 {
		t.Errorf("cache holds %v", files)
	}
}

func TestAcquireRefusesSymlinkEntry(t *testing.T) {
	archive := makeArchive(t, tarEntry{name: "istioctl", typ: tar.TypeSymlink})
	rel := newRelease(t, map[string][]byte{
		"/" + testVersion + "/" + asset:             archive,
		"/" + testVersion + "/" + asset + ".sha256": sumLine(archive, asset),
	})
	_, err := Acquire(context.Background(), Config{Version: testVersion, CacheRoot: t.TempDir()}, rel.downloader(), nil)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v", err)
	}
}

func TestAcquireReportsProgress(t *testing.T) {
	binary := bytes.Repeat([]byte{0}, 1<<20) // compresses well, but still several writes
	rel := goodRelease(t, binary)
	var out bytes.Buffer
	if _, err := Acquire(context.Background(), Config{Version: testVersion, CacheRoot: t.TempDir()}, rel.downloader(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "100%") {
		t.Errorf("no 100%% progress line in:\n%s", out.String())
	}
}

// fakeIstioctl writes an executable script that prints version and returns its path.
func fakeIstioctl(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "istioctl")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAcquireIstioctlOverride(t *testing.T) {
	rel := newRelease(t, map[string][]byte{})
	p := fakeIstioctl(t, `[ "$1 $2" = "version --remote=false" ] || exit 3
echo "client version: `+testVersion+`"
`)
	got, err := Acquire(context.Background(), Config{Version: testVersion, Istioctl: p, CacheRoot: t.TempDir()}, rel.downloader(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != p || got.Version != testVersion {
		t.Errorf("got %+v", got)
	}
	if n := rel.requests.Load(); n != 0 {
		t.Errorf("ISTIOCTL override made %d HTTP requests", n)
	}
}

func TestAcquireIstioctlOverrideVersionMismatch(t *testing.T) {
	p := fakeIstioctl(t, "echo 'client version: 1.30.8'\n")
	_, err := Acquire(context.Background(), Config{Version: testVersion, Istioctl: p}, Downloader{}, nil)
	if err == nil {
		t.Fatal("a mismatching ISTIOCTL was accepted")
	}
	for _, want := range []string{p, "1.30.8", testVersion, EnvIstioctl, EnvIstioVersion} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestAcquireIstioctlOverrideBroken(t *testing.T) {
	for name, p := range map[string]string{
		"missing":        filepath.Join(t.TempDir(), "nope"),
		"fails":          fakeIstioctl(t, "echo boom >&2; exit 1\n"),
		"prints nothing": fakeIstioctl(t, "exit 0\n"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Acquire(context.Background(), Config{Version: testVersion, Istioctl: p}, Downloader{}, nil)
			if err == nil || !strings.Contains(err.Error(), p) {
				t.Fatalf("err = %v, want an error naming %s", err, p)
			}
		})
	}
	notExec := filepath.Join(t.TempDir(), "istioctl")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(context.Background(), Config{Version: testVersion, Istioctl: notExec}, Downloader{}, nil); err == nil ||
		!strings.Contains(err.Error(), "not an executable") {
		t.Errorf("non-executable ISTIOCTL: err = %v", err)
	}
}

func TestParseClientVersion(t *testing.T) {
	for in, want := range map[string]string{
		"client version: 1.31.4\n":                              "1.31.4",
		"client version: 1.32.0-rc.1\nistiod version: 1.31.4\n": "1.32.0-rc.1",
		"1.17.2\n": "1.17.2",
		"warning: something\nclient version: 1.31.4\n":             "1.31.4",
		"no version here\n":                                        "",
		"client version: \n":                                       "",
		"client version: 1.31.4-dev\n":                             "1.31.4-dev",
		"  client version:   1.30.8  \n":                           "1.30.8",
		"data plane version: 1.29.0 (2 proxies)\n":                 "",
		"client version: 1.31.4\ndata plane version: 1.30.0 (1)\n": "1.31.4",
	} {
		got, ok := parseClientVersion(in)
		if got != want || ok != (want != "") {
			t.Errorf("parseClientVersion(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestAssetName(t *testing.T) {
	for _, c := range []struct{ goos, goarch, want string }{
		{"linux", "amd64", "istioctl-1.31.4-linux-amd64.tar.gz"},
		{"linux", "arm64", "istioctl-1.31.4-linux-arm64.tar.gz"},
		{"linux", "arm", "istioctl-1.31.4-linux-armv7.tar.gz"},
		{"darwin", "amd64", "istioctl-1.31.4-osx-amd64.tar.gz"},
		{"darwin", "arm64", "istioctl-1.31.4-osx-arm64.tar.gz"},
		{"windows", "amd64", ""},
		{"linux", "riscv64", ""},
	} {
		got, err := AssetName("1.31.4", c.goos, c.goarch)
		if c.want == "" {
			if err == nil || !strings.Contains(err.Error(), EnvIstioctl) {
				t.Errorf("%s/%s: got %q, %v; want an error pointing at %s", c.goos, c.goarch, got, err, EnvIstioctl)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s/%s: got %q, %v; want %q", c.goos, c.goarch, got, err, c.want)
		}
	}
	u, err := Downloader{GOOS: "darwin", GOARCH: "arm64"}.AssetURL("1.31.4")
	if err != nil || u != "https://github.com/istio/istio/releases/download/1.31.4/istioctl-1.31.4-osx-arm64.tar.gz" {
		t.Errorf("AssetURL = %q, %v", u, err)
	}
}

func TestParseChecksum(t *testing.T) {
	sum := sha256.Sum256([]byte("x"))
	hexSum := fmt.Sprintf("%x", sum)
	for _, c := range []struct {
		body string
		ok   bool
	}{
		{hexSum + " " + asset + "\n", true},  // release-builder: one space
		{hexSum + "  " + asset + "\n", true}, // sha256sum text mode
		{hexSum + " *" + asset + "\n", true}, // sha256sum binary mode
		{hexSum + "\n", true},                // bare digest
		{strings.ToUpper(hexSum) + " " + asset, true},
		{hexSum + " other.tar.gz\n", false},
		{hexSum[:10] + " " + asset, false},
		{"zz" + hexSum[2:] + " " + asset, false},
		{"", false},
	} {
		got, err := parseChecksum([]byte(c.body), asset)
		if c.ok != (err == nil) {
			t.Errorf("parseChecksum(%q): err = %v, want ok=%v", c.body, err, c.ok)
		}
		if c.ok && !bytes.Equal(got, sum[:]) {
			t.Errorf("parseChecksum(%q) = %x", c.body, got)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	c, err := ConfigFromEnv(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != versions.Istio || c.Istioctl != "" || !strings.HasSuffix(c.CacheRoot, "egress-conformance") {
		t.Errorf("defaults = %+v; want version %s and a cache root ending in egress-conformance", c, versions.Istio)
	}

	c, err = ConfigFromEnv(env(map[string]string{EnvIstioVersion: "1.30.8", EnvIstioctl: "/opt/istioctl", EnvCacheDir: ".cache"}))
	if err != nil {
		t.Fatal(err)
	}
	if c != (Config{Version: "1.30.8", Istioctl: "/opt/istioctl", CacheRoot: ".cache"}) {
		t.Errorf("got %+v", c)
	}
	if got := IstioctlCachePath(c.CacheRoot, c.Version); got != filepath.Join(".cache", "istio", "1.30.8", "istioctl") {
		t.Errorf("IstioctlCachePath = %s", got)
	}

	// ISTIO_HUB: a mirror for Istio's images.
	c, err = ConfigFromEnv(env(map[string]string{EnvHub: "mirror.example.com:5000/istio/"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hub != "mirror.example.com:5000/istio" || strings.Join(c.Images(), " ") != "mirror.example.com:5000/istio/pilot:"+versions.Istio+
		" mirror.example.com:5000/istio/proxyv2:"+versions.Istio {
		t.Errorf("hub %q, images %v", c.Hub, c.Images())
	}
	if got := InstallArgs(InstallOptions{Overlay: "o", Hub: c.Hub}); !strings.Contains(strings.Join(got, " "), "--set hub=mirror.example.com:5000/istio") {
		t.Errorf("install args %v do not set the hub", got)
	}
	if c, _ := ConfigFromEnv(env(nil)); c.Images()[0] != DefaultHub+"/pilot:"+versions.Istio {
		t.Errorf("default images %v", c.Images())
	}
	for _, bad := range []string{"https://mirror", "mirror/istio:1.32.0", "a b", "mirror;rm"} {
		if _, err := ConfigFromEnv(env(map[string]string{EnvHub: bad})); err == nil || !strings.Contains(err.Error(), EnvHub) {
			t.Errorf("ISTIO_HUB=%q: err = %v", bad, err)
		}
	}

	for _, bad := range []string{"v1.31.4", "1.31", "../../etc", "1.31.4/../x", "latest", "1.31.4 "} {
		if _, err := ConfigFromEnv(env(map[string]string{EnvIstioVersion: bad})); err == nil {
			t.Errorf("ISTIO_VERSION=%q accepted", bad)
		}
	}
	for _, good := range []string{"1.31.4", "1.32.0-rc.1", "1.30.0-beta.0", "1.29.10"} {
		if err := ValidateVersion(good); err != nil {
			t.Errorf("ValidateVersion(%q): %v", good, err)
		}
	}
}

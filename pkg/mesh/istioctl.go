package mesh

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
)

// ReleaseBaseURL is where Istio publishes its release assets:
// <ReleaseBaseURL>/<version>/<asset> and <asset>.sha256 beside it.
const ReleaseBaseURL = "https://github.com/istio/istio/releases/download"

// Size limits that keep a hostile or broken server from filling the disk.
const (
	maxChecksumBytes = 4 << 10
	maxArchiveBytes  = 1 << 30
	maxBinaryBytes   = 1 << 30
)

// Istioctl is a usable istioctl binary of a known version.
type Istioctl struct {
	Path    string
	Version string
}

// AssetName is the name of the standalone istioctl archive Istio publishes for
// version and a Go platform.
//
// Names follow istio/release-builder pkg/build/archive.go (createStandaloneIstioctl:
// "istioctl-<version>-<arch>.tar.gz" for linux-amd64, linux-arm64, linux-armv7,
// osx-amd64, osx-arm64; win-amd64 is a .zip). For macOS on amd64, istio's own
// release/downloadIstioCtl.sh still fetches the legacy alias "-osx.tar.gz", which
// release-builder marks "TODO remove" (release-builder #1560, 2023: every release
// since 1.19 carries the "-osx-amd64" name too); we use the arch-qualified name.
// Windows is not supported: set ISTIOCTL instead.
func AssetName(version, goos, goarch string) (string, error) {
	var plat string
	switch goos + "/" + goarch {
	case "linux/amd64":
		plat = "linux-amd64"
	case "linux/arm64":
		plat = "linux-arm64"
	case "linux/arm":
		plat = "linux-armv7"
	case "darwin/amd64":
		plat = "osx-amd64"
	case "darwin/arm64":
		plat = "osx-arm64"
	default:
		return "", fmt.Errorf("no istioctl tar.gz is published for %s/%s: set %s to an istioctl %s binary",
			goos, goarch, EnvIstioctl, version)
	}
	return fmt.Sprintf("istioctl-%s-%s.tar.gz", version, plat), nil
}

// Downloader fetches istioctl release archives. The zero value downloads from
// ReleaseBaseURL for the running platform with a plain http.Client.
type Downloader struct {
	// BaseURL replaces ReleaseBaseURL (tests, mirrors).
	BaseURL string
	// Client replaces the default HTTP client.
	Client *http.Client
	// GOOS and GOARCH replace runtime.GOOS and runtime.GOARCH.
	GOOS, GOARCH string
	// Timeouts.Download bounds one download.
	Timeouts Timeouts
}

func (d Downloader) baseURL() string {
	if d.BaseURL != "" {
		return strings.TrimRight(d.BaseURL, "/")
	}
	return ReleaseBaseURL
}

func (d Downloader) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return &http.Client{}
}

func (d Downloader) platform() (string, string) {
	goos, goarch := d.GOOS, d.GOARCH
	if goos == "" {
		goos = runtime.GOOS
	}
	if goarch == "" {
		goarch = runtime.GOARCH
	}
	return goos, goarch
}

// AssetURL is the URL of the istioctl archive for version on d's platform.
func (d Downloader) AssetURL(version string) (string, error) {
	goos, goarch := d.platform()
	asset, err := AssetName(version, goos, goarch)
	if err != nil {
		return "", err
	}
	return d.baseURL() + "/" + version + "/" + asset, nil
}

// Acquire returns an istioctl of cfg.Version:
//   - cfg.Istioctl set: that binary, after `istioctl version --remote=false` has
//     reported exactly cfg.Version (a mismatch is refused);
//   - otherwise the cached binary under cfg.CacheRoot, if present (no network);
//   - otherwise a fresh download, verified against the release's sha256 file and
//     moved into the cache only once complete.
//
// Progress goes to out (nil: quiet).
func Acquire(ctx context.Context, cfg Config, dl Downloader, out io.Writer) (Istioctl, error) {
	out = orDiscard(out)
	if err := ValidateVersion(cfg.Version); err != nil {
		return Istioctl{}, err
	}
	if cfg.Istioctl != "" {
		return checkLocal(ctx, cfg.Istioctl, cfg.Version)
	}
	if cfg.CacheRoot == "" {
		return Istioctl{}, errors.New("no cache root for istioctl: use ConfigFromEnv or set Config.CacheRoot")
	}
	dst := IstioctlCachePath(cfg.CacheRoot, cfg.Version)
	if fi, err := os.Stat(dst); err == nil && fi.Mode().IsRegular() {
		fmt.Fprintf(out, "istioctl %s: using cached %s\n", cfg.Version, dst)
		return Istioctl{Path: dst, Version: cfg.Version}, nil
	}
	if err := dl.download(ctx, cfg.Version, dst, out); err != nil {
		return Istioctl{}, err
	}
	return Istioctl{Path: dst, Version: cfg.Version}, nil
}

// checkLocal accepts the istioctl at p only if it reports version want.
func checkLocal(ctx context.Context, p, want string) (Istioctl, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return Istioctl{}, fmt.Errorf("%s=%s: %w", EnvIstioctl, p, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return Istioctl{}, fmt.Errorf("%s=%s: not an executable file", EnvIstioctl, p)
	}
	got, err := ReportedVersion(ctx, p)
	if err != nil {
		return Istioctl{}, fmt.Errorf("%s=%s: %w", EnvIstioctl, p, err)
	}
	if got != want {
		return Istioctl{}, fmt.Errorf("%s=%s is istioctl %s, but %s is %s: "+
			"point %s at an istioctl %s, or set %s=%s",
			EnvIstioctl, p, got, EnvIstioVersion, want, EnvIstioctl, want, EnvIstioVersion, got)
	}
	return Istioctl{Path: p, Version: got}, nil
}

// ReportedVersion runs `<istioctl> version --remote=false` and returns the client
// version it prints ("client version: 1.31.4"; releases before 1.19 print the
// bare version).
func ReportedVersion(ctx context.Context, istioctl string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, istioctl, "version", "--remote=false")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s version --remote=false: %w: %s", istioctl, err, tail(stderr.Bytes()))
	}
	v, ok := parseClientVersion(stdout.String())
	if !ok {
		return "", fmt.Errorf("%s version --remote=false printed no client version: %q", istioctl, tail(stdout.Bytes()))
	}
	return v, nil
}

func parseClientVersion(s string) (string, bool) {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "client version:"); ok {
			v = strings.TrimSpace(v)
			return v, v != ""
		}
		if versionPattern.MatchString(line) {
			return line, true
		}
	}
	return "", false
}

// download fetches the archive of version, checks it against the published
// sha256, and extracts istioctl to dst. Nothing is left under dst's directory
// unless the whole sequence succeeds.
func (d Downloader) download(ctx context.Context, version, dst string, out io.Writer) (err error) {
	assetURL, err := d.AssetURL(version)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, d.Timeouts.withDefaults().Download)
	defer cancel()
	goos, goarch := d.platform()
	fail := func(err error) error {
		return fmt.Errorf("istioctl %s for %s/%s from %s: %w", version, goos, goarch, assetURL, err)
	}
	asset := path.Base(assetURL)

	fmt.Fprintf(out, "istioctl %s: downloading %s\n", version, assetURL)
	sumBody, err := d.get(ctx, assetURL+".sha256", maxChecksumBytes)
	if err != nil {
		return fail(err)
	}
	want, err := parseChecksum(sumBody, asset)
	if err != nil {
		return fail(fmt.Errorf("%s.sha256: %w", assetURL, err))
	}

	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			removeEmpty(dir)
		}
	}()

	archive, err := os.CreateTemp(dir, ".istioctl-*.tar.gz.part")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(archive.Name())
	defer archive.Close()

	h := sha256.New()
	if err := d.stream(ctx, assetURL, io.MultiWriter(archive, h), out); err != nil {
		return fail(err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fail(fmt.Errorf("sha256 mismatch: archive is %x, the release publishes %x: refusing it", got, want))
	}
	if _, err := archive.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if err := extractIstioctl(archive, dst); err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "istioctl %s: verified sha256 %x, installed %s\n", version, want, dst)
	return nil
}

// get reads a small resource whole.
func (d Downloader) get(ctx context.Context, url string, limit int64) ([]byte, error) {
	var buf bytes.Buffer
	resp, err := d.open(ctx, url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(&buf, io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if n > limit {
		return nil, fmt.Errorf("GET %s: more than %d bytes", url, limit)
	}
	return buf.Bytes(), nil
}

// stream copies a large resource to w, reporting progress to out.
func (d Downloader) stream(ctx context.Context, url string, w io.Writer, out io.Writer) error {
	resp, err := d.open(ctx, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ContentLength > maxArchiveBytes {
		return fmt.Errorf("GET %s: %d bytes is more than the %d allowed", url, resp.ContentLength, maxArchiveBytes)
	}
	p := &progress{out: out, total: resp.ContentLength, label: path.Base(url)}
	n, err := io.Copy(io.MultiWriter(w, p), io.LimitReader(resp.Body, maxArchiveBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if n > maxArchiveBytes {
		return fmt.Errorf("GET %s: more than %d bytes", url, maxArchiveBytes)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("GET %s: got %d of %d bytes", url, n, resp.ContentLength)
	}
	p.done()
	return nil
}

func (d Downloader) open(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("GET %s: %s (no such release asset: check %s, or set %s to a local istioctl)",
				url, resp.Status, EnvIstioVersion, EnvIstioctl)
		}
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return resp, nil
}

// parseChecksum reads a release .sha256 file: "<hex> <file name>" (release-builder
// pkg/util.CreateSha writes one space; sha256sum writes two, or " *" in binary
// mode). The file name, when present, must be the asset's.
func parseChecksum(body []byte, asset string) ([]byte, error) {
	fields := strings.Fields(string(body))
	if len(fields) == 0 {
		return nil, errors.New("empty checksum file")
	}
	sum, err := hex.DecodeString(fields[0])
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("%q is not a sha256 hex digest", fields[0])
	}
	if len(fields) > 1 {
		if name := path.Base(strings.TrimPrefix(fields[1], "*")); name != asset {
			return nil, fmt.Errorf("checksum is for %q, not %q", name, asset)
		}
	}
	return sum, nil
}

// extractIstioctl copies the archive's top-level "istioctl" entry to dst through a
// temporary file in dst's directory and a rename, so dst is either absent or
// complete.
func extractIstioctl(archive io.Reader, dst string) error {
	gz, err := gzip.NewReader(archive)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return errors.New("archive has no istioctl entry")
		}
		if err != nil {
			return fmt.Errorf("archive: %w", err)
		}
		if path.Clean(hdr.Name) != "istioctl" {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("archive entry %q is not a regular file", hdr.Name)
		}
		if hdr.Size > maxBinaryBytes {
			return fmt.Errorf("archive entry %q is %d bytes, more than %d allowed", hdr.Name, hdr.Size, maxBinaryBytes)
		}
		return writeAtomic(dst, io.LimitReader(tr, hdr.Size), 0o755)
	}
}

// writeAtomic writes r to a temporary file beside dst, then renames it over dst.
func writeAtomic(dst string, r io.Reader, mode fs.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+"-*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// removeEmpty removes dir and then its parent if they are empty: the
// istio/<version> directories a failed download created. Non-empty directories and
// the cache root above them stay.
func removeEmpty(dir string) {
	if os.Remove(dir) == nil {
		_ = os.Remove(filepath.Dir(dir))
	}
}

// progress reports a download's progress every tenth of the way (or every 10 MiB
// when the length is unknown).
type progress struct {
	out     io.Writer
	label   string
	total   int64
	written int64
	steps   int64 // steps reported so far
}

func (p *progress) Write(b []byte) (int, error) {
	p.written += int64(len(b))
	if p.total > 0 {
		for p.steps < 10 && p.written >= p.total*(p.steps+1)/10 {
			p.steps++
			fmt.Fprintf(p.out, "  %s: %d%% (%.1f of %.1f MiB)\n", p.label, p.steps*10, mib(p.written), mib(p.total))
		}
		return len(b), nil
	}
	const step = 10 << 20
	for p.written >= (p.steps+1)*step {
		p.steps++
		fmt.Fprintf(p.out, "  %s: %.1f MiB\n", p.label, mib(p.steps*step))
	}
	return len(b), nil
}

func (p *progress) done() {
	if p.total <= 0 {
		fmt.Fprintf(p.out, "  %s: %.1f MiB, done\n", p.label, mib(p.written))
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// tail is the last part of a command's output, for error messages.
func tail(b []byte) string {
	const n = 2048
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = append([]byte("..."), b[len(b)-n:]...)
	}
	return string(b)
}

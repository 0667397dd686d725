// Command image is `make image`: it packs the command's binary — the one `make` built and
// the tests ran, not a rebuild — into an OCI image tarball with go-containerregistry, the
// library ko and crane are built on, and smoke-tests the tarball by running the binary it
// holds. No Docker engine and no registry are involved.
//
//	go run . build BINARY VERSION TARBALL   write the image tarball
//	go run . smoke TARBALL SCENARIO         read it back, check its config, run the binary
//
// Why not ko itself: ko compiles the binary again and needs its own ~400-module build on a
// fresh machine (114 s + 43 s of a cold make test, which has a 30 min budget), to produce what
// this does from the tested binary: a static executable on an empty base. ko's other features
// (multi-platform builds, pushing, SBOMs) are not what make image needs.
//
// The image is reproducible: fixed timestamps, so the same binary gives the same digest.
//
// A separate module (hack/image/go.mod), like hack/apiserver/tools, so that the command's
// own go.mod does not carry an image library it never links.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's name in the tarball. .invalid (RFC 2606): it is written, never pushed.
const reference = "egress-conformance.invalid/egress-conformance"

// entrypoint is where the binary lives in the image.
const entrypoint = "/egress-conformance"

// nonroot is the uid/gid the command runs as: it needs no privilege, and 65532 is the
// "nonroot" user of the distroless and Chainguard static bases.
const nonroot = "65532"

func main() {
	args := os.Args[1:]
	var err error
	switch {
	case len(args) == 4 && args[0] == "build":
		err = build(args[1], args[2], args[3])
	case len(args) == 3 && args[0] == "smoke":
		err = smoke(args[1], args[2])
	default:
		fmt.Fprintln(os.Stderr, "usage: image build BINARY VERSION TARBALL | image smoke TARBALL SCENARIO")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// build writes a one-layer linux/GOARCH image holding the binary at entrypoint and a
// world-writable /tmp (the command writes temporary files; an empty base has no /tmp).
func build(binary, version, tarPath string) error {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(bin, []byte("\x7fELF")) {
		return fmt.Errorf("%s is not a linux (ELF) executable: build it with GOOS=linux", binary)
	}
	layerTar, err := layerOf(map[string][]byte{strings.TrimPrefix(entrypoint, "/"): bin})
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		CreatedBy: "hack/image: " + path.Base(binary) + " " + version,
		Created:   v1.Time{Time: time.Unix(0, 0).UTC()},
	}})
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config = v1.Config{
		Entrypoint: []string{entrypoint},
		User:       nonroot + ":" + nonroot,
		Env:        []string{"HOME=/tmp"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "egress-conformance",
			"org.opencontainers.image.version": version,
		},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	ref, err := name.NewTag(reference+":"+tagOf(version), name.WeakValidation)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(tarPath, ref, img); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", ref, digest)
	return nil
}

// tagOf turns a Go module version into a valid image tag (no '+', at most 128 characters).
func tagOf(version string) string {
	t := strings.NewReplacer("+", "-", "/", "-").Replace(version)
	if t == "" || t == "(devel)" {
		t = "devel"
	}
	if len(t) > 128 {
		t = t[:128]
	}
	return t
}

// layerOf writes a layer's tar: /tmp (mode 1777) and each file, owned by root, executable,
// with the epoch as modification time so that the layer's digest depends on the bytes only.
func layerOf(files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	for name, data := range files {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o755, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// smoke checks the image: linux, the entrypoint, a non-root user, and a binary that runs
// (`version`, `help`, and `check` on one catalog scenario) when extracted from the layers.
// A binary for another OS than the host's cannot run here; that is said, not passed over.
func smoke(tarPath, scenario string) error {
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.OS != "linux" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != entrypoint {
		return fmt.Errorf("image config: os %q, entrypoint %q; want linux and [%s]", cf.OS, cf.Config.Entrypoint, entrypoint)
	}
	if cf.Config.User == "" || strings.HasPrefix(cf.Config.User, "0") || strings.HasPrefix(cf.Config.User, "root") {
		return fmt.Errorf("image config: user %q; want a non-root user", cf.Config.User)
	}
	bin, err := extract(img, entrypoint)
	if err != nil {
		return err
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != cf.Architecture {
		fmt.Printf("image %s: %d MB linux/%s binary at %s; not run: this host is %s/%s\n",
			tarPath, len(bin)>>20, cf.Architecture, entrypoint, runtime.GOOS, runtime.GOARCH)
		return nil
	}
	dir, err := os.MkdirTemp("", "image-smoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, path.Base(entrypoint))
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		return err
	}
	runs := []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "egress-conformance "},
		{[]string{"help"}, "Exit codes:"},
		{[]string{"check", "--quiet", "--format", "text", scenario}, ""},
	}
	for _, r := range runs {
		cmd := exec.Command(exe, r.args...)
		cmd.Env = append(os.Environ(), cf.Config.Env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v\n%s", entrypoint, strings.Join(r.args, " "), err, out)
		}
		if !bytes.Contains(out, []byte(r.want)) {
			return fmt.Errorf("%s %s printed no %q:\n%s", entrypoint, r.args[0], r.want, out)
		}
		if r.args[0] == "version" {
			fmt.Printf("image %s: %s", tarPath, out)
		}
	}
	fmt.Printf("image %s: entrypoint %s runs as user %s (%d MB binary); it checked %s\n",
		tarPath, entrypoint, cf.Config.User, len(bin)>>20, scenario)
	return nil
}

// extract reads one file from the image's flattened file system.
func extract(img v1.Image, file string) ([]byte, error) {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	want := strings.TrimPrefix(file, "/")
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s is not in the image", file)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/") == want {
			return io.ReadAll(tr)
		}
	}
}

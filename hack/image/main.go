// Command image is the part of `make image` that needs go-containerregistry: it
// writes the empty base image ko builds on into ko's on-disk cache (no registry is
// reachable here, and the command is a static binary that needs nothing from a base),
// and smoke-tests the image tarball ko writes by running the binary it holds.
//
//	go run . base KOCACHE      write the base into KOCACHE/img (an OCI layout); print its digest
//	go run . smoke TARBALL     read the image, check its entrypoint, extract the binary, run it
//
// A separate module (hack/image/go.mod), like hack/apiserver/*, so that the command's
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

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: image base KOCACHE | image smoke TARBALL")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "base":
		err = base(os.Args[2])
	case "smoke":
		err = smoke(os.Args[2])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

// base writes an empty linux/GOARCH image into ko's cache. ko (pkg/commands/cache.go,
// imageCache.get) serves a base referenced by digest from KOCACHE/img when an index
// entry has that digest, without asking the registry.
func base(kocache string) error {
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: runtime.GOARCH,
		RootFS: v1.RootFS{Type: "layers"}, Config: v1.Config{}})
	if err != nil {
		return err
	}
	dir := filepath.Join(kocache, "img")
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	if err := p.AppendImage(img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Println(d.String())
	return nil
}

// smoke checks the image ko wrote: one image whose entrypoint is the command, and
// whose binary runs (`version`, `help`) when extracted from the layers.
func smoke(tarPath string) error {
	img, err := tarball.ImageFromPath(tarPath, nil)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.OS != "linux" || len(cf.Config.Entrypoint) != 1 {
		return fmt.Errorf("image config: os %q, entrypoint %q; want linux and the command", cf.OS, cf.Config.Entrypoint)
	}
	entry := cf.Config.Entrypoint[0]
	bin, err := extract(img, entry)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "image-smoke-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, path.Base(entry))
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		return err
	}
	for _, args := range [][]string{{"version"}, {"help"}} {
		out, err := exec.Command(exe, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v\n%s", entry, args[0], err, out)
		}
		want := map[string]string{"version": "egress-conformance ", "help": "Exit codes:"}[args[0]]
		if !bytes.Contains(out, []byte(want)) {
			return fmt.Errorf("%s %s printed no %q:\n%s", entry, args[0], want, out)
		}
		if args[0] == "version" {
			fmt.Printf("image %s: %s", tarPath, out)
		}
	}
	fmt.Printf("image %s: entrypoint %s runs (%d MB binary)\n", tarPath, entry, len(bin)>>20)
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
		if strings.TrimPrefix(h.Name, "/") == want || strings.TrimPrefix(h.Name, "./") == want {
			return io.ReadAll(tr)
		}
	}
}

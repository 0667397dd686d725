// Command modproxy writes a one-module Go module proxy to a directory: this repository at a
// git revision, zipped exactly as a module proxy would serve a tagged release
// (golang.org/x/mod/zip.CreateFromVCS: committed files only, nested modules such as
// hack/image left out, the size and name rules the go command enforces on download).
//
// It exists so that `go install <module>/cmd/egress-conformance@<version>` can be tried from
// an empty module cache before a tag is published (hack/go-install.sh): GOPROXY=file://DIR
// first, the configured proxy for every dependency after it.
//
//	go run ./hack/modproxy -out DIR [-rev HEAD] [-version v0.0.0-…]
//
// It prints the version it wrote (a pseudo-version of the revision unless -version is given).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	modzip "golang.org/x/mod/zip"
)

func main() {
	out := flag.String("out", "", "directory to write the proxy into (created)")
	rev := flag.String("rev", "HEAD", "git revision to publish")
	version := flag.String("version", "", "module version to publish (default: the revision's pseudo-version)")
	root := flag.String("root", ".", "repository root (its go.mod names the module)")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "modproxy: -out is required")
		os.Exit(2)
	}
	v, err := run(*root, *out, *rev, *version)
	if err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
	fmt.Println(v)
}

func run(root, out, rev, version string) (string, error) {
	gomod, err := git(root, "show", rev+":go.mod")
	if err != nil {
		return "", err
	}
	path := modfile.ModulePath(gomod)
	if path == "" {
		return "", fmt.Errorf("%s:go.mod at %s names no module", root, rev)
	}
	revParsed, err := git(root, "rev-parse", rev+"^{commit}")
	if err != nil {
		return "", err
	}
	commit := strings.TrimSpace(string(revParsed))
	stamp, err := git(root, "show", "-s", "--format=%ct", commit)
	if err != nil {
		return "", err
	}
	var unix int64
	if _, err := fmt.Sscan(string(stamp), &unix); err != nil {
		return "", fmt.Errorf("commit time of %s: %w", rev, err)
	}
	when := time.Unix(unix, 0).UTC()
	if version == "" {
		// What the go command itself derives for an untagged commit.
		version = module.PseudoVersion("v0", "", when, commit[:12])
	}
	mv := module.Version{Path: path, Version: version}
	if err := module.Check(mv.Path, mv.Version); err != nil {
		return "", err
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(out, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	zipFile, err := os.Create(filepath.Join(dir, version+".zip"))
	if err != nil {
		return "", err
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	if err := modzip.CreateFromVCS(zipFile, mv, absRoot, commit, ""); err != nil {
		zipFile.Close()
		return "", fmt.Errorf("zipping %s at %s: %w", path, rev, err)
	}
	if err := zipFile.Close(); err != nil {
		return "", err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, when})
	if err != nil {
		return "", err
	}
	for name, data := range map[string][]byte{
		version + ".mod":  gomod,
		version + ".info": info,
		"list":            []byte(version + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	return version, nil
}

func git(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(stderr.String()))
		}
		return nil, err
	}
	return b, nil
}

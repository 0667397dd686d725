package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
)

// LoadImage copies image from the host's Docker into every node of the kind cluster
// that lacks it: `docker image inspect` for its ID, `docker save` to a temporary
// archive, then kind's nodeutils.LoadImageArchive (ctr import) on each node — what
// `kind load docker-image` does, without the kind CLI. args are not supported. For
// an existing cluster it returns ErrExistingCluster: push the image to a registry
// the cluster can pull from instead.
func (p *Provider) LoadImage(ctx context.Context, image string, args ...string) error {
	if len(args) > 0 {
		return fmt.Errorf("load image %s: arguments %q are not supported", image, args)
	}
	kp, name, err := p.kindTarget("load image " + image)
	if err != nil {
		return err
	}
	id, err := p.localImageID(ctx, image)
	if err != nil {
		return err
	}
	all, err := kp.ListInternalNodes(name)
	if err != nil {
		return fmt.Errorf("load image %s: nodes of kind cluster %q: %w", image, name, kindError(err))
	}
	if len(all) == 0 {
		return fmt.Errorf("load image %s: kind cluster %q has no nodes", image, name)
	}
	var missing []nodes.Node
	for _, n := range all {
		if got, err := nodeutils.ImageID(n, image); err != nil || got != id {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil
	}

	fmt.Fprintf(p.out, "Loading image %s into kind cluster %q ...\n", image, name)
	dir, err := os.MkdirTemp("", "egress-conformance-image-")
	if err != nil {
		return fmt.Errorf("load image %s: %w", image, err)
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "image.tar")
	if err := p.dockerSave(ctx, archive, image); err != nil {
		return err
	}
	err = loadArchive(missing, archive)
	if err != nil && needsPlatformRetry(err) {
		// Docker's containerd image store saves the index of every platform of a
		// multi-platform image but the content of the local one only, and ctr refuses
		// to import it (kubernetes-sigs/kind#3795). Saving only the nodes' platform
		// (the host's: kind nodes are local containers) avoids that.
		if err := p.dockerSave(ctx, archive, image, "--platform", "linux/"+runtime.GOARCH); err != nil {
			return err
		}
		err = loadArchive(missing, archive)
	}
	if err != nil {
		return fmt.Errorf("load image %s into kind cluster %q: %w", image, name, kindError(err))
	}
	return nil
}

// LoadImageArchive imports an image archive (as written by `docker save`) into every
// node of the kind cluster. args are not supported; for an existing cluster it
// returns ErrExistingCluster.
func (p *Provider) LoadImageArchive(ctx context.Context, archive string, args ...string) error {
	if len(args) > 0 {
		return fmt.Errorf("load image archive %s: arguments %q are not supported", archive, args)
	}
	kp, name, err := p.kindTarget("load image archive " + archive)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := os.Stat(archive); err != nil {
		return fmt.Errorf("load image archive: %w", err)
	}
	all, err := kp.ListInternalNodes(name)
	if err != nil {
		return fmt.Errorf("load image archive %s: nodes of kind cluster %q: %w", archive, name, kindError(err))
	}
	if len(all) == 0 {
		return fmt.Errorf("load image archive %s: kind cluster %q has no nodes", archive, name)
	}
	fmt.Fprintf(p.out, "Loading image archive %s into kind cluster %q ...\n", archive, name)
	if err := loadArchive(all, archive); err != nil {
		return fmt.Errorf("load image archive %s into kind cluster %q: %w", archive, name, kindError(err))
	}
	return nil
}

// localImageID is the ID of image in the host's Docker, or an error saying to pull it.
func (p *Provider) localImageID(ctx context.Context, image string) (string, error) {
	stdout, stderr, err := p.run(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", image)
	if errors.Is(err, exec.ErrNotFound) {
		return "", fmt.Errorf("load image %s: %w: the docker command is not in PATH", image, ErrDockerUnavailable)
	}
	id := strings.TrimSpace(string(stdout))
	if err != nil || id == "" || strings.Contains(id, "\n") {
		detail := lineWith(string(stderr), "No such image", "no such image")
		if detail == "" {
			detail = firstLine(string(stderr))
		}
		if detail == "" && err != nil {
			detail = err.Error()
		}
		return "", fmt.Errorf("load image %s: it is not in the local Docker (%s): pull or build it first, "+
			"e.g. docker pull %s", image, detail, image)
	}
	return id, nil
}

func (p *Provider) dockerSave(ctx context.Context, archive, image string, extra ...string) error {
	args := append([]string{"save", "-o", archive}, extra...)
	args = append(args, image)
	if _, stderr, err := p.run(ctx, "docker", args...); err != nil {
		return fmt.Errorf("load image %s: docker %s: %w: %s", image, strings.Join(args, " "), err,
			strings.TrimSpace(string(stderr)))
	}
	return nil
}

// loadArchive imports the archive into each node, one after the other (kind
// clusters of this harness have one node; ctr import is I/O bound anyway).
func loadArchive(targets []nodes.Node, archive string) error {
	for _, n := range targets {
		f, err := os.Open(archive)
		if err != nil {
			return err
		}
		err = nodeutils.LoadImageArchive(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("node %s: %w", n, err)
		}
	}
	return nil
}

// needsPlatformRetry recognises ctr's refusal of an archive that lists platforms
// whose content it lacks: "ctr: content digest sha256:…: not found".
func needsPlatformRetry(err error) bool {
	text := err.Error()
	if re := runError(err); re != nil {
		text += "\n" + string(re.Output)
	}
	return strings.Contains(text, "content digest") && strings.Contains(text, "not found")
}

package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// DefaultKindConfig is the kind config of the cluster tier, relative to the module
// root. ResolveKindConfig finds it from any directory inside the module (the
// suites run with their own package directory as working directory).
const DefaultKindConfig = "fixtures/kind/cluster.yaml"

const (
	kindAPIVersion = "kind.x-k8s.io/v1alpha4"
	kindKind       = "Cluster"
)

// ResolveKindConfig returns path unchanged if it is set; for "" it looks for
// DefaultKindConfig in the working directory and its parents.
func ResolveKindConfig(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("kind config: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, DefaultKindConfig)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("kind config %s not found in %s or any parent directory: run from inside the "+
		"egress-conformance module, or set %s to the kind config file", DefaultKindConfig, wd, EnvKindConfig)
}

// loadKindConfig reads a kind v1alpha4 Cluster config strictly: unknown fields,
// another apiVersion or kind, or several YAML documents are errors.
func loadKindConfig(path string) (*v1alpha4.Cluster, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kind config: %w", err)
	}
	c, err := ParseKindConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("kind config %s: %w", path, err)
	}
	return c, nil
}

// ParseKindConfig is loadKindConfig on bytes.
func ParseKindConfig(raw []byte) (*v1alpha4.Cluster, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	c := &v1alpha4.Cluster{}
	if err := dec.Decode(c); err != nil {
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); err == nil {
		return nil, errors.New("more than one YAML document; want a single kind Cluster")
	}
	if c.APIVersion != kindAPIVersion || c.Kind != kindKind {
		return nil, fmt.Errorf("apiVersion %q kind %q: want apiVersion %s kind %s",
			c.APIVersion, c.Kind, kindAPIVersion, kindKind)
	}
	return c, nil
}

// KindConfig loads the kind config at path (see ResolveKindConfig) and fills in what
// the harness decides rather than the file: the cluster name and every node's image.
// A file that sets a node image is refused, because versions are pinned only in
// versions.env (override with KIND_NODE_IMAGE). A file without nodes gets kind's
// default, one control-plane node, written out explicitly.
func KindConfig(path, name, nodeImage string) (*v1alpha4.Cluster, error) {
	path, err := ResolveKindConfig(path)
	if err != nil {
		return nil, err
	}
	c, err := loadKindConfig(path)
	if err != nil {
		return nil, err
	}
	if err := completeKindConfig(c, name, nodeImage); err != nil {
		return nil, fmt.Errorf("kind config %s: %w", path, err)
	}
	return c, nil
}

func completeKindConfig(c *v1alpha4.Cluster, name, nodeImage string) error {
	if len(c.Nodes) == 0 {
		c.Nodes = []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}}
	}
	controlPlanes := 0
	for i, n := range c.Nodes {
		if n.Image != "" {
			return fmt.Errorf("nodes[%d].image is set (%s): node images are pinned in pkg/versions/versions.env; "+
				"remove it and set %s to override", i, n.Image, EnvNodeImage)
		}
		if n.Role == v1alpha4.ControlPlaneRole || n.Role == "" {
			controlPlanes++
		}
		c.Nodes[i].Image = nodeImage
	}
	if controlPlanes == 0 {
		return errors.New("no control-plane node")
	}
	c.Name = name
	return nil
}

// RenderKindConfig writes c as YAML, e.g. to record the exact config of a run
// next to its report. ParseKindConfig reads it back.
func RenderKindConfig(c *v1alpha4.Cluster) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("render kind config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render kind config: %w", err)
	}
	return b.Bytes(), nil
}

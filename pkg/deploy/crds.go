package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Modules whose CRDs InstallCRDs reads from the Go module cache, at the versions
// go.mod pins.
const (
	GatewayAPIModule = "sigs.k8s.io/gateway-api"
	IstioModule      = "istio.io/istio"
)

// CRDSource is a set of YAML files holding CustomResourceDefinitions; their other
// documents are skipped.
type CRDSource struct {
	// Name says what the CRDs are, with their version, in messages.
	Name  string
	Files []string
}

// GatewayAPIChannel is a release channel of the Gateway API CRDs.
type GatewayAPIChannel string

const (
	// StandardChannel serves the GA and beta versions.
	StandardChannel GatewayAPIChannel = "standard"
	// ExperimentalChannel also serves the alpha versions (TLSRoute v1alpha2 and
	// v1alpha3, TCPRoute v1alpha2, BackendTLSPolicy v1alpha3 in v1.6.0) that
	// Istio's egress examples still use.
	ExperimentalChannel GatewayAPIChannel = "experimental"
)

// ChannelFor is the channel the scenarios need: experimental when a bundle uses an
// alpha Gateway API version, which the standard channel does not serve (the bundle
// would pass the offline tier and fail on the cluster), standard otherwise.
func ChannelFor(ss []*scenario.Scenario) GatewayAPIChannel {
	for _, s := range ss {
		for _, st := range s.Steps {
			for _, o := range st.Bundle {
				if gv, err := schema.ParseGroupVersion(o.APIVersion); err == nil && gv.Group == GatewayAPIGroup &&
					strings.Contains(gv.Version, "alpha") {
					return ExperimentalChannel
				}
			}
		}
	}
	return StandardChannel
}

// Modules finds the modules whose CRDs a run installs in the Go module cache,
// with `go mod download` at the versions go.mod requires.
type Modules struct {
	// Go is the go command (settings.Run.Go, from GO); "" means "go".
	Go string
	// Root holds the go.mod ("" = the enclosing module of the working directory).
	Root string
}

// GatewayAPICRDs is a channel of the Gateway API CRDs (config/crd/<channel>/*.yaml)
// of sigs.k8s.io/gateway-api at the version go.mod requires, which must equal
// versions.env's GATEWAY_API_VERSION.
func (m Modules) GatewayAPICRDs(ctx context.Context, channel GatewayAPIChannel) (CRDSource, error) {
	if channel != StandardChannel && channel != ExperimentalChannel {
		return CRDSource{}, fmt.Errorf("Gateway API channel %q: want %s or %s", channel, StandardChannel, ExperimentalChannel)
	}
	version, dir, err := m.dir(ctx, GatewayAPIModule)
	if err != nil {
		return CRDSource{}, err
	}
	if version != versions.GatewayAPI {
		return CRDSource{}, fmt.Errorf("%s is %s in go.mod but GATEWAY_API_VERSION=%s in versions.env: make them equal",
			GatewayAPIModule, version, versions.GatewayAPI)
	}
	// gateway.networking.k8s.io_* only: the experimental directory also holds
	// x-k8s.io CRDs and a ValidatingAdmissionPolicy, which no scenario needs.
	files, err := filepath.Glob(filepath.Join(dir, "config", "crd", string(channel), GatewayAPIGroup+"_*.yaml"))
	if err != nil || len(files) == 0 {
		return CRDSource{}, fmt.Errorf("%s@%s: no config/crd/%s/%s_*.yaml in %s", GatewayAPIModule, version, channel, GatewayAPIGroup, dir)
	}
	return CRDSource{Name: "Gateway API " + version + " (" + string(channel) + " channel)", Files: files}, nil
}

// IstioCRDs are Istio's CRDs (manifests/charts/base/files/crd-all.gen.yaml) of
// istio.io/istio at the version go.mod requires. On a real cluster istioctl
// installs them; this is for API servers without Istio.
func (m Modules) IstioCRDs(ctx context.Context) (CRDSource, error) {
	version, dir, err := m.dir(ctx, IstioModule)
	if err != nil {
		return CRDSource{}, err
	}
	f := filepath.Join(dir, "manifests", "charts", "base", "files", "crd-all.gen.yaml")
	if _, err := os.Stat(f); err != nil {
		return CRDSource{}, fmt.Errorf("%s@%s: %w", IstioModule, version, err)
	}
	return CRDSource{Name: "Istio " + version, Files: []string{f}}, nil
}

// dir downloads (if needed) module at the version go.mod selects and returns
// that version and its directory in the module cache.
func (m Modules) dir(ctx context.Context, module string) (version, dir string, err error) {
	goBin := m.Go
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "mod", "download", "-json", module)
	cmd.Dir = m.Root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Version, Dir, Error string }
	if err := json.Unmarshal(stdout.Bytes(), &info); err != nil || runErr != nil || info.Error != "" {
		msg := strings.TrimSpace(info.Error + " " + stderr.String())
		if runErr == nil && err != nil {
			runErr = err
		}
		return "", "", fmt.Errorf("go mod download %s: %v %s", module, runErr, msg)
	}
	return info.Version, info.Dir, nil
}

// CRDResult says what InstallCRDs found and did.
type CRDResult struct {
	// Created are the CRDs it created (labelled RunLabel=runID, so Cleanup deletes
	// them); Present the ones that existed already, which it left alone.
	Created, Present []string
	// Skipped are documents of the files that are not CRDs ("file:line: Kind name").
	Skipped []string
}

var crdGVK = schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"}

// InstallCRDs creates every CRD of src that does not exist, labelled RunLabel=runID,
// and waits (Timeouts.CRDEstablished) until every CRD of src is Established. It never
// changes or deletes a CRD that exists: one of another version stays as it is.
func InstallCRDs(ctx context.Context, c *Cluster, src CRDSource, runID string) (CRDResult, error) {
	var res CRDResult
	fail := func(err error) (CRDResult, error) { return res, fmt.Errorf("CRDs of %s: %w", src.Name, err) }
	if err := ValidateRunID(runID); err != nil {
		return fail(err)
	}
	var crds []manifest
	for _, f := range src.Files {
		ms, err := readManifests(f, f)
		if err != nil {
			return fail(err)
		}
		for _, m := range ms {
			if m.Obj.GroupVersionKind() != crdGVK {
				res.Skipped = append(res.Skipped, m.where())
				continue
			}
			crds = append(crds, m)
		}
	}
	if len(crds) == 0 {
		return fail(errors.New("no CustomResourceDefinition in " + strings.Join(src.Files, ", ")))
	}
	start := time.Now()
	for _, m := range crds {
		existing := &unstructured.Unstructured{}
		existing.SetGroupVersionKind(crdGVK)
		err := c.Client.Get(ctx, client.ObjectKey{Name: m.Obj.GetName()}, existing)
		if err == nil {
			res.Present = append(res.Present, m.Obj.GetName())
			continue
		}
		if !apierrors.IsNotFound(err) {
			return fail(fmt.Errorf("%s: %w", m.where(), err))
		}
		u := m.Obj.DeepCopy()
		addLabels(u, ownedLabels(runID))
		if err := c.Client.Create(ctx, u, client.FieldOwner(FieldManager)); err != nil {
			if apierrors.IsAlreadyExists(err) {
				res.Present = append(res.Present, m.Obj.GetName())
				continue
			}
			return fail(fmt.Errorf("%s: %w", m.where(), err))
		}
		res.Created = append(res.Created, m.Obj.GetName())
	}
	c.logf("CRDs of %s: created %d, %d present, in %s; waiting until Established", src.Name,
		len(res.Created), len(res.Present), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	t := c.timeouts()
	err := poll(ctx, t.Poll, t.CRDEstablished, func(ctx context.Context) (bool, string, error) {
		var waiting []string
		for _, m := range crds {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(crdGVK)
			if err := c.Client.Get(ctx, client.ObjectKey{Name: m.Obj.GetName()}, u); err != nil {
				return false, "", fmt.Errorf("%s: %w", m.Obj.GetName(), err)
			}
			if ok, why := established(u); !ok {
				waiting = append(waiting, m.Obj.GetName()+" ("+why+")")
			}
		}
		if len(waiting) > 0 {
			return false, "not Established: " + strings.Join(waiting, ", "), nil
		}
		return true, "", nil
	})
	if err != nil {
		return fail(err)
	}
	c.logf("CRDs of %s: Established after %s", src.Name, time.Since(start).Round(time.Millisecond))
	slices.Sort(res.Created)
	slices.Sort(res.Present)
	return res, nil
}

// established reads the Established condition of a CRD; when it is not True, why
// carries NamesAccepted's or Established's message.
func established(u *unstructured.Unstructured) (ok bool, why string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	why = "no conditions yet"
	for _, c := range conds {
		m, _ := c.(map[string]any)
		typ, _ := m["type"].(string)
		status, _ := m["status"].(string)
		msg, _ := m["message"].(string)
		switch {
		case typ == "Established" && status == "True":
			return true, ""
		case typ == "Established" || (typ == "NamesAccepted" && status != "True"):
			why = typ + "=" + status + ": " + msg
		}
	}
	return false, why
}

// GatewayAPIGroup is the API group of the Gateway API.
const GatewayAPIGroup = "gateway.networking.k8s.io"

// NeedsGatewayAPI reports whether any bundle object of the scenarios is a Gateway API
// object, so that the Gateway API CRDs are installed only when a scenario needs them
// (Istio does not install them).
func NeedsGatewayAPI(ss []*scenario.Scenario) bool {
	for _, s := range ss {
		for _, st := range s.Steps {
			for _, o := range st.Bundle {
				if gv, err := schema.ParseGroupVersion(o.APIVersion); err == nil && gv.Group == GatewayAPIGroup {
					return true
				}
			}
		}
	}
	return false
}

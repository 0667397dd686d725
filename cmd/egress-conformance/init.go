package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

const initUsage = `Usage: egress-conformance init [flags] FILE|DIR...

Writes a scenario skeleton from a team's existing Istio YAML (files, or every
.yaml/.yml file of a directory). It copies the files into the new scenario
directory and proposes the steps:
  before-routing  applies the ServiceEntries: the host leaves straight from the
                  client's sidecar (route: direct)
  after-routing   applies the Gateways, VirtualServices, DestinationRules and the
                  rest: the host leaves through the egress gateway (route:
                  egress-gateway) when a Gateway and a VirtualService exist
The request's URL comes from the first ServiceEntry host and its port's protocol.
The result is loaded back with the strict loader; edit the expectations (the
comments say what to check), then run: egress-conformance check DIR

Flags:
`

func runInit(args []string, stdout, stderr io.Writer) (int, error) {
	fs := newFlagSet("init", initUsage, stdout)
	out := fs.String("out", "", "the scenario directory to create (default: ./<name>)")
	name := fs.String("name", "", "the scenario's name, kebab-case (default: from the first ServiceEntry host)")
	policy := fs.String("outbound-policy", "ALLOW_ANY", "the mesh's outboundTrafficPolicy: ALLOW_ANY or REGISTRY_ONLY")
	force := fs.Bool("force", false, "write into an existing, non-empty directory")
	inputs, err := parse(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(inputs) == 0 {
		return exitUsage, usagef("init needs the Istio YAML files (or directories) to start from")
	}
	if *policy != string(scenario.AllowAny) && *policy != string(scenario.RegistryOnly) {
		return exitUsage, usagef("--outbound-policy %q: want ALLOW_ANY or REGISTRY_ONLY", *policy)
	}
	files, err := yamlFiles(inputs)
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	b, err := readBundleFiles(files)
	if err != nil {
		return exitUsage, usageError{err.Error()}
	}
	if *name == "" {
		*name = suggestName(b)
	}
	if *out == "" {
		*out = *name
	}
	if entries, err := os.ReadDir(*out); err == nil && len(entries) > 0 && !*force {
		return exitUsage, usagef("%s exists and is not empty (--force to write into it)", *out)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return exitInternal, err
	}
	used := map[string]bool{scenario.FileName: true}
	for _, f := range b.files {
		base := filepath.Base(f.path)
		for i := 2; used[base]; i++ {
			base = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(filepath.Base(f.path), filepath.Ext(f.path)), i, filepath.Ext(f.path))
		}
		used[base] = true
		f.name = base
		if err := os.WriteFile(filepath.Join(*out, base), f.data, 0o644); err != nil {
			return exitInternal, err
		}
	}
	text := skeleton(*name, *policy, b)
	if err := os.WriteFile(filepath.Join(*out, scenario.FileName), []byte(text), 0o644); err != nil {
		return exitInternal, err
	}
	if _, err := scenario.Load(*out); err != nil {
		fmt.Fprintf(stderr, "the skeleton in %s does not load yet; fix these, then run egress-conformance check %s:\n%v\n", *out, *out, err)
		return exitFail, nil
	}
	fmt.Fprintf(stderr, "wrote %s (%d bundle files): review the expectations, then run: egress-conformance check %s\n", filepath.Join(*out, scenario.FileName), len(b.files), *out)
	return exitPass, nil
}

// bundleFile is an input file and what it holds.
type bundleFile struct {
	path  string
	name  string // its name in the scenario directory
	data  []byte
	kinds map[string]bool
}

type bundleSummary struct {
	files []*bundleFile
	// hosts are the ServiceEntry hosts, with each one's first port.
	hosts    []hostPort
	gateways int
	vss      int
}

type hostPort struct {
	host     string
	port     int
	protocol string
}

func yamlFiles(inputs []string) ([]string, error) {
	var out []string
	for _, in := range inputs {
		st, err := os.Stat(in)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, in)
			continue
		}
		entries, err := os.ReadDir(in)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") && e.Name() != scenario.FileName {
				out = append(out, filepath.Join(in, e.Name()))
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no .yaml or .yml file in " + strings.Join(inputs, ", "))
	}
	return out, nil
}

// readBundleFiles reads the kinds and ServiceEntry hosts of every document; the
// strict decoding happens when the skeleton is loaded back.
func readBundleFiles(paths []string) (bundleSummary, error) {
	var b bundleSummary
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return b, err
		}
		f := &bundleFile{path: p, data: data, kinds: map[string]bool{}}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc struct {
				Kind string `yaml:"kind"`
				Spec struct {
					Hosts []string `yaml:"hosts"`
					Ports []struct {
						Number   int    `yaml:"number"`
						Protocol string `yaml:"protocol"`
					} `yaml:"ports"`
				} `yaml:"spec"`
			}
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return b, fmt.Errorf("%s: %w", p, err)
			}
			if doc.Kind == "" {
				continue
			}
			f.kinds[doc.Kind] = true
			switch doc.Kind {
			case "ServiceEntry":
				for _, h := range doc.Spec.Hosts {
					hp := hostPort{host: h}
					if len(doc.Spec.Ports) > 0 {
						hp.port, hp.protocol = doc.Spec.Ports[0].Number, strings.ToUpper(doc.Spec.Ports[0].Protocol)
					}
					b.hosts = append(b.hosts, hp)
				}
			case "Gateway":
				b.gateways++
			case "VirtualService", "HTTPRoute", "TLSRoute":
				b.vss++
			}
		}
		b.files = append(b.files, f)
	}
	return b, nil
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

func suggestName(b bundleSummary) string {
	base := "egress"
	if len(b.hosts) > 0 {
		base = strings.Trim(nonName.ReplaceAllString(strings.ToLower(strings.TrimPrefix(b.hosts[0].host, "*.")), "-"), "-")
	}
	if b.gateways > 0 && b.vss > 0 {
		base += "-via-egress-gateway"
	}
	if len(base) > 50 {
		base = strings.Trim(base[:50], "-")
	}
	return base
}

// requestURL is the URL a step probes: the first ServiceEntry host, with https
// for a TLS or HTTPS port.
func requestURL(b bundleSummary) (string, string) {
	if len(b.hosts) == 0 {
		return "http://httpbin.org/ip", "no ServiceEntry found: replace the URL with the host your policy is about"
	}
	h := b.hosts[0]
	host, note := h.host, ""
	if strings.HasPrefix(host, "*.") {
		host = "www." + strings.TrimPrefix(host, "*.")
		note = "a wildcard host: probing " + host + ", pick a real name under it"
	}
	scheme := "http"
	if h.protocol == "HTTPS" || h.protocol == "TLS" || h.port == 443 {
		scheme = "https"
	}
	u := scheme + "://" + host
	if (scheme == "http" && h.port != 0 && h.port != 80) || (scheme == "https" && h.port != 0 && h.port != 443) {
		u += fmt.Sprintf(":%d", h.port)
	}
	return u + "/", note
}

func skeleton(name, policy string, b bundleSummary) string {
	var before, after []string
	for _, f := range b.files {
		if len(f.kinds) == 1 && f.kinds["ServiceEntry"] {
			before = append(before, f.name)
		} else {
			after = append(after, f.name)
		}
	}
	sort.Strings(before)
	sort.Strings(after)
	url, note := requestURL(b)
	throughGateway := b.gateways > 0 && b.vss > 0
	var s strings.Builder
	fmt.Fprintf(&s, "apiVersion: %s\nkind: %s\nname: %s\n", scenario.APIVersion, scenario.Kind, name)
	fmt.Fprintf(&s, "description: >-\n  TODO: what this proves, in one or two sentences. Written by egress-conformance init\n  from %d files.\n", len(b.files))
	s.WriteString("source: https://istio.io/latest/docs/tasks/traffic-management/egress/  # TODO: the task, ticket or issue this comes from\n")
	labels := []string{"egress"}
	if throughGateway {
		labels = []string{"egress-gateway"}
	}
	if strings.HasPrefix(url, "https") {
		labels = append(labels, "https")
	} else {
		labels = append(labels, "http")
	}
	fmt.Fprintf(&s, "labels: [%s]\nmesh:\n  outboundTrafficPolicy: %s\nclient: sleep\nsteps:\n", strings.Join(labels, ", "), policy)
	if note != "" {
		fmt.Fprintf(&s, "# NOTE: %s\n", note)
	}
	step := func(stepName string, files []string, route scenario.Route, comment string) {
		fmt.Fprintf(&s, "- name: %s\n", stepName)
		if len(files) > 0 {
			fmt.Fprintf(&s, "  apply: [%s]\n", strings.Join(files, ", "))
		}
		fmt.Fprintf(&s, "  request: {url: %s}\n  expect:\n    # %s\n    route: %s\n", url, comment, route)
		if route == scenario.RouteEgressGateway {
			s.WriteString("    # also worth stating: sidecarLog: {upstreamCluster: ...}, gatewayLog: {...}, origin: {hops: 2, first: client}\n")
		} else if route == scenario.RouteDirect {
			s.WriteString("    # also worth stating: gatewayLog: absent, origin: {hops: 1}\n")
		}
	}
	firstRoute := scenario.RouteDirect
	firstWhy := "only the ServiceEntries exist: the request leaves straight from the client's sidecar"
	if policy == string(scenario.RegistryOnly) && len(before) == 0 {
		firstRoute, firstWhy = scenario.RouteBlocked, "REGISTRY_ONLY and nothing registered yet: the sidecar blocks the host"
	}
	switch {
	case len(after) == 0:
		step("registered", before, firstRoute, firstWhy)
	case len(before) == 0 && throughGateway:
		step("after-routing", after, scenario.RouteEgressGateway, "Gateway and VirtualService route the host through the egress gateway")
	case throughGateway:
		step("before-routing", before, firstRoute, firstWhy)
		step("after-routing", after, scenario.RouteEgressGateway, "Gateway and VirtualService route the host through the egress gateway")
	default:
		step("before-routing", before, firstRoute, firstWhy)
		step("after-policy", after, scenario.RouteDirect, "TODO: no Gateway with a VirtualService found; state where the request should go")
	}
	return s.String()
}

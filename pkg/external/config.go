package external

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/egress-conformance/egress-conformance/pkg/versions"
)

// Defaults and names of the stand-in's objects. Every object lives in Namespace
// (default DefaultNamespace) except the CoreDNS edit, which is a marked block in
// kube-system/coredns.
const (
	// DefaultNamespace is where the stand-in runs. It is deliberately not
	// scenario.NamespacePrefix + something, so no scenario namespace can collide with it.
	DefaultNamespace = "egress-conformance-external"
	// Name names the stand-in's Deployment and Service (and so the DNS name the
	// external hosts are rewritten to: Name.<namespace>.svc.<cluster domain>).
	Name = "egress-standin"
	// NginxConfigMapName holds nginx.conf.
	NginxConfigMapName = "egress-standin-nginx"
	// TLSSecretName holds the server certificate chain and key (type kubernetes.io/tls).
	TLSSecretName = "egress-standin-tls"
	// CAConfigMapName holds the run's CA certificate under key CAKey. It exists in the
	// stand-in's namespace and, for TLS origination, in every namespace whose
	// DestinationRules were adapted by AdaptDestinationRule.
	CAConfigMapName = "egress-conformance-external-ca"
	// CAKey is the key of the CA certificate in CAConfigMapName (the key Istio reads
	// for a `configmap://` credentialName).
	CAKey = "ca.crt"

	// DefaultClusterDomain is kind's (kubeadm's) cluster domain.
	DefaultClusterDomain = "cluster.local"

	// ServicePortHTTP and ServicePortHTTPS are what the stand-in Service exposes: the
	// ports the scenarios' ServiceEntries name, because Envoy's STRICT_DNS clusters
	// connect to the resolved address on the ServiceEntry's port (or targetPort).
	ServicePortHTTP  = 80
	ServicePortHTTPS = 443
	// ContainerPortHTTP and ContainerPortHTTPS are where nginx listens: unprivileged
	// ports, so nginx runs as a non-root user on a read-only root filesystem.
	ContainerPortHTTP  = 8080
	ContainerPortHTTPS = 8443

	// StandinHeader is a response header the stand-in adds to every answer, whose
	// value is its namespace: proof that an answer came from the stand-in and not
	// from the internet. httpbin.org does not send it; no scenario asserts headers.
	StandinHeader = "X-Egress-Conformance-Standin"
)

// Labels the harness sets on what it creates.
const (
	// RunLabel carries the run id, as on every namespace the harness creates.
	RunLabel = "egress-conformance.io/run"
	// ManagedByLabel=ManagedByValue marks the harness's objects (same pair as the
	// cluster ownership marker of pkg/cluster).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "egress-conformance"
	// AppLabel selects the stand-in's pods.
	AppLabel = "app.kubernetes.io/name"
)

// DefaultHosts are the external hosts the scenarios use.
var DefaultHosts = []string{"httpbin.org"}

// Config says what the stand-in impersonates and where it runs. The zero value is
// usable: every empty field takes its default.
type Config struct {
	// Hosts are the external host names the stand-in answers for and that CoreDNS
	// rewrites to it; default DefaultHosts.
	Hosts []string
	// Namespace of the stand-in; default DefaultNamespace.
	Namespace string
	// RunID, when set, is written as the RunLabel of the namespace and objects.
	RunID string
	// Image is nginx; default versions.NginxImage.
	Image string
	// ClusterDomain; default DefaultClusterDomain.
	ClusterDomain string
}

// WithDefaults returns c with its empty fields set to their defaults; host names are
// lower-cased, sorted and deduplicated.
func (c Config) WithDefaults() Config {
	if len(c.Hosts) == 0 {
		c.Hosts = DefaultHosts
	}
	hosts := make([]string, 0, len(c.Hosts))
	for _, h := range c.Hosts {
		hosts = append(hosts, strings.ToLower(strings.TrimSpace(h)))
	}
	slices.Sort(hosts)
	c.Hosts = slices.Compact(hosts)
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Image == "" {
		c.Image = versions.NginxImage
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = DefaultClusterDomain
	}
	return c
}

// Validate checks a defaulted Config.
func (c Config) Validate() error {
	var errs []error
	for _, h := range c.Hosts {
		if err := checkHost(h); err != nil {
			errs = append(errs, err)
		}
	}
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("external: namespace %q: %s", c.Namespace, strings.Join(msgs, "; ")))
	}
	if msgs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("external: cluster domain %q: %s", c.ClusterDomain, strings.Join(msgs, "; ")))
	}
	if c.RunID != "" {
		if msgs := validation.IsValidLabelValue(c.RunID); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("external: run id %q is not a label value: %s", c.RunID, strings.Join(msgs, "; ")))
		}
	}
	if c.Image == "" {
		errs = append(errs, errors.New("external: no nginx image (NGINX_IMAGE in pkg/versions/versions.env)"))
	}
	return errors.Join(errs...)
}

// Target is the in-cluster name the external hosts are rewritten to:
// Name.<namespace>.svc.<cluster domain>.
func (c Config) Target() string {
	c = c.WithDefaults()
	return Name + "." + c.Namespace + ".svc." + c.ClusterDomain
}

// Serves reports whether the stand-in answers for host (case-insensitive, no port).
func (c Config) Serves(host string) bool {
	return slices.Contains(c.WithDefaults().Hosts, strings.ToLower(strings.TrimSuffix(host, ".")))
}

// checkHost accepts a fully qualified DNS name without wildcard or trailing dot, with
// at least two labels: an "external host" in the scenarios' sense.
func checkHost(h string) error {
	if h == "" {
		return errors.New("external: empty host name")
	}
	if strings.HasPrefix(h, "*") {
		return fmt.Errorf("external: host %q: wildcard hosts cannot be impersonated (CoreDNS rewrites exact names)", h)
	}
	if h != strings.ToLower(h) {
		return fmt.Errorf("external: host %q: write host names in lower case", h)
	}
	if msgs := validation.IsDNS1123Subdomain(h); len(msgs) > 0 {
		return fmt.Errorf("external: host %q: %s", h, strings.Join(msgs, "; "))
	}
	if !strings.Contains(h, ".") {
		return fmt.Errorf("external: host %q: want a fully qualified external name such as httpbin.org", h)
	}
	if strings.HasSuffix(h, ".svc") || strings.Contains(h, ".svc.") || strings.HasSuffix(h, ".local") {
		return fmt.Errorf("external: host %q is an in-cluster name, not an external host", h)
	}
	return nil
}

func (c Config) labels() map[string]string {
	l := map[string]string{ManagedByLabel: ManagedByValue}
	if c.RunID != "" {
		l[RunLabel] = c.RunID
	}
	return l
}

func (c Config) podLabels() map[string]string {
	l := c.labels()
	l[AppLabel] = Name
	// Never injected, whatever the namespace or the mesh's injection defaults say.
	l["sidecar.istio.io/inject"] = "false"
	return l
}

package external

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Standin is one stand-in: its configuration and, when it serves HTTPS, the run's CA
// and the server certificate issued for its hosts. Build it with New.
type Standin struct {
	Config Config
	// CA and Server are nil when the stand-in serves plain HTTP only.
	CA     *CA
	Server *Certificate
}

// New defaults and validates cfg. With ca set, the stand-in also serves HTTPS on 443
// with a server certificate for cfg's hosts that ca issues here, once: every later
// call (Objects, CurlTrustArgs, …) uses that same certificate.
func New(cfg Config, ca *CA) (*Standin, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Standin{Config: cfg, CA: ca}
	if ca != nil {
		srv, err := IssueServerCert(ca, cfg.Hosts)
		if err != nil {
			return nil, err
		}
		s.Server = srv
	}
	return s, nil
}

// TLS reports whether the stand-in serves HTTPS.
func (s *Standin) TLS() bool { return s.Server != nil }

// Manifests renders the stand-in for hosts in namespace (defaults for empty values):
// see Standin.Objects. With ca nil it serves plain HTTP only.
func Manifests(hosts []string, namespace string, ca *CA) ([]client.Object, error) {
	s, err := New(Config{Hosts: hosts, Namespace: namespace}, ca)
	if err != nil {
		return nil, err
	}
	return s.Objects(), nil
}

// Objects are the stand-in's Kubernetes objects in the order they are applied:
//
//   - the Namespace, labelled istio-injection=disabled so that no injection default
//     of the mesh puts a sidecar there (the stand-in is "the internet");
//   - the ConfigMap with nginx.conf (see renderNginxConf);
//   - with TLS: the kubernetes.io/tls Secret (chain and key) and the CA ConfigMap;
//   - the Deployment: one nginx pod, never injected (label and legacy annotation
//     sidecar.istio.io/inject=false), non-root, read-only root filesystem;
//   - the Service: 80→8080 and, with TLS, 443→8443, annotated
//     networking.istio.io/exportTo="." so that no proxy outside its namespace learns
//     of it. Without that, every sidecar would hold a listener for the Service's
//     ClusterIP on 443 and route TLS sent to "httpbin.org" (which resolves to that
//     ClusterIP in hermetic mode) to the stand-in's own cluster instead of
//     PassthroughCluster / BlackHoleCluster / the scenario's ServiceEntry: the
//     evidence would no longer be the one the internet run gives.
func (s *Standin) Objects() []client.Object {
	objs := []client.Object{s.namespace(), s.nginxConfigMap()}
	if s.TLS() {
		objs = append(objs, s.tlsSecret(), s.CAConfigMap(s.Config.Namespace))
	}
	return append(objs, s.deployment(), s.service())
}

// RenderYAML prints objects as one multi-document YAML stream (what DRY_RUN shows).
func RenderYAML(objs []client.Object) ([]byte, error) {
	var b bytes.Buffer
	for i, o := range objs {
		y, err := yaml.Marshal(o)
		if err != nil {
			return nil, fmt.Errorf("external: render %T %s: %w", o, o.GetName(), err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(stripCreationTimestamp(y))
	}
	return b.Bytes(), nil
}

// stripCreationTimestamp drops the "creationTimestamp: null" lines that empty
// ObjectMeta/PodTemplate metadata marshal to.
func stripCreationTimestamp(y []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(y, []byte("\n")) {
		if bytes.Equal(bytes.TrimSpace(line), []byte("creationTimestamp: null")) {
			continue
		}
		out = append(out, line...)
	}
	return out
}

// CAConfigMap is the run's CA in a ConfigMap named CAConfigMapName in namespace, under
// key CAKey: what an adapted DestinationRule's `configmap://` credentialName names,
// and what the DNS check pod trusts. Nil when the stand-in serves no TLS.
func (s *Standin) CAConfigMap(namespace string) *corev1.ConfigMap {
	if s.CA == nil {
		return nil
	}
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: CAConfigMapName, Namespace: namespace, Labels: s.Config.labels()},
		Data:       map[string]string{CAKey: string(s.CA.CertPEM)},
	}
}

// CurlTrustArgs are the curl arguments with which a client trusts exactly the
// stand-in's HTTPS, without a CA file in the client container: --pinnedpubkey checks
// the server's public key even though --insecure skips the CA chain (curl documents
// the two options as independent). Nil when the stand-in serves no TLS.
func (s *Standin) CurlTrustArgs() []string {
	if s.Server == nil {
		return nil
	}
	return []string{"--insecure", "--pinnedpubkey", s.Server.PublicKeyPin()}
}

func (s *Standin) namespace() *corev1.Namespace {
	l := s.Config.labels()
	l["istio-injection"] = "disabled"
	return &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Config.Namespace, Labels: l},
	}
}

func (s *Standin) nginxConf() string { return NginxConf(s.Config, s.TLS()) }

func (s *Standin) nginxConfigMap() *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Name: NginxConfigMapName, Namespace: s.Config.Namespace, Labels: s.Config.labels()},
		Data:       map[string]string{nginxConf: s.nginxConf()},
	}
}

func (s *Standin) tlsSecret() *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: TLSSecretName, Namespace: s.Config.Namespace, Labels: s.Config.labels()},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       s.Server.CertPEM,
			corev1.TLSPrivateKeyKey: s.Server.KeyPEM,
		},
	}
}

// configHash changes whenever what nginx serves changes, so an update of the
// ConfigMap or Secret rolls the pod.
func (s *Standin) configHash() string {
	h := sha256.New()
	h.Write([]byte(s.nginxConf()))
	if s.Server != nil {
		h.Write(s.Server.CertPEM)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func (s *Standin) deployment() *appsv1.Deployment {
	c := s.Config
	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: ContainerPortHTTP, Protocol: corev1.ProtocolTCP}}
	mounts := []corev1.VolumeMount{
		{Name: "conf", MountPath: confDir, ReadOnly: true},
		{Name: "tmp", MountPath: tmpDir},
	}
	volumes := []corev1.Volume{
		{Name: "conf", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: NginxConfigMapName},
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if s.TLS() {
		ports = append(ports, corev1.ContainerPort{Name: "https", ContainerPort: ContainerPortHTTPS, Protocol: corev1.ProtocolTCP})
		mounts = append(mounts, corev1.VolumeMount{Name: "tls", MountPath: tlsDir, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "tls", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: TLSSecretName},
		}})
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: c.Namespace, Labels: c.labels()},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{AppLabel: Name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels: c.podLabels(),
					Annotations: map[string]string{
						"sidecar.istio.io/inject":          "false",
						"egress-conformance.io/config-sha": s.configHash(),
					},
				},
				Spec: corev1.PodSpec{
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To[int64](5),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						RunAsUser:      ptr.To[int64](nginxUser),
						RunAsGroup:     ptr.To[int64](nginxGroup),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  "nginx",
						Image: c.Image,
						// Bypass the image's entrypoint scripts (they rewrite /etc/nginx).
						// -e: nginx's own error log before it reads the config.
						Command:         []string{"nginx", "-e", "stderr", "-c", confDir + "/" + nginxConf, "-g", "daemon off;"},
						ImagePullPolicy: corev1.PullIfNotPresent,
						Ports:           ports,
						ReadinessProbe: &corev1.Probe{
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: "/status/200", Port: intstr.FromString("http"),
							}},
							PeriodSeconds:    2,
							FailureThreshold: 3,
						},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{
								corev1.ResourceCPU:    resource.MustParse("10m"),
								corev1.ResourceMemory: resource.MustParse("16Mi"),
							},
							Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
						},
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							ReadOnlyRootFilesystem:   ptr.To(true),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
						VolumeMounts: mounts,
					}},
					Volumes: volumes,
				},
			},
		},
	}
}

// ExportToAnnotation hides a Service from every proxy outside its namespace.
const ExportToAnnotation = "networking.istio.io/exportTo"

func (s *Standin) service() *corev1.Service {
	c := s.Config
	ports := []corev1.ServicePort{{
		Name: "http", Port: ServicePortHTTP, TargetPort: intstr.FromInt32(ContainerPortHTTP), Protocol: corev1.ProtocolTCP,
	}}
	if s.TLS() {
		ports = append(ports, corev1.ServicePort{
			Name: "https", Port: ServicePortHTTPS, TargetPort: intstr.FromInt32(ContainerPortHTTPS), Protocol: corev1.ProtocolTCP,
		})
	}
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: Name, Namespace: c.Namespace, Labels: c.labels(),
			Annotations: map[string]string{ExportToAnnotation: "."},
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: map[string]string{AppLabel: Name},
			Ports:    ports,
		},
	}
}

// ErrNotOurs is returned (wrapped) when an object the stand-in would create, or the
// namespace Uninstall would delete, exists without the harness's managed-by label.
var ErrNotOurs = errors.New("exists and was not created by egress-conformance")

func isOurs(labels map[string]string) bool { return labels[ManagedByLabel] == ManagedByValue }

func describe(o client.Object) string {
	k := o.GetObjectKind().GroupVersionKind().Kind
	if k == "" {
		k = strings.TrimPrefix(fmt.Sprintf("%T", o), "*v1.")
	}
	if o.GetNamespace() == "" {
		return k + " " + o.GetName()
	}
	return k + " " + o.GetNamespace() + "/" + o.GetName()
}

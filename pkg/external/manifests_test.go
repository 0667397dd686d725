package external

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// fixtureFile is the stand-in as DRY_RUN prints it for the default hosts without TLS
// (with TLS the Secret holds a fresh key every run). Kept in sync by
// TestManifestsFixture (-update rewrites it).
var fixtureFile = filepath.Join("..", "..", "fixtures", "external", "standin.yaml")

func kinds(objs []client.Object) string {
	var k []string
	for _, o := range objs {
		k = append(k, o.GetObjectKind().GroupVersionKind().Kind+"/"+o.GetName())
	}
	return strings.Join(k, " ")
}

func find[T client.Object](t *testing.T, objs []client.Object, name string) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(T); ok && o.GetName() == name {
			return v
		}
	}
	var zero T
	t.Fatalf("no %T %s in %s", zero, name, kinds(objs))
	return zero
}

func TestManifestsHTTPOnly(t *testing.T) {
	objs, err := Manifests(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "Namespace/egress-conformance-external ConfigMap/egress-standin-nginx Deployment/egress-standin Service/egress-standin"
	if got := kinds(objs); got != want {
		t.Errorf("objects %s\nwant    %s", got, want)
	}

	ns := find[*corev1.Namespace](t, objs, DefaultNamespace)
	if ns.Labels["istio-injection"] != "disabled" || ns.Labels[ManagedByLabel] != ManagedByValue {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	if _, ok := ns.Labels["istio.io/rev"]; ok {
		t.Error("namespace carries a revision label")
	}

	conf := find[*corev1.ConfigMap](t, objs, NginxConfigMapName).Data[nginxConf]
	for _, want := range []string{
		"map $http_x_forwarded_for $standin_origin {",
		`"" $remote_addr;`,
		`"$http_x_forwarded_for, $remote_addr";`,
		"location = /ip {",
		`return 200 '{\n  "origin": "$standin_origin"\n}\n';`,
		"location = /get {", "location = /headers {", "location = /post {", "location = /status/418 {",
		"listen 8080;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	if strings.Contains(conf, "ssl") && strings.Contains(conf, "listen 8443") {
		t.Error("HTTP-only nginx.conf listens for TLS")
	}

	d := find[*appsv1.Deployment](t, objs, Name)
	tmpl := d.Spec.Template
	if tmpl.Labels["sidecar.istio.io/inject"] != "false" || tmpl.Annotations["sidecar.istio.io/inject"] != "false" {
		t.Errorf("pod template not excluded from injection: labels %v annotations %v", tmpl.Labels, tmpl.Annotations)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if tmpl.Labels[k] != v {
			t.Errorf("selector %s=%s does not select the template", k, v)
		}
	}
	c := tmpl.Spec.Containers[0]
	if want := (Config{}).WithDefaults().Image; c.Image == "" || c.Image != want {
		t.Errorf("image %q", c.Image)
	}
	if sc := c.SecurityContext; sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v", sc)
	}
	if !*tmpl.Spec.SecurityContext.RunAsNonRoot {
		t.Error("pod may run as root")
	}
	if strings.Join(c.Command, " ") != "nginx -e stderr -c /etc/egress-standin/conf/nginx.conf -g daemon off;" {
		t.Errorf("command %q", c.Command)
	}

	svc := find[*corev1.Service](t, objs, Name)
	if svc.Annotations[ExportToAnnotation] != "." {
		t.Errorf("Service exportTo %q, want \".\"", svc.Annotations[ExportToAnnotation])
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[0].TargetPort.IntValue() != 8080 {
		t.Errorf("Service ports %+v", svc.Spec.Ports)
	}
}

func TestManifestsTLS(t *testing.T) {
	ca := mustCA(t)
	st, err := New(Config{Hosts: []string{"httpbin.org", "edition.cnn.com"}, RunID: "run-1"}, ca)
	if err != nil {
		t.Fatal(err)
	}
	objs := st.Objects()
	want := "Namespace/egress-conformance-external ConfigMap/egress-standin-nginx Secret/egress-standin-tls " +
		"ConfigMap/egress-conformance-external-ca Deployment/egress-standin Service/egress-standin"
	if got := kinds(objs); got != want {
		t.Errorf("objects %s\nwant    %s", got, want)
	}
	for _, o := range objs {
		if o.GetLabels()[RunLabel] != "run-1" || o.GetLabels()[ManagedByLabel] != ManagedByValue {
			t.Errorf("%s labels %v", describe(o), o.GetLabels())
		}
	}

	sec := find[*corev1.Secret](t, objs, TLSSecretName)
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %q", sec.Type)
	}
	pair, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"httpbin.org", "edition.cnn.com"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: h, Roots: ca.Pool()}); err != nil {
			t.Errorf("served certificate for %s: %v", h, err)
		}
	}

	caCM := find[*corev1.ConfigMap](t, objs, CAConfigMapName)
	if b, _ := pem.Decode([]byte(caCM.Data[CAKey])); b == nil || !mustParse(t, b.Bytes).Equal(ca.Cert) {
		t.Error("CA ConfigMap does not hold the CA")
	}

	conf := find[*corev1.ConfigMap](t, objs, NginxConfigMapName).Data[nginxConf]
	for _, want := range []string{"listen 8443 ssl;", "ssl_certificate /etc/egress-standin/tls/tls.crt;", "ssl_certificate_key /etc/egress-standin/tls/tls.key;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	d := find[*appsv1.Deployment](t, objs, Name)
	var mounted bool
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounted = mounted || m.MountPath == tlsDir
	}
	if !mounted {
		t.Error("TLS Secret not mounted")
	}
	svc := find[*corev1.Service](t, objs, Name)
	if len(svc.Spec.Ports) != 2 || svc.Spec.Ports[1].Port != 443 || svc.Spec.Ports[1].TargetPort.IntValue() != 8443 {
		t.Errorf("Service ports %+v", svc.Spec.Ports)
	}

	// The certificate is issued once: the pin names the key the Secret serves.
	args := st.CurlTrustArgs()
	if len(args) != 3 || args[0] != "--insecure" || args[1] != "--pinnedpubkey" || args[2] != st.Server.PublicKeyPin() {
		t.Errorf("CurlTrustArgs = %q", args)
	}
	if !leaf.Equal(st.Server.Cert) {
		t.Error("the Secret serves another certificate than Standin.Server")
	}

	// A different certificate or config rolls the pod.
	st2, _ := New(Config{Hosts: []string{"httpbin.org", "edition.cnn.com"}, RunID: "run-1"}, ca)
	if st.configHash() == st2.configHash() {
		t.Error("config hash ignores the server certificate")
	}
}

func TestManifestsInvalid(t *testing.T) {
	if _, err := Manifests([]string{"*.example.com"}, "", nil); err == nil {
		t.Error("wildcard host accepted")
	}
	if _, err := Manifests(nil, "Bad_NS", nil); err == nil {
		t.Error("invalid namespace accepted")
	}
	st, _ := New(Config{}, nil)
	if st.CurlTrustArgs() != nil || st.CAConfigMap("x") != nil || st.TLS() {
		t.Error("an HTTP-only stand-in offers TLS material")
	}
}

func TestManifestsFixture(t *testing.T) {
	objs, err := Manifests(nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := RenderYAML(objs)
	if err != nil {
		t.Fatal(err)
	}
	header := "# The hermetic stand-in for httpbin.org (pkg/external), HTTP only, as a dry run prints it.\n" +
		"# Generated by `go test ./pkg/external -run TestManifestsFixture -update`; do not edit.\n" +
		"# In a run, the harness adds the TLS Secret, the CA ConfigMap and port 443 with a CA made at run time.\n"
	golden(t, fixtureFile, header+string(y))

	// Every document decodes back to what was rendered.
	docs := strings.Split(string(y), "\n---\n")
	if len(docs) != len(objs) {
		t.Fatalf("%d documents for %d objects", len(docs), len(objs))
	}
	for i, doc := range docs {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if got := fmt.Sprint(m["kind"], "/", m["metadata"].(map[string]any)["name"]); got != objs[i].GetObjectKind().GroupVersionKind().Kind+"/"+objs[i].GetName() {
			t.Errorf("document %d is %s", i, got)
		}
		if strings.Contains(doc, "creationTimestamp") {
			t.Errorf("document %d prints creationTimestamp", i)
		}
	}
}

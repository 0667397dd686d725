package offline

import (
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	kubeyaml "sigs.k8s.io/yaml"

	"github.com/egress-conformance/egress-conformance/pkg/scenario"
)

// coreObjects renders the bundle's core Kubernetes objects as istiod's informers
// get them from the API server of a cluster where the bundle was applied:
//
//   - Services with what the API server fills in (type ClusterIP, a cluster IP,
//     protocol TCP, targetPort = port): Istio's fake registry defaults nothing;
//   - Secrets, ConfigMaps, ServiceAccounts, EndpointSlices as written, and
//     Namespaces the simulated cluster does not already hold;
//   - for Endpoints of a Service without selector, the EndpointSlice
//     kube-controller-manager's EndpointSlice mirroring controller makes of it:
//     istiod reads EndpointSlices only;
//
// and, in derived, what running a bundle Deployment would add: one ready Pod
// with the template's labels (and Istio's sidecar when its namespace is
// injected) and, for each bundle Service whose selector matches it, an
// EndpointSlice. The cluster tier waits for every step's probes to converge, which
// is the time such a pod takes to become ready; offline it is ready at once. A
// Deployment whose pod never becomes ready on a cluster is therefore something
// only the cluster tier sees.
//
// injected holds the namespaces the simulated cluster labels for injection.
//
// addresses maps the cluster-local host names of the bundle's Services with a
// cluster IP (<name>.<namespace>.svc.cluster.local) to that IP: where cluster DNS
// sends a client that calls them.
func coreObjects(b scenario.Bundle, namespace string, have, injected map[string]bool) (kube, derived string, addresses map[string]string, err error) {
	addresses = map[string]string{}
	var out, der strings.Builder
	emit := func(w *strings.Builder, o any) error {
		y, err := kubeyaml.Marshal(o)
		if err != nil {
			return err
		}
		w.WriteString("\n---\n")
		w.Write(y)
		return nil
	}
	nsOf := func(o scenario.Object) string {
		if o.Namespace != "" {
			return o.Namespace
		}
		return namespace
	}
	injected = maps.Clone(injected)
	services := map[string]*corev1.Service{}
	var serviceOrder []string
	for _, o := range b {
		if n, ok := o.Typed.(*corev1.Namespace); ok {
			if n.Labels["istio-injection"] == "enabled" {
				injected[n.Name] = true
			}
		}
	}
	ip := 0
	for _, o := range b {
		var obj metav1.Object
		switch t := o.Typed.(type) {
		case *corev1.Service:
			svc := defaultedService(t, fmt.Sprintf("10.96.50.%d", 10+ip))
			ip++
			obj = svc
			key := nsOf(o) + "/" + svc.Name
			services[key] = svc
			serviceOrder = append(serviceOrder, key)
			if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone {
				addresses[svc.Name+"."+nsOf(o)+".svc.cluster.local"] = svc.Spec.ClusterIP
			}
		case *corev1.Namespace:
			if have[t.Name] {
				continue
			}
			obj = t.DeepCopy()
		case *corev1.Secret:
			obj = t.DeepCopy()
		case *corev1.ConfigMap:
			obj = t.DeepCopy()
		case *corev1.ServiceAccount:
			obj = t.DeepCopy()
		case *discoveryv1.EndpointSlice:
			obj = t.DeepCopy()
		default:
			continue
		}
		if _, ok := obj.(*corev1.Namespace); !ok {
			obj.SetNamespace(nsOf(o))
		}
		if err := emit(&out, obj); err != nil {
			return "", "", nil, fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
	}
	for _, o := range b {
		e, ok := o.Typed.(*corev1.Endpoints)
		if !ok {
			continue
		}
		svc := services[nsOf(o)+"/"+e.Name]
		if svc == nil || len(svc.Spec.Selector) > 0 {
			// The mirroring controller mirrors only Endpoints of an existing
			// Service without selector.
			continue
		}
		if err := emit(&out, mirroredSlice(e, nsOf(o))); err != nil {
			return "", "", nil, fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
	}
	pod := 0
	for _, o := range b {
		d, ok := o.Typed.(*appsv1.Deployment)
		if !ok || (d.Spec.Replicas != nil && *d.Spec.Replicas == 0) {
			continue
		}
		ns := nsOf(o)
		p := derivedPod(d, ns, fmt.Sprintf("10.244.2.%d", 10+pod), injected[ns])
		pod++
		if err := emit(&der, p); err != nil {
			return "", "", nil, fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
		}
		for _, key := range serviceOrder {
			svc := services[key]
			if svc.Namespace != ns || len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(p.Labels)) {
				continue
			}
			if err := emit(&der, podSlice(svc, p)); err != nil {
				return "", "", nil, fmt.Errorf("%s:%d: %w", o.File, o.Line, err)
			}
		}
	}
	return out.String(), der.String(), addresses, nil
}

// defaultedService is svc as the API server stores it.
func defaultedService(svc *corev1.Service, clusterIP string) *corev1.Service {
	s := svc.DeepCopy()
	if s.Spec.Type == "" {
		s.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if s.Spec.Type != corev1.ServiceTypeExternalName && s.Spec.ClusterIP == "" {
		s.Spec.ClusterIP = clusterIP
	}
	if s.Spec.ClusterIP != "" && len(s.Spec.ClusterIPs) == 0 {
		s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
	}
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort.IntVal == 0 && p.TargetPort.StrVal == "" {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	return s
}

// mirroredSlice is the EndpointSlice the EndpointSlice mirroring controller
// makes of a custom Endpoints (IPv4 addresses; notReadyAddresses not ready).
func mirroredSlice(e *corev1.Endpoints, ns string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Name: e.Name + "-mirrored", Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: e.Name,
			discoveryv1.LabelManagedBy:   "endpointslicemirroring-controller.k8s.io",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	ready, notReady := true, false
	for _, ss := range e.Subsets {
		for _, a := range ss.Addresses {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a.IP}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
		}
		for _, a := range ss.NotReadyAddresses {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{a.IP}, Conditions: discoveryv1.EndpointConditions{Ready: &notReady}})
		}
		for _, p := range ss.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: &p.Name, Port: &p.Port, Protocol: &proto, AppProtocol: p.AppProtocol})
		}
	}
	return es
}

// derivedPod is the ready pod a Deployment runs, with Istio's sidecar when
// injected (as the webhook adds it: the istio-proxy container, the tlsMode label
// and the sidecar status annotation) unless the pod opts out.
func derivedPod(d *appsv1.Deployment, ns, ip string, injected bool) *corev1.Pod {
	t := d.Spec.Template
	lbl := maps.Clone(t.Labels)
	if lbl == nil {
		lbl = map[string]string{}
	}
	ann := maps.Clone(t.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	switch {
	case lbl["sidecar.istio.io/inject"] == "false", ann["sidecar.istio.io/inject"] == "false":
		injected = false
	case lbl["sidecar.istio.io/inject"] == "true":
		injected = true
	}
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-0", Namespace: ns, Labels: lbl, Annotations: ann},
		Spec:       *t.Spec.DeepCopy(),
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
	if p.Spec.ServiceAccountName == "" {
		p.Spec.ServiceAccountName = "default"
	}
	if injected {
		p.Labels["security.istio.io/tlsMode"] = "istio"
		p.Annotations["sidecar.istio.io/status"] = `{"containers":["istio-proxy"]}`
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "istio-proxy", Image: "istio-proxy"})
	}
	return p
}

// podSlice is the EndpointSlice the EndpointSlice controller makes for a Service
// selecting pod: a named targetPort resolves against the pod's container ports,
// and a port that does not resolve has no endpoint, as on a cluster.
func podSlice(svc *corev1.Service, p *corev1.Pod) *discoveryv1.EndpointSlice {
	ready := true
	es := &discoveryv1.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{Name: svc.Name + "-" + p.Name, Namespace: svc.Namespace, Labels: map[string]string{
			discoveryv1.LabelServiceName: svc.Name,
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: p.Name, Namespace: p.Namespace},
		}},
	}
	for _, sp := range svc.Spec.Ports {
		port := sp.TargetPort.IntVal
		if sp.TargetPort.Type == intstr.String {
			port = 0
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Name == sp.TargetPort.StrVal {
						port = cp.ContainerPort
					}
				}
			}
		}
		if port == 0 {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return es
}

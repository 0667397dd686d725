package mesh

import (
	"fmt"
	"strconv"
	"strings"
)

// k8sRange is an inclusive range of Kubernetes 1.x minors.
type k8sRange struct{ min, max int }

// kubernetesSupport maps an Istio 1.x minor to the Kubernetes minors it is
// officially supported on.
//
// Sources (checked 2026-11):
//   - 1.26–1.30: istio/istio.io data/compatibility/supportStatus.yml (master, after
//     the 1.30 entry was added in istio/istio.io#17347, "Min k8s 1.32, range
//     1.32-1.36"), the data behind istio.io/latest/docs/releases/supported-releases.
//     1.30 also: content/en/news/releases/1.30.x/announcing-1.30/_index.md,
//     "Istio 1.30.0 is officially supported on Kubernetes versions 1.32 to 1.36."
//   - 1.31: istio/istio.io content/en/news/releases/1.31.x/announcing-1.31/_index.md,
//     "Istio 1.31.0 is officially supported on Kubernetes versions 1.32 to 1.36.";
//     istio release-1.31 istioctl/pkg/install/k8sversion/version.go has
//     MinK8SVersion = 32. (A secondary note says supportStatus.yml later widened
//     1.31 to 1.37; not verified against istio.io, so 1.37 stays out.)
//   - 1.32: no published data found yet; SupportsKubernetes answers "unknown".
var kubernetesSupport = map[int]k8sRange{
	26: {29, 33},
	27: {29, 33},
	28: {30, 34},
	29: {31, 35},
	30: {32, 36},
	31: {32, 36},
}

// SupportsKubernetes says whether Istio istioVersion ("1.31", "1.31.4") is
// officially supported on Kubernetes k8sMinor ("1.35", "v1.35.8"), and gives the
// supported range ("1.32–1.36"). The range is empty when the table has no entry
// for that Istio minor or a version does not parse; CheckKubernetes says which.
func SupportsKubernetes(istioVersion, k8sMinor string) (bool, string) {
	im, err := minorOf(istioVersion)
	if err != nil {
		return false, ""
	}
	r, ok := kubernetesSupport[im]
	if !ok {
		return false, ""
	}
	rng := fmt.Sprintf("1.%d–1.%d", r.min, r.max)
	km, err := minorOf(k8sMinor)
	if err != nil {
		return false, rng
	}
	return r.min <= km && km <= r.max, rng
}

// CheckKubernetes is SupportsKubernetes as an error that says what is wrong: an
// unparsable version, an Istio minor without support data, or a Kubernetes
// version outside the supported range.
func CheckKubernetes(istioVersion, k8sVersion string) error {
	if _, err := minorOf(istioVersion); err != nil {
		return fmt.Errorf("bad Istio version: %w", err)
	}
	if _, err := minorOf(k8sVersion); err != nil {
		return fmt.Errorf("bad Kubernetes version: %w", err)
	}
	ok, rng := SupportsKubernetes(istioVersion, k8sVersion)
	switch {
	case rng == "":
		return fmt.Errorf("no Kubernetes support data for Istio %s: add it to pkg/mesh/support.go from istio.io's supported-releases page", istioVersion)
	case !ok:
		return fmt.Errorf("unsupported pair: Istio %s is supported on Kubernetes %s, not %s", istioVersion, rng, k8sVersion)
	}
	return nil
}

// minorOf returns the minor of a 1.x version: "1.31", "1.31.4", "v1.35.8",
// "1.32.0-rc.1".
func minorOf(v string) (int, error) {
	s := strings.TrimPrefix(strings.TrimSpace(v), "v")
	parts := strings.SplitN(s, ".", 3)
	if len(parts) < 2 || parts[0] != "1" {
		return 0, fmt.Errorf("%q is not a 1.x version", v)
	}
	minor := parts[1]
	if i := strings.IndexAny(minor, "-+"); i >= 0 {
		minor = minor[:i]
	}
	n, err := strconv.Atoi(minor)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a 1.x version", v)
	}
	return n, nil
}

package upgrade

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/egress-conformance/egress-conformance/pkg/mesh"
)

// Version is an Istio release version: 1.31.4, 1.32.0-rc.1.
type Version struct {
	Major, Minor, Patch int
	// Pre is the pre-release part after '-' ("rc.1"), empty for a release.
	Pre string
	raw string
}

// ParseVersion reads an Istio release version (mesh.ValidateVersion's syntax).
func ParseVersion(s string) (Version, error) {
	if err := mesh.ValidateVersion(s); err != nil {
		return Version{}, err
	}
	core, pre, _ := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil {
			return Version{}, fmt.Errorf("%q is not an Istio release version", s)
		}
		n[i] = v
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Pre: pre, raw: s}, nil
}

func (v Version) String() string {
	if v.raw != "" {
		return v.raw
	}
	s := fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	return s
}

// minorString is "1.31": what `istioctl x precheck --from-version` takes.
func (v Version) minorString() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Compare orders versions as semantic versions do: numerically by major, minor
// and patch; a pre-release comes before its release (1.32.0-rc.1 < 1.32.0), and
// pre-release identifiers compare numerically when both are numbers, else
// lexically, a number before a word.
func (v Version) Compare(o Version) int {
	for _, d := range []int{v.Major - o.Major, v.Minor - o.Minor, v.Patch - o.Patch} {
		if d != 0 {
			return sign(d)
		}
	}
	switch {
	case v.Pre == o.Pre:
		return 0
	case v.Pre == "":
		return 1
	case o.Pre == "":
		return -1
	}
	a, b := strings.Split(v.Pre, "."), strings.Split(o.Pre, ".")
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := compareIdent(a[i], b[i]); c != 0 {
			return c
		}
	}
	return sign(len(a) - len(b))
}

func compareIdent(a, b string) int {
	na, errA := strconv.Atoi(a)
	nb, errB := strconv.Atoi(b)
	switch {
	case errA == nil && errB == nil:
		return sign(na - nb)
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return strings.Compare(a, b)
}

func sign(d int) int {
	switch {
	case d < 0:
		return -1
	case d > 0:
		return 1
	}
	return 0
}

// RevisionFor is the control-plane revision name the canary strategy installs a
// version under: the version with '.' replaced, as Istio's canary upgrade guide
// recommends ("revision=1-6-8 for Istio 1.6.8": a revision must be a DNS-1123
// label). 1.32.0-rc.1 gives 1-32-0-rc-1.
func RevisionFor(version string) (string, error) {
	rev := strings.ToLower(strings.ReplaceAll(version, ".", "-"))
	if errs := validation.IsDNS1123Label(rev); len(errs) > 0 {
		return "", fmt.Errorf("version %s gives no valid revision name %q: %s", version, rev, strings.Join(errs, "; "))
	}
	return rev, nil
}

// DefaultRevision is the revision name of a control plane installed without
// --revision: Istio labels its objects istio.io/rev=default and stamps
// "revision":"default" on the pods it injects.
const DefaultRevision = "default"

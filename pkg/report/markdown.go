package report

import (
	"fmt"
	"strings"
)

// Markdown renders the report for people: a summary table first, then every
// failed or skipped step with its checks and evidence. Passing steps get one line:
// a report's reader is looking for what went wrong.
func Markdown(rep Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Egress conformance report — %s tier\n\n", rep.Tier)
	fmt.Fprintf(&b, "- Run: `%s` (%s → %s)\n", rep.RunID, rep.StartedAt.Format("2006-01-02 15:04:05Z"), rep.FinishedAt.Format("15:04:05Z"))
	fmt.Fprintf(&b, "- Istio: %s", rep.Istio.Version)
	if rep.Istio.Library != "" {
		fmt.Fprintf(&b, " (library %s)", rep.Istio.Library)
	}
	b.WriteString("\n")
	for _, w := range rep.Istio.Warnings {
		fmt.Fprintf(&b, "- Warning: %s\n", w)
	}
	if c := rep.Cluster; c != nil {
		fmt.Fprintf(&b, "- Cluster: %s", c.Provider)
		if c.NodeImage != "" {
			fmt.Fprintf(&b, ", node image `%s`", c.NodeImage)
		}
		if c.KubernetesVersion != "" {
			fmt.Fprintf(&b, ", Kubernetes %s", c.KubernetesVersion)
		}
		if c.External != "" {
			fmt.Fprintf(&b, ", external: %s", c.External)
		}
		b.WriteString("\n")
	}
	s := rep.Summary
	fmt.Fprintf(&b, "- Steps: %d passed, %d failed, %d skipped (%d scenarios)\n\n", s.Passed, s.Failed, s.Skipped, s.Scenarios)

	if rep.Upgrade != nil {
		writeUpgrade(&b, rep)
	} else {
		b.WriteString("| scenario | step | result | reason |\n|---|---|---|---|\n")
		for _, sc := range rep.Scenarios {
			for _, st := range sc.Steps {
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(sc.Name), cell(st.Name), resultMark(st.Result), cell(firstLine(st.Reason)))
			}
		}
	}

	for _, sc := range rep.Scenarios {
		for _, st := range sc.Steps {
			if st.Result == Pass {
				continue
			}
			fmt.Fprintf(&b, "\n## %s / %s%s: %s\n\n", sc.Name, st.Name, stepPlace(st), st.Result)
			if sc.Source != "" {
				fmt.Fprintf(&b, "Source: %s\n\n", sc.Source)
			}
			if st.Reason != "" {
				fmt.Fprintf(&b, "```\n%s\n```\n\n", st.Reason)
			}
			if len(st.Checks) > 0 {
				b.WriteString("| check | want | got | outcome |\n|---|---|---|---|\n")
				for _, c := range st.Checks {
					fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", cell(c.Field), cell(c.Want), cell(c.Got), c.Outcome)
				}
				b.WriteString("\n")
			}
			if len(st.Evidence) > 0 {
				b.WriteString("Evidence:\n\n```\n")
				for _, e := range st.Evidence {
					b.WriteString(e)
					b.WriteString("\n")
				}
				b.WriteString("```\n")
			}
		}
	}
	return b.String()
}

func resultMark(r Result) string {
	switch r {
	case Pass:
		return "✅ pass"
	case Fail:
		return "❌ fail"
	default:
		return "⏭ " + string(r)
	}
}

// cell makes a value safe inside a Markdown table cell. Envoy cluster names contain
// '|', which would otherwise split the cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if s == "" {
		return " "
	}
	return "`" + strings.ReplaceAll(s, "`", "'") + "`"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

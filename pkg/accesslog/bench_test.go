package accesslog

import "testing"

// BenchmarkParse reports lines per second on one core for the current TEXT
// format (the hot path, target ≥ 500,000 lines/s), an older TEXT era and
// Istio's JSON encoding.
func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct{ name, line string }{
		{"text-current", realLines[18].line}, // ≥1.24 egress gateway
		{"text-1.3-1.7", realLines[4].line},  // egress gateway with mixer status
		{"text-tcp", realLines[14].line},     // TLS passthrough
		{"json", realLines[22].line},         // Istio JSON encoding, numbers and nulls
		{"json-strings", realLines[23].line}, // custom JSON, every value a string
		{"not-access-log", notAccessLogLines[6].line},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.line)))
			n := 0
			for b.Loop() {
				_, _ = Parse(bc.line)
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

package exporter

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Sample is one parsed sample line of a text-format body.
type Sample struct {
	Name   string
	Labels map[string]string
	Value  float64
	Line   string
}

// Samples is a parsed text-format body.
type Samples []Sample

// ParseSamples parses the sample lines of a Prometheus text-format body (comments
// are skipped). Label values are unescaped.
func ParseSamples(body string) (Samples, error) {
	var out Samples
	for n, line := range strings.Split(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, fmt.Errorf("line %d %q: %w", n+1, line, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func parseSample(line string) (Sample, error) {
	s := Sample{Labels: map[string]string{}, Line: line}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no metric name")
	}
	s.Name = line[:i]
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.IndexByte(rest, '=')
			if eq <= 0 || len(rest) < eq+2 || rest[eq+1] != '"' {
				return s, fmt.Errorf("bad label")
			}
			name := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[j])
					}
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value")
			}
			s.Labels[name] = val.String()
		}
	}
	f := strings.Fields(rest)
	if len(f) < 1 {
		return s, fmt.Errorf("no value")
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return s, err
	}
	s.Value = v
	return s, nil
}

// Match returns the samples named name whose labels include all of labels
// (given as "k", "v", "k", "v", ...).
func (ss Samples) Match(name string, labels ...string) Samples {
	var out Samples
next:
	for _, s := range ss {
		if s.Name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if s.Labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// Sum adds up the values of Match(name, labels...) (0 if none).
func (ss Samples) Sum(name string, labels ...string) float64 {
	var t float64
	for _, s := range ss.Match(name, labels...) {
		t += s.Value
	}
	return t
}

// Has reports whether any sample matches.
func (ss Samples) Has(name string, labels ...string) bool { return len(ss.Match(name, labels...)) > 0 }

// Grep renders the sample lines whose name starts with prefix (for logs).
func (ss Samples) Grep(prefix string) string {
	var lines []string
	for _, s := range ss {
		if strings.HasPrefix(s.Name, prefix) {
			lines = append(lines, s.Line)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// Telemetry fetches and parses <TelemetryURL>/metrics; it fails the test on error.
func (e *Exporter) Telemetry(t testing.TB) Samples {
	t.Helper()
	ss, err := e.TelemetryErr()
	if err != nil {
		t.Fatalf("telemetry: %v", err)
	}
	return ss
}

// TelemetryErr fetches and parses <TelemetryURL>/metrics.
func (e *Exporter) TelemetryErr() (Samples, error) {
	st, body, _, err := Get(e.TelemetryURL + "/metrics")
	if err != nil {
		return nil, err
	}
	if st != 200 {
		return nil, fmt.Errorf("GET %s/metrics: HTTP %d", e.TelemetryURL, st)
	}
	return ParseSamples(string(body))
}

package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/klog/v2"
	"k8s.io/kube-state-metrics/v2/pkg/customresourcestate"
	"k8s.io/kube-state-metrics/v2/pkg/metric"
	"sigs.k8s.io/yaml"
	yamlv3 "sigs.k8s.io/yaml/goyaml.v3"
)

// decodeObject reads an object file the way kubectl and an informer do:
// YAML through sigs.k8s.io/yaml, then the unstructured JSON decoder
// (integers become int64, other numbers float64).
func decodeObject(text string) (*unstructured.Unstructured, error) {
	j := []byte(text)
	if !strings.HasPrefix(strings.TrimSpace(text), "{") {
		var err error
		j, err = yaml.YAMLToJSON([]byte(text))
		if err != nil {
			return nil, err
		}
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return nil, err
	}
	return u, nil
}

// matches is how discovery resolves a configured GVK ("*" version or kind)
// to the object's.
func matches(r customresourcestate.GroupVersionKind, g, v, k string) bool {
	return r.Group == g && (r.Version == "*" || r.Version == v) && (r.Kind == "*" || r.Kind == k)
}

// ksmSide compiles the config as kube-state-metrics' FromConfig does and
// renders the object through every resource that matches it.
func ksmSide(c Case) (s side) {
	defer func() {
		if r := recover(); r != nil {
			s = side{err: fmt.Sprintf("panic: %v", r)}
		}
	}()
	var cfg customresourcestate.Metrics
	// kube-state-metrics reads its config file with this decoder.
	if err := yamlv3.NewDecoder(strings.NewReader(c.Config)).Decode(&cfg); err != nil {
		return side{err: "config: " + err.Error()}
	}
	u, err := decodeObject(c.Object)
	if err != nil {
		return side{err: "object: " + err.Error()}
	}
	gvk := u.GroupVersionKind()
	var buf bytes.Buffer
	for _, r := range cfg.Spec.Resources {
		if !matches(r.GroupVersionKind, gvk.Group, gvk.Version, gvk.Kind) {
			continue
		}
		r.GroupVersionKind = customresourcestate.GroupVersionKind{Group: gvk.Group,
			Version: gvk.Version, Kind: gvk.Kind}
		// FromConfig's configOverrides: types are matched lower-case.
		for j := range r.Metrics {
			r.Metrics[j].Each.Type = metric.Type(strings.ToLower(string(r.Metrics[j].Each.Type)))
		}
		f, err := customresourcestate.NewCustomResourceMetrics(r)
		if err != nil {
			return side{err: "compile: " + err.Error()}
		}
		for _, g := range f.MetricFamilyGenerators() {
			fam := g.Generate(u)
			buf.Write(fam.ByteSlice())
		}
	}
	samples, err := parseExposition(buf.String())
	if err != nil {
		return side{err: "unparsable ksm output: " + err.Error()}
	}
	return side{samples: samples}
}

func init() {
	// kube-state-metrics logs every path it cannot read; keep quiet.
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	klog.SetOutput(io.Discard)
}

// parseExposition turns text-format sample lines into canonical lines:
// name, labels sorted by name, value in Go's shortest form.
func parseExposition(text string) ([]string, error) {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := canonical(line)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		out = append(out, s)
	}
	sortStrings(out)
	return out, nil
}

func sortStrings(s []string) { sort.Strings(s) }

func canonical(line string) (string, error) {
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return "", fmt.Errorf("no value")
	}
	name := line[:i]
	rest := line[i:]
	var labels []string
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, "=\"")
			if eq < 0 {
				return "", fmt.Errorf("bad label")
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var val strings.Builder
			for {
				if rest == "" {
					return "", fmt.Errorf("unterminated value")
				}
				c := rest[0]
				if c == '\\' && len(rest) > 1 {
					switch rest[1] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(rest[1])
					}
					rest = rest[2:]
					continue
				}
				rest = rest[1:]
				if c == '"' {
					break
				}
				val.WriteByte(c)
			}
			labels = append(labels, key+"="+strconv.Quote(val.String()))
			rest = strings.TrimPrefix(rest, ",")
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
	if err != nil {
		return "", err
	}
	sort.Strings(labels)
	value := strconv.FormatFloat(v, 'g', -1, 64)
	if math.IsNaN(v) {
		value = "NaN"
	}
	return name + "{" + strings.Join(labels, ",") + "} " + value, nil
}

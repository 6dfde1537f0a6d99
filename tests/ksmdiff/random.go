package main

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"sort"
	"strings"
)

// The random cases: an object of nested maps and arrays with the values
// kube-state-metrics converts (numbers of every size, booleans, nulls,
// quantities, percentages, times, words it reads as booleans), and a valid
// config whose paths mostly exist in that object.

var scalarPool = []interface{}{
	0, 1, -1, 2, 45, 1000000, 9007199254740993, -9223372036854775808, 0.5, 43.21, 1.5e-05,
	1e21, true, false, nil, "True", "False", "true", "yes", "no", "unknown", "250m", "5Gi",
	"1e3", "28%", "12.5%", "2022-06-28T00:00:00Z", "foo", "bar", "", "NaN", "-Inf",
	"with \"quotes\"", "a\\b", "line\nbreak", "v1.2.3",
}

var keyPool = []string{"a", "b", "c", "name", "type", "value", "status", "phase", "type-a",
	"x.y", "ready", "id"}

type gen struct{ r *rand.Rand }

func (g gen) scalar() interface{} {
	return scalarPool[g.r.Intn(len(scalarPool))]
}

func (g gen) value(depth int) interface{} {
	switch n := g.r.Intn(10); {
	case depth <= 0 || n < 5:
		return g.scalar()
	case n < 7:
		return g.object(depth - 1)
	default:
		var a []interface{}
		elemMaps := g.r.Intn(3) > 0
		for i := g.r.Intn(4); i >= 0; i-- {
			if elemMaps {
				a = append(a, g.object(depth-1))
			} else {
				a = append(a, g.scalar())
			}
		}
		return a
	}
}

func (g gen) object(depth int) map[string]interface{} {
	m := map[string]interface{}{}
	for i := g.r.Intn(4); i >= 0; i-- {
		m[keyPool[g.r.Intn(len(keyPool))]] = g.value(depth)
	}
	return m
}

// paths lists every path in v (segments as kube-state-metrics takes them).
func paths(v interface{}, prefix []string, out *[][]string) {
	*out = append(*out, append([]string(nil), prefix...))
	switch t := v.(type) {
	case map[string]interface{}:
		for k, c := range t {
			paths(c, append(prefix, k), out)
		}
	case []interface{}:
		for i, c := range t {
			paths(c, append(prefix, fmt.Sprint(i)), out)
		}
	}
}

func at(v interface{}, p []string) interface{} {
	for _, s := range p {
		switch t := v.(type) {
		case map[string]interface{}:
			v = t[s]
		case []interface{}:
			var i int
			fmt.Sscan(s, &i)
			if i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

func quote(p []string) string {
	var q []string
	for _, s := range p {
		b, _ := json.Marshal(s)
		q = append(q, string(b))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// pick returns a path of obj (sometimes one that does not exist).
func (g gen) pick(all [][]string) []string {
	if g.r.Intn(12) == 0 {
		return []string{"spec", "missing"}
	}
	return all[g.r.Intn(len(all))]
}

// relPaths: paths inside the elements (or entries) of v.
func relPaths(v interface{}) [][]string {
	var out [][]string
	switch t := v.(type) {
	case []interface{}:
		for _, e := range t {
			paths(e, nil, &out)
		}
	case map[string]interface{}:
		for _, e := range t {
			paths(e, nil, &out)
		}
	}
	var keep [][]string
	seen := map[string]bool{}
	for _, p := range out {
		if len(p) == 0 || seen[strings.Join(p, "\x00")] {
			continue
		}
		seen[strings.Join(p, "\x00")] = true
		keep = append(keep, p)
	}
	sort.Slice(keep, func(i, j int) bool {
		return strings.Join(keep[i], ".") < strings.Join(keep[j], ".")
	})
	return keep
}

func (g gen) labels(rel [][]string, indent string) string {
	if len(rel) == 0 || g.r.Intn(3) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(indent + "labelsFromPath:\n")
	for i := g.r.Intn(3); i >= 0; i-- {
		b.WriteString(fmt.Sprintf("%s  l%d: %s\n", indent, i, quote(rel[g.r.Intn(len(rel))])))
	}
	return b.String()
}

// rewrite turns some index segments of p into the other spellings
// kube-state-metrics takes: a negative index, or a "[key=value]" lookup on
// an array of maps.
func (g gen) rewrite(obj map[string]interface{}, p []string) []string {
	out := append([]string(nil), p...)
	for i := range p {
		arr, ok := at(obj, p[:i]).([]interface{})
		if !ok || g.r.Intn(3) > 0 {
			continue
		}
		var idx int
		fmt.Sscan(p[i], &idx)
		if g.r.Intn(2) == 0 {
			out[i] = fmt.Sprint(idx - len(arr))
			continue
		}
		if m, ok := arr[idx].(map[string]interface{}); ok {
			for _, k := range keyPool {
				if sv, ok := m[k].(string); ok && !strings.ContainsAny(sv, "=[]") {
					out[i] = "[" + k + "=" + sv + "]"
					break
				}
			}
		}
	}
	return out
}

func (g gen) metric(i int, obj map[string]interface{}, all [][]string) string {
	orig := g.pick(all)
	v := at(obj, orig)
	p := g.rewrite(obj, orig)
	rel := relPaths(v)
	var b strings.Builder
	fmt.Fprintf(&b, "        - name: m%d\n          help: metric %d\n", i, i)
	if g.r.Intn(4) == 0 {
		fmt.Fprintf(&b, "          commonLabels: {c%d: v%d}\n", i, i)
	}
	if g.r.Intn(4) == 0 {
		fmt.Fprintf(&b, "          labelsFromPath: {n%d: [metadata, name]}\n", i)
	}
	b.WriteString("          each:\n")
	switch g.r.Intn(3) {
	case 0:
		b.WriteString("            type: Gauge\n            gauge:\n")
		fmt.Fprintf(&b, "              path: %s\n", quote(p))
		if len(rel) > 0 && g.r.Intn(2) == 0 {
			fmt.Fprintf(&b, "              valueFrom: %s\n", quote(rel[g.r.Intn(len(rel))]))
		}
		if _, ok := v.(map[string]interface{}); ok && g.r.Intn(2) == 0 {
			b.WriteString("              labelFromKey: key\n")
		}
		if g.r.Intn(3) == 0 {
			b.WriteString("              nilIsZero: true\n")
		}
		b.WriteString(g.labels(rel, "              "))
	case 1:
		b.WriteString("            type: StateSet\n            stateSet:\n")
		fmt.Fprintf(&b, "              path: %s\n              labelName: state\n", quote(p))
		states := []string{"foo", "True", "yes"}
		if len(rel) > 0 && g.r.Intn(3) > 0 {
			vf := rel[g.r.Intn(len(rel))]
			fmt.Fprintf(&b, "              valueFrom: %s\n", quote(vf))
		}
		fmt.Fprintf(&b, "              list: %s\n", quote(states[:1+g.r.Intn(3)]))
		b.WriteString(g.labels(rel, "              "))
	default:
		b.WriteString("            type: Info\n            info:\n")
		fmt.Fprintf(&b, "              path: %s\n", quote(p))
		if _, ok := v.(map[string]interface{}); ok && g.r.Intn(2) == 0 {
			b.WriteString("              labelFromKey: key\n")
		}
		labels := g.labels(rel, "              ")
		if labels == "" {
			labels = "              labelsFromPath: {whole: []}\n"
		}
		b.WriteString(labels)
	}
	return b.String()
}

func randomCases(seed int64, n int) []Case {
	g := gen{rand.New(rand.NewSource(seed))}
	var out []Case
	for i := 0; i < n; i++ {
		obj := map[string]interface{}{
			"apiVersion": "example.com/v1", "kind": "Foo",
			"metadata": map[string]interface{}{"name": fmt.Sprintf("o%d", i), "namespace": "ns",
				"labels": map[string]interface{}{"app": "x", "tier": fmt.Sprint(g.r.Intn(3))}},
			"spec":   g.object(3),
			"status": g.object(3),
		}
		var all [][]string
		paths(obj, nil, &all)
		sort.Slice(all, func(a, b int) bool {
			return strings.Join(all[a], "\x00") < strings.Join(all[b], "\x00")
		})
		var cfg strings.Builder
		cfg.WriteString("kind: CustomResourceStateMetrics\nspec:\n  resources:\n")
		cfg.WriteString("    - groupVersionKind: {group: example.com, version: v1, kind: Foo}\n")
		switch g.r.Intn(4) {
		case 0:
			cfg.WriteString("      metricNamePrefix: \"\"\n")
		case 1:
			cfg.WriteString("      metricNamePrefix: acme\n")
		}
		switch g.r.Intn(4) {
		case 0:
			cfg.WriteString("      labelsFromPath: {\"*\": [metadata, labels]}\n")
		case 1:
			cfg.WriteString("      labelsFromPath: {\"lbl_*\": [metadata, labels], app: [metadata, name]}\n")
		}
		cfg.WriteString("      metrics:\n")
		for m := g.r.Intn(3); m >= 0; m-- {
			cfg.WriteString(g.metric(m, obj, all))
		}
		text, err := json.Marshal(obj)
		if err != nil {
			panic(err)
		}
		out = append(out, Case{Name: fmt.Sprintf("random/%d/%d", seed, i), Config: cfg.String(),
			Object: string(text)})
	}
	return out
}

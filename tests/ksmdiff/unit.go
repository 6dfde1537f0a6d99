package main

import (
	"fmt"
	"strings"
)

// unitObject is the object of kube-state-metrics' unit tests
// (registry_factory_test.go), written out as JSON, plus a few fields for
// the cases those tests do not reach.
const unitObject = `{"apiVersion":"example.com/v1","kind":"Foo",
"metadata":{"name":"foo","namespace":"ns","creationTimestamp":"2022-06-28T00:00:00Z",
 "labels":{"foo":"bar"},"annotations":{"qux":"quxx","bar":"baz","k=v":"literal"},
 "percentage":"39%"},
"spec":{"replicas":1,"version":"v0.0.0","paused":null,
 "order":[{"id":1,"value":true},{"id":3,"value":false}],
 "big":9007199254740993,"huge":18446744073709551615,"neg":-9223372036854775808},
"status":{"active":{"type-a":1,"type-b":3},"phase":"foo","uptime":43.21,
 "quantity_milli":"250m","quantity_binarySI":"5Gi","percentage":"28%",
 "condition_values":[{"name":"a","value":45},{"name":"b","value":66}],
 "conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2022-06-28T00:00:00Z"},
  {"type":"Provisioned","status":"False"}],
 "sub":{"type-a":{"active":1,"ready":2},"type-b":{"active":3,"ready":4}},
 "nested":{"list":[[1,2],[3]]},
 "float_big":1.5e10,"float_small":1.5e-05,"exp":1e6}}`

// unitCases: one metric per feature kube-state-metrics' unit tests
// exercise (paths, lookups, conversions, label copies, each type).
func unitCases() []Case {
	metrics := []string{
		// gauges on scalars and conversions
		`{name: m, each: {type: Gauge, gauge: {path: [spec, replicas]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, uptime]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, quantity_milli]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, quantity_binarySI]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, percentage]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [metadata, creationTimestamp]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [spec, paused], nilIsZero: true}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [spec, paused]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [spec, missing], nilIsZero: true}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, float_big]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, float_small]}}}`,
		// gauges on maps and arrays
		`{name: m, each: {type: Gauge, gauge: {path: [status, active], labelFromKey: type}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, active]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, sub], labelFromKey: type, valueFrom: [ready], labelsFromPath: {active: [active]}}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, condition_values], valueFrom: [value], labelsFromPath: {name: [name]}}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [spec, order], valueFrom: [value], labelsFromPath: {id: [id]}}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, conditions], valueFrom: [status], labelsFromPath: {type: [type]}}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, conditions], valueFrom: [lastTransitionTime], labelsFromPath: {type: [type]}}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, conditions, "[type=Ready]"], valueFrom: [status]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [spec, order, "[id=3]"], valueFrom: [value]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [spec, order, "[value=true]"], valueFrom: [id]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, condition_values, "-1"], valueFrom: [value]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, condition_values, "0", value]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, nested, list], valueFrom: ["0"]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, active], valueFrom: [type-a]}}}`,
		// label values of every JSON type
		`{name: m, each: {type: Info, info: {labelsFromPath: {a: [spec, big], b: [spec, huge], c: [spec, neg], d: [status, float_big], e: [status, float_small], f: [status, exp], g: [status, uptime]}}}}`,
		`{name: m, each: {type: Info, info: {labelsFromPath: {a: [spec, order], b: [status, active], c: [spec, paused], d: [spec, order, "0", value]}}}}`,
		// info and label copies
		`{name: m, each: {type: Info, info: {labelsFromPath: {"*": [metadata, labels], "lorem_*": [metadata, annotations], name: [metadata, name]}}}}`,
		`{name: m, each: {type: Info, info: {path: [metadata, annotations], labelFromKey: key}}}`,
		`{name: m, each: {type: Info, info: {path: [metadata, annotations, "k=v"], labelFromKey: key}}}`,
		`{name: m, each: {type: Info, info: {path: [status, conditions], labelsFromPath: {type: [type], st: [status]}}}}`,
		`{name: m, each: {type: Info, info: {path: [spec, order], labelsFromPath: {id: [id]}}}}`,
		// statesets
		`{name: m, each: {type: StateSet, stateSet: {path: [status, phase], labelName: phase, list: [foo, bar]}}}`,
		`{name: m, each: {type: StateSet, stateSet: {path: [status, conditions], valueFrom: [status], labelName: s, list: ["True", "False"], labelsFromPath: {type: [type]}}}}`,
		`{name: m, each: {type: StateSet, stateSet: {labelName: phase, valueFrom: [status, phase], list: [foo]}}}`,
		// common and resource labels
		`{name: m, commonLabels: {a: b}, labelsFromPath: {ns: [metadata, namespace]}, each: {type: Gauge, gauge: {path: [spec, replicas]}}}`,
		`{name: m, labelsFromPath: {customresource_kind: [metadata, name]}, each: {type: Gauge, gauge: {path: [spec, replicas]}}}`,
		`{name: m, each: {type: Gauge, gauge: {path: [status, condition_values], valueFrom: [value], labelsFromPath: {name: [name], customresource_group: [name]}}}}`,
	}
	var out []Case
	for i, m := range metrics {
		cfg := fmt.Sprintf(`kind: CustomResourceStateMetrics
spec:
  resources:
    - groupVersionKind: {group: example.com, version: v1, kind: Foo}
      commonLabels: {crd: foo}
      labelsFromPath: {name: [metadata, name]}
      metrics:
        - %s
`, strings.ReplaceAll(m, "{name: m,", "{name: m, help: h,"))
		out = append(out, Case{Name: fmt.Sprintf("unit/%d", i), Config: cfg, Object: unitObject})
	}
	return out
}

// yamlScalars: plain scalars whose meaning differs between YAML 1.1 (what
// kubectl's go-yaml v2 reads) and YAML 1.2.
var yamlScalars = []string{
	"010", "0o10", "0x1F", "0b101", "1_000", "08", "+5", "-010", "0", "-0", "007",
	"yes", "Yes", "NO", "on", "Off", "y", "n", "true", "False", "~", "null", "",
	"1e3", ".5", "1.5e10", "1.", "-.5", "2001-12-14", "9007199254740993",
	"18446744073709551615", "9223372036854775808", "0x", "1:20", "12e", "0b2",
	"'010'", "\"yes\"", "1.0", "100000000000000000000", "3.14159", "0xFFFFFFFFFFFFFFFF",
}

// yamlCases: each scalar as a label value and as a gauge value of a YAML
// object.
func yamlCases() []Case {
	cfg := `kind: CustomResourceStateMetrics
spec:
  resources:
    - groupVersionKind: {group: example.com, version: v1, kind: Foo}
      metrics:
        - name: label
          help: h
          each: {type: Info, info: {labelsFromPath: {v: [spec, v]}}}
        - name: value
          help: h
          each: {type: Gauge, gauge: {path: [spec, v]}}
`
	var out []Case
	for i, s := range yamlScalars {
		obj := fmt.Sprintf("apiVersion: example.com/v1\nkind: Foo\nmetadata:\n  name: x\nspec:\n  v: %s\n", s)
		out = append(out, Case{Name: fmt.Sprintf("yaml/%d(%s)", i, s), Config: cfg, Object: obj})
	}
	return out
}

// rejectCases: configs kube-state-metrics accepts (and renders, often into
// an invalid exposition) that check-config rejects with a message; each is a
// documented difference (knownRejections).
func rejectCases() []Case {
	head := "kind: CustomResourceStateMetrics\nspec:\n  resources:\n" +
		"    - groupVersionKind: {group: example.com, version: v1, kind: Foo}\n      metrics:\n"
	configs := []string{
		head + "        - {name: m, help: h, each: {type: Gauge, gauge: {path: [spec, replicas], valueFrm: [x]}}}\n",
		head + "        - {name: m, help: h, each: {type: Gauge, gauge: {path: [spec, replicas]}}, celExpr: x}\n",
		head + "        - {name: \"a-b\", help: h, each: {type: Gauge, gauge: {path: [spec, replicas]}}}\n",
		head + "        - {name: m, help: h, commonLabels: {\"a-b\": x}, each: {type: Gauge, gauge: {path: [spec, replicas]}}}\n",
		head + "        - {name: m, help: h, each: {type: StateSet, stateSet: {path: [status, phase], list: [foo]}}}\n",
		head + "        - {help: h, each: {type: Gauge, gauge: {path: [spec, replicas]}}}\n",
		head + "        - {name: m, help: h, each: {type: Gauge, gauge: {path: [spec, replicas]}}}\n" +
			"        - {name: m, help: h, each: {type: Info, info: {labelsFromPath: {a: [metadata, name]}}}}\n",
		strings.Replace(head, "kind: CustomResourceStateMetrics\n", "", 1) +
			"        - {name: m, help: h, each: {type: Gauge, gauge: {path: [spec, replicas]}}}\n",
		head + "        - {name: m, help: h, labelsFromPath: {\"a-b\": [metadata, name], \"a_b\": [metadata, namespace]}, each: {type: Gauge, gauge: {path: [spec, replicas]}}}\n",
	}
	var out []Case
	for i, c := range configs {
		out = append(out, Case{Name: fmt.Sprintf("reject/%d", i), Config: c, Object: unitObject})
	}
	return out
}

// extensionCases: configs using our extensions that kube-state-metrics
// rejects (it has no such type); documented differences (knownDiffs
// "extension-count"), checked to render here.
func extensionCases() []Case {
	head := "kind: CustomResourceStateMetrics\nspec:\n  resources:\n" +
		"    - groupVersionKind: {group: example.com, version: v1, kind: Foo}\n      metrics:\n"
	configs := []string{
		head + "        - {name: m, help: h, labelsFromPath: {ns: [metadata, namespace]}, each: {type: Count}}\n",
		head + "        - {name: m, help: h, labelsFromPath: {foo: [metadata, labels, foo]}, each: {type: Count, count: {maxSeries: 3}}}\n",
	}
	var out []Case
	for i, c := range configs {
		out = append(out, Case{Name: fmt.Sprintf("extension/count/%d", i), Config: c, Object: unitObject})
	}
	return out
}

package main

import (
	"os"
	"path/filepath"
)

// docCases: the examples of kube-state-metrics' Custom Resource State
// documentation, as tests/data/crs holds them.
func docCases() []Case {
	pairs := [][2]string{
		{"single.yaml", "foo.yaml"}, {"kitchensink.yaml", "foo.yaml"},
		{"arrays.yaml", "foo.yaml"}, {"vpa-same-name.yaml", "vpa.yaml"},
		{"vpa-target.yaml", "hamster.yaml"}, {"conditions.yaml", "conditions-object.yaml"},
		{"stateset.yaml", "foo.yaml"}, {"info.yaml", "foo.yaml"}, {"prefix.yaml", "foo.yaml"},
		{"noprefix.yaml", "foo.yaml"}, {"wildcard.yaml", "wildcard-foo.yaml"},
		{"wildcard.yaml", "wildcard-bar.yaml"}, {"vpa-all.yaml", "hamster.yaml"},
	}
	var out []Case
	for _, p := range pairs {
		cfg, err1 := os.ReadFile(filepath.Join(dataDir, p[0]))
		obj, err2 := os.ReadFile(filepath.Join(dataDir, p[1]))
		if err1 != nil || err2 != nil {
			panic("ksmdiff: cannot read " + p[0] + " or " + p[1])
		}
		out = append(out, Case{Name: "doc/" + p[0] + "+" + p[1], Config: string(cfg),
			Object: string(obj)})
	}
	return out
}

// dataDir is tests/data/crs, relative to tests/ksmdiff (the working
// directory the script runs us in).
var dataDir = "../data/crs"

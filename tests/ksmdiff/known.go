package main

import (
	"strings"
)

// classify decides a case: "same", or the class of a documented
// difference ("difference", "ksm-bug"), or "DIFFERENT" (a failure).
// Every knownDiff has a row in README.md's differences table.
func classify(c Case, k, o side) (verdict, known string) {
	// A sanitizer report fails the case whatever the output was.
	if strings.Contains(o.stderr, "Sanitizer") || strings.Contains(o.stderr, "runtime error:") {
		return "DIFFERENT", ""
	}
	if k.err == "" && o.err == "" && equal(k.samples, o.samples) {
		return "same", ""
	}
	if k.err != "" && o.err != "" {
		return "same", ""
	}
	for _, d := range knownDiffs {
		if d.match(c, k, o) {
			return d.class, d.name
		}
	}
	return "DIFFERENT", ""
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type knownDiff struct {
	name  string
	class string // "difference" or "ksm-bug"
	why   string
	match func(c Case, k, o side) bool
}

// series splits a canonical sample line into its series and its value.
func series(s string) (string, string) {
	i := strings.LastIndexByte(s, ' ')
	return s[:i], s[i+1:]
}

// dedupMatches: ours has each of ksm's series once, with one of the values
// ksm printed for it.
func dedupMatches(k, o []string) bool {
	values := map[string]map[string]bool{}
	var order []string
	for _, s := range k {
		ser, v := series(s)
		if values[ser] == nil {
			values[ser] = map[string]bool{}
			order = append(order, ser)
		}
		values[ser][v] = true
	}
	if len(o) != len(order) {
		return false
	}
	for _, s := range o {
		ser, v := series(s)
		if !values[ser][v] {
			return false
		}
	}
	return len(k) > len(o)
}

// rerunKSM renders the case again on kube-state-metrics' side with the
// object text rewritten.
func rerunKSM(c Case, from, to string) side {
	c.Object = strings.ReplaceAll(c.Object, from, to)
	c.Config = strings.ReplaceAll(c.Config, strings.Trim(from, `"`), strings.Trim(to, `"`))
	return ksmSide(c)
}

// mapLabels rewrites label values in canonical samples.
func mapLabels(samples []string, from, to string) []string {
	var out []string
	for _, s := range samples {
		out = append(out, strings.ReplaceAll(s, from, to))
	}
	return out
}

// withPercents: kube-state-metrics' reading of the object if it took
// "12.5%" as we do (0.125), and our samples with such label values mapped
// the same way.
func withPercents(c Case, k, o side) (side, side) {
	if !strings.Contains(c.Object, "12.5%") {
		return k, o
	}
	k = rerunKSM(c, `"12.5%"`, `"0.125"`)
	o.samples = mapLabels(o.samples, "12.5%", "0.125")
	sortStrings(o.samples)
	return k, o
}

// rejected: kube-state-metrics rendered the case, check-config refused the
// config with a message containing what.
func rejected(what string) func(c Case, k, o side) bool {
	return func(c Case, k, o side) bool {
		return k.err == "" && strings.HasPrefix(o.err, "rejected: ") && strings.Contains(o.err, what)
	}
}

var knownDiffs = []knownDiff{
	{name: "reject-unknown-field", class: "difference", match: rejected("unknown field"),
		why: "an unknown or misspelt field (also CEL fields of later releases) is an error; kube-state-metrics ignores it"},
	{name: "reject-invalid-name", class: "difference", match: rejected("is not a valid"),
		why: "an invalid metric or label name is an error; kube-state-metrics exports it and breaks the scrape"},
	{name: "reject-stateset-no-label", class: "difference",
		match: rejected("a StateSet needs the label"),
		why:   "a StateSet without labelName is an error; kube-state-metrics exports an empty label name"},
	{name: "reject-no-name", class: "difference", match: rejected("every metric needs a name"),
		why: "a metric without a name is an error; kube-state-metrics names it after the prefix alone"},
	{name: "reject-type-clash", class: "difference", match: rejected("with another type"),
		why: "two metrics of one name and different types are an error; kube-state-metrics prints two families of one name"},
	{name: "reject-label-clash", class: "difference", match: rejected("both give label"),
		why: "two labelsFromPath keys that sanitize to one label name are an error; kube-state-metrics keeps one at random"},
	{
		name:  "extension-count",
		class: "difference",
		why:   "type: Count (objects per combination of labels) is our extension; kube-state-metrics rejects the type",
		match: func(c Case, k, o side) bool {
			return k.err != "" && o.err == "" && len(o.samples) > 0 &&
				strings.Contains(c.Config, "type: Count")
		},
	},
	{
		name:  "decimal-percentages",
		class: "difference",
		why:   `"12.5%" is 0.125 here; kube-state-metrics takes integer percentages only`,
		match: func(c Case, k, o side) bool {
			k2, o2 := withPercents(c, k, o)
			return k2.err == "" && o.err == "" && strings.Contains(c.Object, "12.5%") &&
				equal(k2.samples, o2.samples)
		},
	},
	{
		name:  "duplicate-series",
		class: "ksm-bug",
		why:   "elements giving the same labels: kube-state-metrics prints the series once per element (an invalid exposition); we print it once and say so",
		match: func(c Case, k, o side) bool {
			k2, o2 := withPercents(c, k, o)
			return k2.err == "" && o.err == "" && dedupMatches(k2.samples, o2.samples)
		},
	},
	{
		name:  "star-prefix",
		class: "difference",
		why:   `"**" and "*x" copy keys as they are; kube-state-metrics' code prefixes "*" (giving "_key")`,
		match: func(c Case, k, o side) bool {
			if k.err != "" || o.err != "" || !strings.Contains(c.Config, `"**"`) {
				return false
			}
			var fixed []string
			for _, s := range k.samples {
				fixed = append(fixed, strings.NewReplacer("{_", "{", ",_", ",").Replace(s))
			}
			sortStrings(fixed)
			var ours []string
			for _, s := range o.samples {
				ours = append(ours, s)
			}
			// The unprefixed copies sort differently; compare as sets of
			// label sets.
			return sameLabelSets(fixed, ours)
		},
	},
}

// sameLabelSets compares samples label by label, ignoring label order.
func sameLabelSets(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	norm := func(s []string) []string {
		var out []string
		for _, x := range s {
			c, err := canonical(x)
			if err != nil {
				return nil
			}
			out = append(out, c)
		}
		sortStrings(out)
		return out
	}
	return equal(norm(a), norm(b))
}

func knownByName(n string) knownDiff {
	for _, d := range knownDiffs {
		if d.name == n {
			return d
		}
	}
	return knownDiff{}
}

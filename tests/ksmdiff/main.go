// Command ksmdiff is the differential test of crd-state-metrics' Custom
// Resource State implementation against kube-state-metrics' own
// pkg/customresourcestate (the version go.mod pins), called as a library.
//
// Every case is a config and an object. kube-state-metrics compiles the
// config and renders the object the way its informer would hand it over
// (an unstructured object decoded from JSON, YAML converted by
// sigs.k8s.io/yaml as kubectl does); `crd-state-metrics check-config`
// renders the same files. The sample sets (name, labels, value) must be
// equal, or the difference must match one of the documented differences in
// known.go, each of which has a row in README.md's differences table.
//
// Usage: ksmdiff -exporter PATH [-random N] [-seed S] [-v]
// Exit status 0 when every case is the same or a documented difference.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// A Case is one config and one object, both as file text.
type Case struct {
	Name   string
	Config string
	Object string
}

// Outcome of one side.
type side struct {
	samples []string // canonical sample lines, sorted
	err     string   // config rejected (non-empty) or render failure
	stderr  string
}

func main() {
	exporter := flag.String("exporter", "", "crd-state-metrics binary")
	random := flag.Int("random", 400, "number of random cases")
	seed := flag.Int64("seed", 1, "seed of the random cases")
	verbose := flag.Bool("v", false, "print every difference in full")
	baseline := flag.String("baseline", "", "an older crd-state-metrics: cases it got wrong and -exporter gets right count as fixed")
	flag.Parse()
	if *exporter == "" {
		fmt.Fprintln(os.Stderr, "ksmdiff: -exporter is required")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "ksmdiff-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "ksmdiff:", err)
		os.Exit(2)
	}
	defer os.RemoveAll(dir)

	cases := append(docCases(), unitCases()...)
	cases = append(cases, yamlCases()...)
	cases = append(cases, rejectCases()...)
	cases = append(cases, extensionCases()...)
	cases = append(cases, randomCases(*seed, *random)...)

	totals := map[string]int{}
	byKnown := map[string]int{}
	failed := 0
	for i, c := range cases {
		k := ksmSide(c)
		o := ourSide(*exporter, dir, i, c)
		verdict, known := classify(c, k, o)
		if *baseline != "" && verdict != "DIFFERENT" {
			if bv, _ := classify(c, k, ourSide(*baseline, dir, i, c)); bv == "DIFFERENT" {
				verdict, known = "fixed", ""
			}
		}
		totals[verdict]++
		if known != "" {
			byKnown[known]++
		}
		if verdict == "DIFFERENT" {
			failed++
			if failed <= 20 || *verbose {
				report(c, k, o)
			}
		}
	}
	fmt.Printf("ksmdiff: %d cases (seed %d): same %d, fixed here %d, documented difference %d, "+
		"kube-state-metrics bug %d, unexplained %d\n", len(cases), *seed, totals["same"],
		totals["fixed"], totals["difference"], totals["ksm-bug"], totals["DIFFERENT"])
	var names []string
	for n := range byKnown {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("  %-28s %4d  %s\n", n, byKnown[n], knownByName(n).why)
	}
	if failed > 0 {
		os.Exit(1)
	}
}

func report(c Case, k, o side) {
	fmt.Printf("--- case %s differs\n", c.Name)
	fmt.Printf("config:\n%s\nobject:\n%s\n", c.Config, c.Object)
	if k.err != "" {
		fmt.Printf("kube-state-metrics: %s\n", k.err)
	}
	if o.err != "" || o.stderr != "" {
		fmt.Printf("check-config: %s %s\n", o.err, o.stderr)
	}
	onlyK, onlyO := diff(k.samples, o.samples)
	for _, s := range onlyK {
		fmt.Printf("  only ksm:  %s\n", s)
	}
	for _, s := range onlyO {
		fmt.Printf("  only ours: %s\n", s)
	}
}

// diff returns the lines only in a and only in b (multisets).
func diff(a, b []string) (onlyA, onlyB []string) {
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, s := range a {
		if count[s] > 0 {
			onlyA = append(onlyA, s)
			count[s]--
		}
	}
	for s, n := range count {
		for ; n < 0; n++ {
			onlyB = append(onlyB, s)
		}
	}
	sort.Strings(onlyB)
	return onlyA, onlyB
}

func ourSide(exporter, dir string, i int, c Case) side {
	cfg := filepath.Join(dir, fmt.Sprintf("c%d.yaml", i))
	obj := filepath.Join(dir, fmt.Sprintf("o%d", i))
	if err := os.WriteFile(cfg, []byte(c.Config), 0o600); err != nil {
		return side{err: err.Error()}
	}
	if err := os.WriteFile(obj, []byte(c.Object), 0o600); err != nil {
		return side{err: err.Error()}
	}
	cmd := exec.Command(exporter, "check-config", cfg, "--object", obj)
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err := cmd.Run()
	s := side{stderr: strings.ReplaceAll(errb.String(), dir+"/", "")}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
		s.err = "rejected: " + strings.TrimSpace(s.stderr)
		return s
	} else if err != nil && !ok {
		s.err = err.Error()
		return s
	}
	samples, perr := parseExposition(out.String())
	if perr != nil {
		s.err = "unparsable output: " + perr.Error()
	}
	s.samples = samples
	return s
}

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/exporter"
)

// Issue 13: a resource's labelSelector/fieldSelector in the Custom Resource
// State config (an extension) filter its LIST and WATCH on the server: objects
// outside the selectors never appear, and an object that moves in or out of
// the selection by an update appears or goes.
func TestCRSSelectors(t *testing.T) {
	c := cluster.Get(t)
	thing := cluster.CRDSpec{Group: "sel.example.com", Version: "v1", Kind: "Thing", Namespaced: true}
	c.EnsureNamespace(t, "ns")
	c.EnsureCRD(t, thing)
	c.DeleteAllObjects(t, thing)
	for _, o := range []struct{ name, tier string }{{"a", "gold"}, {"b", "silver"}, {"c", "gold"}, {"d", "bronze"}} {
		c.CreateObject(t, thing, thing.Object("ns", o.name, map[string]string{"tier": o.tier}, nil))
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`kind: CustomResourceStateMetrics
spec:
  resources:
    - groupVersionKind: {group: sel.example.com, version: v1, kind: Thing}
      labelSelector: "tier in (gold,silver)"
      fieldSelector: "metadata.name!=c"
      metrics:
        - name: thing_info
          help: Things.
          each: {type: Info, info: {labelsFromPath: {thing: [metadata, name], tier: [metadata, labels, tier]}}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := exporter.Start(t, exporter.Options{Kubeconfig: c.Kubeconfig, Args: []string{"--config", cfg}})
	bc := &bodyChecker{t: t, linted: map[[32]byte]bool{}}
	check := func(what string, things ...string) {
		t.Helper()
		sort.Strings(things)
		var b strings.Builder
		b.WriteString("# HELP kube_customresource_thing_info Things.\n# TYPE kube_customresource_thing_info gauge\n")
		for _, th := range things {
			name, tier, _ := strings.Cut(th, "=")
			fmt.Fprintf(&b, `kube_customresource_thing_info{customresource_group="sel.example.com",customresource_kind="Thing",customresource_version="v1",thing="%s",tier="%s"} 1`+"\n", name, tier)
		}
		waitForBody(t, e, bc, what, b.String())
	}
	// LIST: d (bronze) is outside the label selector, c outside the field one.
	check("the LIST selects a and b only", "a=gold", "b=silver")

	relabel := func(name, tier string) {
		t.Helper()
		ri := c.Dynamic.Resource(thing.GVR()).Namespace("ns")
		obj, err := ri.Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obj.SetLabels(map[string]string{"tier": tier})
		if _, err := ri.Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// WATCH: an update moves d into the selection and b out of it; c stays
	// out whatever its labels.
	relabel("d", "gold")
	relabel("b", "bronze")
	relabel("c", "silver")
	check("the WATCH follows updates into and out of the selection", "a=gold", "d=gold")
	c.DeleteAllObjects(t, thing)
}

// waitForBody waits until e's /metrics, checked by bc (promtool and the
// body rules), normalizes to body's series.
func waitForBody(t *testing.T, e *exporter.Exporter, bc *bodyChecker, what, body string) {
	t.Helper()
	want, err := exporter.Normalize(body)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	d := cluster.Eventually(t, 20*time.Second, 50*time.Millisecond, what, func() (bool, error) {
		st, raw, _, err := exporter.Get(e.URL + "/metrics")
		if err != nil || st != 200 {
			return false, err
		}
		got, err = bc.check(string(raw))
		return err == nil && got == want, err
	})
	t.Logf("%s after %v", what, d.Round(time.Millisecond))
}

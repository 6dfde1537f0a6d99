package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/ship"
)

// saMay asks the authorizer whether the ServiceAccount may do verb on the
// (named) resource in ns.
func saMay(t *testing.T, c *cluster.Cluster, ns, sa, verb, group, resource, name string) bool {
	t.Helper()
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group,
			Resource: resource, Name: name},
	}}
	got, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got.Status.Allowed
}

// TestShardManifests: the sharded overlay (manifests/overlays/sharded)
// renders a 3-replica StatefulSet running the standalone container with
// --pod/--pod-namespace from the downward API, a headless governing Service,
// and a Role for its own pod and StatefulSet; the API server accepts it all
// and the authorizer gives the exporter exactly that.
func TestShardManifests(t *testing.T) {
	c := cluster.Get(t)
	ship.InstallMonitoringCRDs(t, c)
	ship.InstallSampleCRD(t, c)
	manifest, objs := ship.Render(t, c, filepath.Join(ship.ManifestsDir(), "overlays/sharded"))

	if n := len(ship.FindAll(objs, "Deployment")); n != 0 {
		t.Errorf("the sharded overlay renders %d Deployments, want 0", n)
	}
	sts := ship.FindAll(objs, "StatefulSet")
	if len(sts) != 1 {
		t.Fatalf("want one StatefulSet, got %d", len(sts))
	}
	s := sts[0]
	ns := s.GetNamespace()
	if r, _, _ := unstructured.NestedInt64(s.Object, "spec", "replicas"); r != 3 {
		t.Errorf("StatefulSet replicas = %d, want 3", r)
	}
	var container map[string]any
	for _, x := range ship.Slice(s.Object, "spec", "template", "spec", "containers") {
		if m, _ := x.(map[string]any); ship.Str(m, "name") == "crd-state-metrics" {
			container = m
		}
	}
	if container == nil {
		t.Fatal("no crd-state-metrics container in the StatefulSet")
	}
	// Raw: $(POD_NAME) is the kubelet's to expand from the downward API.
	var args []string
	for _, a := range ship.Slice(container, "args") {
		s, _ := a.(string)
		args = append(args, s)
	}
	for _, want := range []string{"--pod=$(POD_NAME)", "--pod-namespace=$(POD_NAMESPACE)"} {
		found := false
		for _, a := range args {
			found = found || a == want
		}
		if !found {
			t.Errorf("StatefulSet container args %v lack %s", args, want)
		}
	}
	fields := map[string]string{}
	for _, e := range ship.Slice(container, "env") {
		m, _ := e.(map[string]any)
		fields[ship.Str(m, "name")] = ship.Str(m, "valueFrom", "fieldRef", "fieldPath")
	}
	if fields["POD_NAME"] != "metadata.name" || fields["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("downward API env: %v", fields)
	}

	// The same container as the standalone Deployment, plus exactly that.
	t.Run("container-as-standalone", func(t *testing.T) {
		read := func(rel string) map[string]any {
			b, err := os.ReadFile(filepath.Join(ship.ManifestsDir(), rel))
			if err != nil {
				t.Fatal(err)
			}
			docs, err := ship.DecodeYAML(b)
			if err != nil || len(docs) != 1 {
				t.Fatalf("%s: %v", rel, err)
			}
			m, _ := ship.Slice(docs[0].Object, "spec", "template", "spec", "containers")[0].(map[string]any)
			return m
		}
		a, b := read("standalone/deployment.yaml"), read("overlays/sharded/statefulset.yaml")
		strip := func(m map[string]any) map[string]any {
			out := map[string]any{}
			for k, v := range m {
				out[k] = v
			}
			var args []any
			for _, x := range ship.Slice(m, "args") {
				if s, _ := x.(string); !strings.HasPrefix(s, "--pod") {
					args = append(args, x)
				}
			}
			out["args"] = args
			var env []any
			for _, x := range ship.Slice(m, "env") {
				if e, _ := x.(map[string]any); !strings.HasPrefix(ship.Str(e, "name"), "POD_") {
					env = append(env, x)
				}
			}
			out["env"] = env
			return out
		}
		if !reflect.DeepEqual(strip(a), strip(b)) {
			ja, _ := json.MarshalIndent(a, "", "  ")
			jb, _ := json.MarshalIndent(b, "", "  ")
			t.Errorf("the StatefulSet's container differs from the standalone one beyond --pod/--pod-namespace:\n%s\n%s", ja, jb)
		}
	})

	// The governing Service is headless and selects the shards.
	svcName := ship.Str(s.Object, "spec", "serviceName")
	svc := ship.Find(objs, "Service", svcName)
	if svc == nil {
		t.Fatalf("no Service %s (the StatefulSet's serviceName)", svcName)
	}
	if ip := ship.Str(svc.Object, "spec", "clusterIP"); ip != "None" {
		t.Errorf("Service %s clusterIP %q, want None (headless)", svcName, ip)
	}
	if !ship.Selects(ship.StrMap(svc.Object, "spec", "selector"), ship.StrMap(s.Object, "spec", "template", "metadata", "labels")) {
		t.Errorf("Service %s does not select the StatefulSet's pods", svcName)
	}
	if main := ship.Find(objs, "Service", "crd-state-metrics"); main == nil ||
		!ship.Selects(ship.StrMap(main.Object, "spec", "selector"), ship.StrMap(s.Object, "spec", "template", "metadata", "labels")) {
		t.Errorf("the crd-state-metrics Service (what the ServiceMonitor scrapes) does not select the shards")
	}

	out, err := ship.Apply(c, manifest)
	if err != nil {
		t.Fatalf("the API server rejected the sharded overlay: %v\n%s", err, out)
	}
	t.Logf("applied overlays/sharded:\n%s", strings.TrimSpace(out))
	got, err := c.Client.AppsV1().StatefulSets(ns).Get(context.Background(), s.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("StatefulSet not stored: %v", err)
	}
	if got.Spec.Replicas == nil || *got.Spec.Replicas != 3 || got.Spec.ServiceName != svcName {
		t.Errorf("StatefulSet stored as replicas %v serviceName %q", got.Spec.Replicas, got.Spec.ServiceName)
	}

	sa := ship.Str(s.Object, "spec", "template", "spec", "serviceAccountName")
	name := s.GetName()
	for _, q := range []struct {
		verb, group, resource, name string
		want                        bool
	}{
		{"get", "", "pods", "crd-state-metrics-0", true},
		{"get", "apps", "statefulsets", name, true},
		{"list", "apps", "statefulsets", name, true}, // fieldSelector metadata.name=<name>
		{"watch", "apps", "statefulsets", name, true},
		{"list", "apps", "statefulsets", "", false},
		{"get", "apps", "statefulsets", "someone-else", false},
		{"update", "apps", "statefulsets", name, false},
		{"list", "", "pods", "", false},
		{"list", "cache.example.com", "memcacheds", "", true},
		{"watch", "cache.example.com", "memcacheds", "", true},
	} {
		if ok := saMay(t, c, ns, sa, q.verb, q.group, q.resource, q.name); ok != q.want {
			t.Errorf("%s/%s may %s %s/%s %q: %v, want %v", ns, sa, q.verb, q.group, q.resource, q.name, ok, q.want)
		}
	}
}

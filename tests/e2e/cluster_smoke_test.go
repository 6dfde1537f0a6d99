package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"crd-state-metrics/tests/e2e/cluster"
)

var widgets = cluster.CRDSpec{Group: "smoke.example.com", Version: "v1", Kind: "Widget", Namespaced: true}

// TestClusterSmoke checks that the control plane behaves like a real cluster in
// the ways the exporter's tests rely on.
func TestClusterSmoke(t *testing.T) {
	c := cluster.Get(t)
	ctx := context.Background()

	t.Run("kubectl", func(t *testing.T) {
		out := c.Kubectl(t, "get", "ns", "-o", "name")
		for _, ns := range []string{"namespace/default", "namespace/kube-system", "namespace/kube-public"} {
			if !strings.Contains(out, ns+"\n") {
				t.Errorf("kubectl get ns: %q missing from:\n%s", ns, out)
			}
		}
		var v struct {
			Client struct{ GitVersion string } `json:"clientVersion"`
			Server struct{ GitVersion string } `json:"serverVersion"`
		}
		if err := json.Unmarshal([]byte(c.Kubectl(t, "version", "-o", "json")), &v); err != nil {
			t.Fatal(err)
		}
		if v.Server.GitVersion == "" || v.Server.GitVersion != v.Client.GitVersion || !strings.HasPrefix(v.Server.GitVersion, "v1.") {
			t.Errorf("kubectl version: client %q server %q, want the same v1.x release", v.Client.GitVersion, v.Server.GitVersion)
		}
		t.Logf("Kubernetes %s", v.Server.GitVersion)
	})

	c.EnsureNamespace(t, "smoke")
	c.EnsureCRD(t, widgets)
	c.DeleteAllObjects(t, widgets)
	w1 := c.CreateObject(t, widgets, widgets.Object("smoke", "w1", map[string]string{"a": "b"}, map[string]any{"size": 1}))

	t.Run("crd", func(t *testing.T) {
		out := c.Kubectl(t, "get", "widgets.smoke.example.com", "-n", "smoke", "-o", "name")
		if strings.TrimSpace(out) != "widget.smoke.example.com/w1" {
			t.Errorf("kubectl get widgets: got %q", out)
		}
	})

	id := c.NewServiceAccount(t, "smoke", "reader", cluster.TokenOptions{Lifetime: 15 * time.Minute})

	t.Run("rbac", func(t *testing.T) {
		for _, kc := range []struct{ name, path string }{{"token", id.Kubeconfig}, {"tokenFile", id.TokenFileKubeconfig}} {
			_, err := c.KubectlErr("--kubeconfig", kc.path, "get", "widgets.smoke.example.com", "-n", "smoke")
			if err == nil || !strings.Contains(err.Error(), "forbidden") {
				t.Errorf("%s kubeconfig before RoleBinding: want forbidden, got %v", kc.name, err)
			}
		}
		dyn := dynamic.NewForConfigOrDie(id.Config)
		_, err := dyn.Resource(widgets.GVR()).Namespace("smoke").List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("list widgets before RoleBinding: want 403, got %v", err)
		}
		c.GrantRole(t, id, "smoke", "widget-reader", rbacv1.PolicyRule{
			APIGroups: []string{widgets.Group}, Resources: []string{"widgets"}, Verbs: []string{"get", "list", "watch"},
		})
		l, err := dyn.Resource(widgets.GVR()).Namespace("smoke").List(ctx, metav1.ListOptions{})
		if err != nil || len(l.Items) != 1 {
			t.Fatalf("list widgets after RoleBinding: want 200 with 1 item, got %v (%v)", err, l)
		}
		for _, kc := range []struct{ name, path string }{{"token", id.Kubeconfig}, {"tokenFile", id.TokenFileKubeconfig}} {
			out, err := c.KubectlErr("--kubeconfig", kc.path, "get", "widgets.smoke.example.com", "-n", "smoke", "-o", "name")
			if err != nil || strings.TrimSpace(out) != "widget.smoke.example.com/w1" {
				t.Errorf("%s kubeconfig after RoleBinding: got %q, %v", kc.name, out, err)
			}
		}
		// Still least privilege: a Role grants nothing cluster-wide or for writes.
		if _, err := dyn.Resource(widgets.GVR()).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("cluster-wide list with a namespaced Role: want 403, got %v", err)
		}
		if err := dyn.Resource(widgets.GVR()).Namespace("smoke").Delete(ctx, "w1", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("delete with a read-only Role: want 403, got %v", err)
		}
		// Discovery is open to every authenticated user (system:discovery).
		if _, err := id.Client.Discovery().ServerResourcesForGroupVersion(widgets.Group + "/" + widgets.Version); err != nil {
			t.Errorf("discovery as the service account: %v", err)
		}
		groups := []string{"system:serviceaccounts", "system:serviceaccounts:smoke", "system:authenticated"}
		if ok, err := c.Allowed(ctx, id.Username, groups, "list", widgets.Group, "widgets", "smoke"); err != nil || !ok {
			t.Errorf("SubjectAccessReview list widgets in smoke: allowed=%v err=%v, want true", ok, err)
		}
		if ok, err := c.Allowed(ctx, id.Username, groups, "list", "", "secrets", "smoke"); err != nil || ok {
			t.Errorf("SubjectAccessReview list secrets in smoke: allowed=%v err=%v, want false", ok, err)
		}
	})

	t.Run("tokenreview", func(t *testing.T) {
		st, err := c.TokenReview(ctx, id.Token)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Authenticated || st.User.Username != id.Username {
			t.Errorf("TokenReview of the service-account token: authenticated=%v user=%q error=%q, want true %q",
				st.Authenticated, st.User.Username, st.Error, id.Username)
		}
		if st, err := c.TokenReview(ctx, "not-a-token"); err != nil || st.Authenticated {
			t.Errorf("TokenReview of garbage: authenticated=%v err=%v, want false", st != nil && st.Authenticated, err)
		}
		// A token for a foreign audience: valid for that audience only, and
		// rejected by the apiserver itself.
		const aud = "crd-state-metrics-e2e"
		tok, _, err := c.RequestToken(ctx, "smoke", "reader", cluster.TokenOptions{Audiences: []string{aud}, Lifetime: 10 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := c.TokenReview(ctx, tok, aud); err != nil || !st.Authenticated || len(st.Audiences) != 1 || st.Audiences[0] != aud {
			t.Errorf("TokenReview with audience %q: %+v %v, want authenticated for that audience", aud, st, err)
		}
		if st, err := c.TokenReview(ctx, tok); err != nil || st.Authenticated {
			t.Errorf("TokenReview of a %q token against the apiserver audiences: authenticated=%v err=%v, want false", aud, st != nil && st.Authenticated, err)
		}
		cfg := rest.AnonymousClientConfig(c.Config)
		cfg.BearerToken = tok
		rc, err := rest.HTTPClientFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rc.Get(c.APIServerURL + "/api")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /api with a %q-audience token: HTTP %d, want 401", aud, resp.StatusCode)
		}
	})

	t.Run("client-cert", func(t *testing.T) {
		cert, key := c.IssueCert(t, "cert-user", []string{"csm-e2e-group"}, false)
		kc := t.TempDir() + "/kubeconfig"
		if err := c.WriteKubeconfig(kc, cluster.KubeconfigAuth{ClientCert: cert, ClientKey: key}); err != nil {
			t.Fatal(err)
		}
		out := c.Kubectl(t, "--kubeconfig", kc, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username} {.status.userInfo.groups}")
		if !strings.HasPrefix(out, "cert-user ") || !strings.Contains(out, "csm-e2e-group") {
			t.Errorf("kubectl auth whoami with an issued client cert: %q, want cert-user in csm-e2e-group", out)
		}
		if _, err := c.KubectlErr("--kubeconfig", kc, "get", "ns"); err == nil || !strings.Contains(err.Error(), "forbidden") {
			t.Errorf("client-cert user without RBAC: want forbidden, got %v", err)
		}
	})

	t.Run("compaction-410", func(t *testing.T) {
		testCompaction410(t, c, w1)
	})
}

// testCompaction410 provokes "410 Gone: too old resource version" the way an
// informer meets it: etcd compacted past its resourceVersion and the apiserver
// restarted (its watch cache now starts later), so the watch cannot resume.
func testCompaction410(t *testing.T, c *cluster.Cluster, w1 *unstructured.Unstructured) {
	ctx := context.Background()
	ri := c.Dynamic.Resource(widgets.GVR()).Namespace("smoke")
	rv0 := w1.GetResourceVersion()
	obj := w1
	for i := 0; i < 3; i++ {
		obj = obj.DeepCopy()
		obj.Object["spec"] = map[string]any{"size": int64(i + 2)}
		var err error
		if obj, err = ri.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Control: before compaction the old resourceVersion is still watchable.
	ev := firstWatchEvent(t, ri, rv0)
	if ev.Type != watch.Modified {
		t.Fatalf("watch from rv %s before compaction: first event %s %v, want MODIFIED", rv0, ev.Type, ev.Object)
	}

	// A paged LIST: its continue token works before compaction...
	c.CreateObject(t, widgets, widgets.Object("smoke", "w2", nil, nil))
	page, err := ri.List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil || page.GetContinue() == "" {
		t.Fatalf("paged list: %v (continue %q)", err, page.GetContinue())
	}
	cont := page.GetContinue()
	if _, err := ri.List(ctx, metav1.ListOptions{Limit: 1, Continue: cont}); err != nil {
		t.Fatalf("continue before compaction: %v", err)
	}
	obj = obj.DeepCopy() // a write after the token, so that compaction passes it
	obj.Object["spec"] = map[string]any{"size": int64(100)}
	if obj, err = ri.Update(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	rev, err := c.CompactEtcd(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted etcd at revision %d (object rv0=%s)", rev, rv0)

	// etcd itself now refuses the old revision.
	cli, err := c.Etcd()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Get(ctx, "compact_rev_key", clientv3WithRev(rv0)); err == nil || !strings.Contains(err.Error(), "compacted") {
		t.Errorf("etcd get at revision %s after compaction: want 'required revision has been compacted', got %v", rv0, err)
	}

	// ...and 410 Expired once the apiserver has noticed the compaction: it may
	// serve continue tokens from watch-cache snapshots, which it drops when its
	// compactor poll (every 15s) sees the new compact_rev_key.
	d := cluster.Eventually(t, 30*time.Second, 100*time.Millisecond, "continue token expired by compaction", func() (bool, error) {
		_, err := ri.List(ctx, metav1.ListOptions{Limit: 1, Continue: cont})
		if err == nil {
			return false, nil
		}
		if apierrors.IsResourceExpired(err) && strings.Contains(err.Error(), "continue parameter is too old") {
			return true, nil
		}
		return false, err
	})
	t.Logf("continue token got 410 Expired %v after compaction", d.Round(time.Millisecond))

	// Watches are served from the apiserver's watch cache, whose window does not
	// move with etcd compaction; a restart re-initialises it after the compaction.
	c.RestartAPIServer(t)
	got, err := ri.Get(ctx, "w1", metav1.GetOptions{})
	if err != nil || got.GetResourceVersion() != obj.GetResourceVersion() {
		t.Fatalf("after apiserver restart the object should be unchanged (etcd kept its data): %v %v", got, err)
	}
	ev = firstWatchEvent(t, ri, rv0)
	st, ok := ev.Object.(*metav1.Status)
	if ev.Type != watch.Error || !ok || st.Code != http.StatusGone || st.Reason != metav1.StatusReasonExpired {
		t.Fatalf("watch from compacted rv %s: got %s %#v, want ERROR 410 Expired", rv0, ev.Type, ev.Object)
	}
	t.Logf("watch from rv %s: %d %s: %s", rv0, st.Code, st.Reason, st.Message)
	if !strings.Contains(st.Message, "too old resource version") {
		t.Errorf("410 message %q, want 'too old resource version'", st.Message)
	}
}

// firstWatchEvent opens a watch from rv and returns its first event; an HTTP-level
// error is turned into an ERROR event carrying its Status.
func firstWatchEvent(t *testing.T, ri dynamic.ResourceInterface, rv string) watch.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := ri.Watch(ctx, metav1.ListOptions{ResourceVersion: rv})
	if err != nil {
		if se, ok := err.(apierrors.APIStatus); ok {
			st := se.Status()
			return watch.Event{Type: watch.Error, Object: &st}
		}
		t.Fatalf("watch from rv %s: %v", rv, err)
	}
	defer w.Stop()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch from rv %s closed without events", rv)
		}
		if ev.Type == watch.Error {
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				var st metav1.Status
				if err := runtimeFromUnstructured(u, &st); err == nil {
					ev.Object = &st
				}
			}
		}
		return ev
	case <-ctx.Done():
		t.Fatalf("watch from rv %s: no event within 10s", rv)
	}
	return watch.Event{}
}

package e2e

// Shipping: the kustomize manifests rendered with the built kubectl and applied
// to the real control plane (with the Prometheus Operator's published CRDs),
// checked statically and through the authorizer. The metering path through a
// real Prometheus is in ship_metering_test.go, the container image in
// ship_image_test.go.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"

	"crd-state-metrics/tests/e2e/cluster"
	"crd-state-metrics/tests/e2e/ship"
)

// TestShipManifestFilesReferenced: every manifest file under the kustomize
// directories is listed by its kustomization (a file dropped next to it but
// not listed would never be rendered, applied or tested).
func TestShipManifestFilesReferenced(t *testing.T) {
	root := ship.ManifestsDir()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		dir := filepath.Dir(p)
		if filepath.Base(p) == "kustomization.yaml" || filepath.Dir(rel) == "examples" {
			return nil
		}
		if !strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".json") {
			return nil
		}
		k, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Errorf("%s: no kustomization.yaml next to it", rel)
			return nil
		}
		if !regexp.MustCompile(`(?m)(^\s*-\s*|path:\s*|=)` + regexp.QuoteMeta(filepath.Base(p)) + `\s*$`).Match(k) {
			t.Errorf("%s is not listed in %s", rel, filepath.Join(filepath.Dir(rel), "kustomization.yaml"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestShipManifests renders both overlays with kubectl kustomize, checks them
// statically, applies them to the control plane for real (after the
// Prometheus Operator CRDs and the sample CRD), reads every object back, and
// asks the authorizer what the exporter's and Prometheus' identities may do.
func TestShipManifests(t *testing.T) {
	c := cluster.Get(t)
	version := ship.MesonVersion(t)
	ship.InstallMonitoringCRDs(t, c)
	ship.InstallSampleCRD(t, c)

	// The container in the standalone Deployment and in the sidecar patch is
	// written twice; they must not drift apart.
	t.Run("container-identical", func(t *testing.T) {
		read := func(rel string) map[string]any {
			b, err := os.ReadFile(filepath.Join(ship.ManifestsDir(), rel))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := ship.DecodeYAML(b)
			if err != nil || len(objs) != 1 {
				t.Fatalf("%s: %v", rel, err)
			}
			spec, _, _ := unstructured.NestedMap(objs[0].Object, "spec", "template", "spec")
			for _, c := range spec["containers"].([]any) {
				if c.(map[string]any)["name"] == "crd-state-metrics" {
					return map[string]any{"container": c, "volumes": spec["volumes"]}
				}
			}
			t.Fatalf("%s: no crd-state-metrics container", rel)
			return nil
		}
		a, b := read("standalone/deployment.yaml"), read("sidecar/sidecar-patch.yaml")
		if !reflect.DeepEqual(a, b) {
			ja, _ := json.MarshalIndent(a, "", " ")
			jb, _ := json.MarshalIndent(b, "", " ")
			t.Errorf("the exporter container differs:\nstandalone/deployment.yaml:\n%s\nsidecar/sidecar-patch.yaml:\n%s", ja, jb)
		}
	})

	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Discovery))
	for _, overlay := range ship.Overlays {
		t.Run(strings.ReplaceAll(overlay, "/", "-"), func(t *testing.T) {
			manifest, objs := ship.Render(t, c, filepath.Join(ship.ManifestsDir(), overlay))
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.GetKind()]++
			}
			t.Logf("%s renders %d objects: %v", overlay, len(objs), kinds)
			for _, k := range []string{"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service",
				"NetworkPolicy", "ServiceMonitor", "PrometheusRule", "ConfigMap", "Namespace"} {
				if kinds[k] == 0 {
					t.Errorf("%s renders no %s", overlay, k)
				}
			}
			pods := ship.ExporterPods(objs)
			if len(pods) != 1 {
				t.Fatalf("%s: want exactly one Deployment with the crd-state-metrics container, got %d", overlay, len(pods))
			}
			p := pods[0]
			ns := p.Deploy.GetNamespace()
			shipCheckContainer(t, objs, p, version)
			svc := shipCheckService(t, objs, p)
			shipCheckNetworkPolicy(t, objs, p)
			shipCheckServiceMonitor(t, objs, svc)
			shipCheckPrometheusRule(t, objs)
			shipCheckDashboard(t, objs)
			if overlay == "overlays/sidecar" {
				d := p.Deploy
				names := []string{}
				for _, c := range ship.Slice(d.Object, "spec", "template", "spec", "containers") {
					names = append(names, ship.Str(c.(map[string]any), "name"))
				}
				if !reflect.DeepEqual(names, []string{"crd-state-metrics", "manager"}) && !reflect.DeepEqual(names, []string{"manager", "crd-state-metrics"}) {
					t.Errorf("sidecar: the operator Deployment has containers %v, want the operator's manager plus crd-state-metrics", names)
				}
				if d.GetLabels()["control-plane"] != "controller-manager" {
					t.Errorf("sidecar: patched the wrong Deployment %s", d.GetName())
				}
			}
			// The exporter's ClusterRoleBindings bind its pod's ServiceAccount.
			bound := 0
			for _, b := range ship.FindAll(objs, "ClusterRoleBinding") {
				if b.GetLabels()["crd-state-metrics/subject"] != "exporter" {
					continue
				}
				bound++
				s, _ := ship.Slice(b.Object, "subjects")[0].(map[string]any)
				if ship.Str(s, "kind") != "ServiceAccount" || ship.Str(s, "name") != p.SA || ship.Str(s, "namespace") != ns {
					t.Errorf("ClusterRoleBinding %s binds %v, want ServiceAccount %s/%s (the pod's)", b.GetName(), s, ns, p.SA)
				}
			}
			if bound < 3 {
				t.Errorf("want the exporter's 3 ClusterRoleBindings (resources, discovery, auth), got %d", bound)
			}

			// Apply for real; a rejected object fails the test.
			out, err := ship.Apply(c, manifest)
			if err != nil {
				t.Fatalf("the API server rejected %s: %v\n%s", overlay, err, out)
			}
			t.Logf("applied %s:\n%s", overlay, strings.TrimSpace(out))
			// Read every object back.
			mapper.Reset()
			for _, o := range objs {
				gvk := o.GroupVersionKind()
				m, err := mapper.RESTMapping(schema.GroupKind{Group: gvk.Group, Kind: gvk.Kind}, gvk.Version)
				if err != nil {
					t.Errorf("%s %s: %v", gvk.Kind, o.GetName(), err)
					continue
				}
				ri := c.Dynamic.Resource(m.Resource)
				var got *unstructured.Unstructured
				if o.GetNamespace() != "" {
					got, err = ri.Namespace(o.GetNamespace()).Get(context.Background(), o.GetName(), metav1.GetOptions{})
				} else {
					got, err = ri.Get(context.Background(), o.GetName(), metav1.GetOptions{})
				}
				if err != nil {
					t.Errorf("%s %s/%s not stored: %v", gvk.Kind, o.GetNamespace(), o.GetName(), err)
					continue
				}
				if gvk.Kind == "Deployment" {
					want := ship.Slice(o.Object, "spec", "template", "spec", "containers")
					have := ship.Slice(got.Object, "spec", "template", "spec", "containers")
					if len(want) != len(have) {
						t.Errorf("Deployment %s stored with %d containers, rendered %d", o.GetName(), len(have), len(want))
					}
				}
				if gvk.Kind == "ServiceMonitor" {
					// Stored as rendered: nothing pruned, verification stays on.
					want, _, _ := unstructured.NestedSlice(o.Object, "spec", "endpoints")
					have, _, _ := unstructured.NestedSlice(got.Object, "spec", "endpoints")
					if !reflect.DeepEqual(want, have) {
						t.Errorf("ServiceMonitor %s endpoints stored as %v, rendered %v", o.GetName(), have, want)
					}
				}
			}

			// What the identities may do, asked of the real authorizer.
			resources := ship.ConfigMapValue(t, objs, p.Container, "CSM_RESOURCES")
			for _, r := range strings.Split(resources, ",") {
				parts := strings.Split(r, "/")
				gv := schema.GroupVersion{Version: parts[len(parts)-2]}
				if len(parts) == 3 {
					gv.Group = parts[0]
				}
				m, err := mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: parts[len(parts)-1]}, gv.Version)
				if err != nil {
					t.Fatalf("resource %s from the ConfigMap: %v", r, err)
				}
				for _, verb := range []string{"list", "watch"} {
					if !ship.AllowedResource(t, c, ns, p.SA, verb, gv.Group, m.Resource.Resource) {
						t.Errorf("%s/%s may not %s %s: the exporter could not export %s", ns, p.SA, verb, m.Resource.Resource, r)
					}
				}
				if overlay == "overlays/standalone" {
					// Least privilege (the sidecar shares the operator's identity,
					// which has rights of its own).
					for _, verb := range []string{"get", "create", "update", "patch", "delete"} {
						if ship.AllowedResource(t, c, ns, p.SA, verb, gv.Group, m.Resource.Resource) {
							t.Errorf("%s/%s may %s %s; the exporter only needs list and watch", ns, p.SA, verb, m.Resource.Resource)
						}
					}
				}
			}
			for _, verb := range []string{"get", "list", "watch"} {
				if !ship.AllowedResource(t, c, ns, p.SA, verb, "apiextensions.k8s.io", "customresourcedefinitions") {
					t.Errorf("%s/%s may not %s customresourcedefinitions", ns, p.SA, verb)
				}
			}
			if !ship.AllowedResource(t, c, ns, p.SA, "create", "authentication.k8s.io", "tokenreviews") ||
				!ship.AllowedResource(t, c, ns, p.SA, "create", "authorization.k8s.io", "subjectaccessreviews") {
				t.Errorf("%s/%s may not create TokenReviews and SubjectAccessReviews (needed by --auth=kubernetes)", ns, p.SA)
			}
			if overlay == "overlays/standalone" && ship.AllowedResource(t, c, ns, p.SA, "list", "", "secrets") {
				t.Errorf("%s/%s may list secrets", ns, p.SA)
			}
			for _, b := range ship.FindAll(objs, "ClusterRoleBinding") {
				if strings.HasSuffix(ship.Str(b.Object, "roleRef", "name"), "metrics-reader") {
					s, _ := ship.Slice(b.Object, "subjects")[0].(map[string]any)
					if !ship.AllowedPath(t, c, ship.Str(s, "namespace"), ship.Str(s, "name"), "get", "/metrics") {
						t.Errorf("the scraper %s/%s may not get /metrics", ship.Str(s, "namespace"), ship.Str(s, "name"))
					}
					if ship.AllowedPath(t, c, ship.Str(s, "namespace"), ship.Str(s, "name"), "get", "/debug") {
						t.Errorf("the scraper %s/%s may get /debug: the metrics-reader role is too broad", ship.Str(s, "namespace"), ship.Str(s, "name"))
					}
				}
			}
		})
	}

	// The checks above can fail: a manifest the API server does not accept
	// makes apply fail.
	t.Run("rejections-are-caught", func(t *testing.T) {
		manifest, _ := ship.Render(t, c, filepath.Join(ship.ManifestsDir(), "overlays/standalone"))
		for name, mut := range map[string]func(string) string{
			"ServiceMonitor field not in the CRD schema": func(s string) string {
				return strings.Replace(s, "      serverName:", "      insecureSkipVerification: true\n      serverName:", 1)
			},
			"Deployment with an invalid value": func(s string) string {
				return strings.Replace(s, "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: maybe", 1)
			},
		} {
			bad := mut(manifest)
			if bad == manifest {
				t.Fatalf("%s: mutation did not apply", name)
			}
			if out, err := ship.Apply(c, bad); err == nil {
				t.Errorf("%s: apply succeeded:\n%s", name, out)
			} else {
				t.Logf("%s: rejected as expected: %v", name, ship.FirstLine(err.Error()))
			}
		}
	})
}

func shipCheckContainer(t *testing.T, objs []*unstructured.Unstructured, p ship.ExporterPod, version string) {
	t.Helper()
	c := p.Container
	if img := ship.Str(c, "image"); img != "crd-state-metrics:"+version {
		t.Errorf("image %q, want crd-state-metrics:%s (meson.build's version; set registry and tag with kustomize images)", img, version)
	}
	sc, _, _ := unstructured.NestedMap(c, "securityContext")
	if v, _, _ := unstructured.NestedBool(sc, "runAsNonRoot"); !v {
		t.Error("securityContext.runAsNonRoot is not true")
	}
	if uid, _, _ := unstructured.NestedInt64(sc, "runAsUser"); uid <= 0 {
		t.Errorf("securityContext.runAsUser = %d, want a non-root uid", uid)
	}
	if v, _, _ := unstructured.NestedBool(sc, "readOnlyRootFilesystem"); !v {
		t.Error("securityContext.readOnlyRootFilesystem is not true")
	}
	if v, found, _ := unstructured.NestedBool(sc, "allowPrivilegeEscalation"); !found || v {
		t.Error("securityContext.allowPrivilegeEscalation is not false")
	}
	drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop")
	add, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "add")
	if !reflect.DeepEqual(drop, []string{"ALL"}) || len(add) > 0 {
		t.Errorf("capabilities drop %v add %v, want drop [ALL] and nothing added", drop, add)
	}
	for _, kind := range []string{"requests", "limits"} {
		for _, r := range []string{"cpu", "memory"} {
			if ship.Str(c, "resources", kind, r) == "" {
				t.Errorf("no resources.%s.%s", kind, r)
			}
		}
	}
	ports := ship.ContainerPorts(c)
	for probe, path := range map[string]string{"livenessProbe": "/livez", "readinessProbe": "/readyz"} {
		if got := ship.Str(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path %q, want %s", probe, got, path)
		}
		port := ship.Str(c, probe, "httpGet", "port")
		if _, ok := ports[port]; !ok {
			t.Errorf("%s port %q is not a named port of the container (%v)", probe, port, ports)
		}
	}
	if ports["csm-metrics"] == 0 || ports["csm-telemetry"] == 0 {
		t.Errorf("container ports %v: want csm-metrics and csm-telemetry", ports)
	}
	args := ship.ExpandArgs(t, objs, c)
	var resourceArgs []string
	for _, a := range args {
		if strings.HasPrefix(a, "--resource=") {
			resourceArgs = append(resourceArgs, a)
		}
	}
	if len(resourceArgs) == 0 {
		t.Errorf("args %v name no --resource", args)
	}
	for _, a := range resourceArgs {
		for _, r := range strings.Split(strings.TrimPrefix(a, "--resource="), ",") {
			if n := len(strings.Split(r, "/")); n != 2 && n != 3 {
				t.Errorf("%s: %q is not GROUP/VERSION/KIND", a, r)
			}
		}
	}
	if vol := ship.Slice(p.Deploy.Object, "spec", "template", "spec", "volumes"); len(vol) == 0 {
		t.Error("no volumes (the serving certificate Secret)")
	}
}

func shipCheckService(t *testing.T, objs []*unstructured.Unstructured, p ship.ExporterPod) *unstructured.Unstructured {
	t.Helper()
	var svc *unstructured.Unstructured
	for _, s := range ship.FindAll(objs, "Service") {
		if ship.Selects(ship.StrMap(s.Object, "spec", "selector"), p.Labels) {
			svc = s
		}
	}
	if svc == nil {
		t.Fatalf("no Service selects the exporter's pods (labels %v)", p.Labels)
	}
	ports := ship.ContainerPorts(p.Container)
	found := false
	for _, sp := range ship.Slice(svc.Object, "spec", "ports") {
		pm := sp.(map[string]any)
		if ship.Str(pm, "name") == "metrics" {
			found = true
			if _, ok := ports[ship.Str(pm, "targetPort")]; !ok {
				t.Errorf("Service port metrics targets %q, not a named container port (%v)", ship.Str(pm, "targetPort"), ports)
			}
		}
	}
	if !found {
		t.Error("the Service has no port named metrics")
	}
	return svc
}

func shipCheckNetworkPolicy(t *testing.T, objs []*unstructured.Unstructured, p ship.ExporterPod) {
	t.Helper()
	np := ship.Find(objs, "NetworkPolicy", "")
	if np == nil {
		t.Fatal("no NetworkPolicy")
	}
	if !ship.Selects(ship.StrMap(np.Object, "spec", "podSelector", "matchLabels"), p.Labels) {
		t.Errorf("NetworkPolicy %s does not select the exporter's pods", np.GetName())
	}
	types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes")
	if !reflect.DeepEqual(types, []string{"Ingress"}) {
		t.Errorf("policyTypes %v, want [Ingress]", types)
	}
	ports := ship.ContainerPorts(p.Container)
	ingress := ship.Slice(np.Object, "spec", "ingress")
	if len(ingress) != 1 {
		t.Fatalf("want one ingress rule, got %d", len(ingress))
	}
	rule := ingress[0].(map[string]any)
	from := ship.Slice(rule, "from")
	if len(from) != 1 || !reflect.DeepEqual(ship.StrMap(from[0].(map[string]any), "namespaceSelector", "matchLabels"), map[string]string{"metrics": "enabled"}) ||
		len(from[0].(map[string]any)) != 1 {
		t.Errorf("ingress from %v, want only namespaces labelled metrics=enabled", from)
	}
	for _, pp := range ship.Slice(rule, "ports") {
		if _, ok := ports[ship.Str(pp.(map[string]any), "port")]; !ok {
			t.Errorf("NetworkPolicy port %v is not a named port of the exporter container", pp)
		}
	}
}

func shipCheckServiceMonitor(t *testing.T, objs []*unstructured.Unstructured, svc *unstructured.Unstructured) {
	t.Helper()
	sm := ship.Find(objs, "ServiceMonitor", "")
	if sm == nil {
		t.Fatal("no ServiceMonitor")
	}
	if !ship.Selects(ship.StrMap(sm.Object, "spec", "selector", "matchLabels"), svc.GetLabels()) {
		t.Errorf("ServiceMonitor selector %v does not match the Service's labels %v",
			ship.StrMap(sm.Object, "spec", "selector", "matchLabels"), svc.GetLabels())
	}
	eps := ship.Slice(sm.Object, "spec", "endpoints")
	if len(eps) == 0 {
		t.Fatal("ServiceMonitor has no endpoints")
	}
	metrics := false
	for _, e := range eps {
		ep := e.(map[string]any)
		svcPorts := map[string]bool{}
		for _, sp := range ship.Slice(svc.Object, "spec", "ports") {
			svcPorts[ship.Str(sp.(map[string]any), "name")] = true
		}
		if !svcPorts[ship.Str(ep, "port")] {
			t.Errorf("endpoint port %q is not a port name of Service %s", ship.Str(ep, "port"), svc.GetName())
		}
		if ship.Str(ep, "bearerTokenFile") == "" {
			t.Error("endpoint has no bearerTokenFile")
		}
		if ship.Str(ep, "scheme") != "https" {
			t.Errorf("endpoint scheme %q, want https", ship.Str(ep, "scheme"))
		}
		tls, _, _ := unstructured.NestedMap(ep, "tlsConfig")
		if v, _, _ := unstructured.NestedBool(tls, "insecureSkipVerify"); v {
			t.Error("tlsConfig.insecureSkipVerify is true")
		}
		if ship.Str(tls, "caFile") == "" && ship.Str(tls, "ca", "secret", "name") == "" && ship.Str(tls, "ca", "configMap", "name") == "" {
			t.Error("tlsConfig has no CA to verify the server with")
		}
		want := svc.GetName() + "." + svc.GetNamespace() + ".svc"
		if got := ship.Str(tls, "serverName"); got != want {
			t.Errorf("tlsConfig.serverName %q, want %q (the Service's DNS name)", got, want)
		}
		if ship.Str(ep, "port") == "metrics" {
			metrics = true
			if h, _, _ := unstructured.NestedBool(ep, "honorLabels"); !h {
				t.Error("honorLabels is not true on the metrics endpoint: the objects' namespace label would become exported_namespace")
			}
		}
	}
	if !metrics {
		t.Error("the ServiceMonitor does not scrape the Service's metrics port")
	}
}

func shipCheckPrometheusRule(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "metering-rules.yaml")
	if err := os.WriteFile(path, ship.RuleFile(t, objs), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("promtool", "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
}

func shipCheckDashboard(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	exprs := ship.DashboardExprs(t, objs)
	rules := string(ship.RuleFile(t, objs))
	for _, e := range exprs {
		for _, m := range regexp.MustCompile(`[a-z_]+:[a-z_]+:[a-z0-9_]+`).FindAllString(e, -1) {
			if !strings.Contains(rules, `"record": "`+m+`"`) {
				t.Errorf("dashboard query %q uses %s, which no recording rule records", e, m)
			}
		}
	}
	sort.Strings(exprs)
	if len(exprs) < 3 {
		t.Errorf("dashboard has %d queries, want panels for counts and object-hours", len(exprs))
	}
}

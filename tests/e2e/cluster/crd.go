package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// CRDSpec describes a simple custom resource: one served+stored version whose spec
// and status accept anything (x-kubernetes-preserve-unknown-fields).
type CRDSpec struct {
	Group, Version, Kind string
	Plural               string // default: lower(Kind)+"s"
	Namespaced           bool
}

// GVR returns the GroupVersionResource of the CRD.
func (s CRDSpec) GVR() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: s.Group, Version: s.Version, Resource: s.plural()}
}

// Name is <plural>.<group>, the CRD's object name.
func (s CRDSpec) Name() string { return s.plural() + "." + s.Group }

func (s CRDSpec) plural() string {
	if s.Plural != "" {
		return s.Plural
	}
	return strings.ToLower(s.Kind) + "s"
}

// CRD builds the CustomResourceDefinition object.
func (s CRDSpec) CRD() *apiextv1.CustomResourceDefinition {
	scope := apiextv1.ClusterScoped
	if s.Namespaced {
		scope = apiextv1.NamespaceScoped
	}
	open := apiextv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr.To(true)}
	return &apiextv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name()},
		Spec: apiextv1.CustomResourceDefinitionSpec{
			Group: s.Group,
			Scope: scope,
			Names: apiextv1.CustomResourceDefinitionNames{
				Plural: s.plural(), Singular: strings.ToLower(s.Kind),
				Kind: s.Kind, ListKind: s.Kind + "List",
			},
			Versions: []apiextv1.CustomResourceDefinitionVersion{{
				Name: s.Version, Served: true, Storage: true,
				Schema: &apiextv1.CustomResourceValidation{OpenAPIV3Schema: &apiextv1.JSONSchemaProps{
					Type:       "object",
					Properties: map[string]apiextv1.JSONSchemaProps{"spec": open, "status": open},
				}},
				Subresources: &apiextv1.CustomResourceSubresources{Status: &apiextv1.CustomResourceSubresourceStatus{}},
			}},
		},
	}
}

// EnsureCRD creates the CRD unless it exists and waits until it is Established and
// its resource is served (discovery lists it and a LIST succeeds).
func (c *Cluster) EnsureCRD(t testing.TB, s CRDSpec) {
	t.Helper()
	ctx := context.Background()
	_, err := c.APIExt.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, s.CRD(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create CRD %s: %v", s.Name(), err)
	}
	d := Eventually(t, 30*time.Second, 20*time.Millisecond, "CRD "+s.Name()+" Established", func() (bool, error) {
		crd, err := c.APIExt.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, s.Name(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range crd.Status.Conditions {
			if cond.Type == apiextv1.Established && cond.Status == apiextv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	Eventually(t, 30*time.Second, 20*time.Millisecond, "CRD "+s.Name()+" served", func() (bool, error) {
		rl, err := c.Discovery.ServerResourcesForGroupVersion(s.Group + "/" + s.Version)
		if err != nil {
			return false, err
		}
		found := false
		for _, r := range rl.APIResources {
			found = found || r.Name == s.plural()
		}
		if !found {
			return false, nil
		}
		_, err = c.Dynamic.Resource(s.GVR()).List(ctx, metav1.ListOptions{Limit: 1})
		return err == nil, err
	})
	t.Logf("CRD %s established after %v", s.Name(), d.Round(time.Millisecond))
}

// DeleteCRD deletes the CRD and waits until it is gone (its objects go with it).
func (c *Cluster) DeleteCRD(t testing.TB, s CRDSpec) {
	t.Helper()
	c.DeleteCRDWithin(t, s, 60*time.Second)
}

// DeleteCRDWithin is DeleteCRD for a CRD with many objects: the API server
// deletes every custom object before the CRD goes (100,000 take minutes).
func (c *Cluster) DeleteCRDWithin(t testing.TB, s CRDSpec, within time.Duration) {
	t.Helper()
	ctx := context.Background()
	err := c.APIExt.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, s.Name(), metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	if err != nil {
		t.Fatalf("delete CRD %s: %v", s.Name(), err)
	}
	Eventually(t, within, 50*time.Millisecond, "CRD "+s.Name()+" deleted", func() (bool, error) {
		_, err := c.APIExt.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, s.Name(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// Object builds an unstructured custom object of the CRD's kind.
func (s CRDSpec) Object(ns, name string, labels map[string]string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": s.Group + "/" + s.Version,
		"kind":       s.Kind,
		"metadata":   map[string]any{"name": name},
	}}
	if s.Namespaced {
		u.SetNamespace(ns)
	}
	if labels != nil {
		u.SetLabels(labels)
	}
	if spec != nil {
		u.Object["spec"] = spec
	}
	return u
}

// CreateObject creates a custom object and returns it as stored (with its
// resourceVersion).
func (c *Cluster) CreateObject(t testing.TB, s CRDSpec, obj *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	out, err := c.Dynamic.Resource(s.GVR()).Namespace(obj.GetNamespace()).Create(context.Background(), obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create %s %s/%s: %v", s.Kind, obj.GetNamespace(), obj.GetName(), err)
	}
	return out
}

// DeleteAllObjects deletes every object of the CRD (all namespaces) and waits until
// a LIST is empty.
func (c *Cluster) DeleteAllObjects(t testing.TB, s CRDSpec) {
	t.Helper()
	ctx := context.Background()
	ri := c.Dynamic.Resource(s.GVR())
	list, err := ri.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list %s: %v", s.Name(), err)
	}
	for _, o := range list.Items {
		err := ri.Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("delete %s %s/%s: %v", s.Kind, o.GetNamespace(), o.GetName(), err)
		}
	}
	Eventually(t, 30*time.Second, 20*time.Millisecond, "all "+s.Name()+" deleted", func() (bool, error) {
		l, err := ri.List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == 0, err
	})
}

package cluster

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CreateObjects creates objs with up to parallel concurrent requests (default 16)
// and fails the test on the first error. For tests and benchmarks that need many
// objects fast.
func (c *Cluster) CreateObjects(t testing.TB, s CRDSpec, objs []*unstructured.Unstructured, parallel int) {
	t.Helper()
	if err := c.CreateObjectsErr(context.Background(), s, objs, parallel); err != nil {
		t.Fatal(err)
	}
}

// CreateObjectsErr is CreateObjects returning the first error.
func (c *Cluster) CreateObjectsErr(ctx context.Context, s CRDSpec, objs []*unstructured.Unstructured, parallel int) error {
	if parallel <= 0 {
		parallel = 16
	}
	ri := c.Dynamic.Resource(s.GVR())
	work := make(chan *unstructured.Unstructured)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := 0; i < parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				_, err := ri.Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("create %s %s/%s: %w", s.Kind, o.GetNamespace(), o.GetName(), err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	return firstErr
}

// RotateBoundToken creates a fresh Secret <name>-token-<n> in the identity's
// namespace, requests a token bound to it (BoundObjectRef) and atomically rewrites
// TokenFile with it. It returns the Secret's name: deleting that Secret (see
// DeleteSecret) invalidates the token, which is how tests make an old token stop
// working after a rotation (kube-apiserver checks bound objects on every
// authentication; allow up to ~10s for its token cache).
func (id *Identity) RotateBoundToken(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	sec, err := id.c.Client.CoreV1().Secrets(id.Namespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{GenerateName: id.Name + "-token-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create secret for a bound token: %v", err)
	}
	life := id.opts.Lifetime
	if life == 0 {
		life = time.Hour
	}
	secs := int64(life / time.Second)
	tr, err := id.c.Client.CoreV1().ServiceAccounts(id.Namespace).CreateToken(ctx, id.Name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{
			Audiences:         id.opts.Audiences,
			ExpirationSeconds: &secs,
			BoundObjectRef:    &authnv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: sec.Name, UID: sec.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest bound to secret %s: %v", sec.Name, err)
	}
	id.Token, id.ExpiresAt = tr.Status.Token, tr.Status.ExpirationTimestamp.Time
	tmp := id.TokenFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(id.Token), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, id.TokenFile); err != nil {
		t.Fatal(err)
	}
	return sec.Name
}

// DeleteSecret deletes Secret ns/name (no error if it is gone).
func (c *Cluster) DeleteSecret(t testing.TB, ns, name string) {
	t.Helper()
	err := c.Client.CoreV1().Secrets(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete secret %s/%s: %v", ns, name, err)
	}
}

// WaitTokenInvalid polls TokenReview until token no longer authenticates and
// returns how long that took; it fails the test after timeout.
func (c *Cluster) WaitTokenInvalid(t testing.TB, token string, timeout time.Duration) time.Duration {
	t.Helper()
	return Eventually(t, timeout, 250*time.Millisecond, "old token rejected by TokenReview", func() (bool, error) {
		st, err := c.TokenReview(context.Background(), token)
		if err != nil {
			return false, err
		}
		return !st.Authenticated, nil
	})
}

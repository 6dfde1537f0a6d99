package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TokenOptions for a TokenRequest.
type TokenOptions struct {
	// Audiences of the token; empty means the apiserver's --api-audiences, which the
	// apiserver itself accepts. A token for another audience is rejected by the
	// apiserver but can be checked with a TokenReview naming that audience.
	Audiences []string
	// Lifetime of the token; zero means 1h. The apiserver's minimum is 10m.
	Lifetime time.Duration
}

// Identity is a ServiceAccount with a TokenRequest token and kubeconfigs for it.
// Never log Token.
type Identity struct {
	Namespace, Name string
	Username        string // system:serviceaccount:<ns>:<name>
	Token           string
	ExpiresAt       time.Time
	// TokenFile holds the token (mode 0600); rewritten by RotateToken.
	TokenFile string
	// Kubeconfig embeds the token; TokenFileKubeconfig points at TokenFile.
	Kubeconfig          string
	TokenFileKubeconfig string
	Config              *rest.Config
	Client              kubernetes.Interface

	c    *Cluster
	opts TokenOptions
}

// EnsureNamespace creates a namespace if it does not exist. (There is no
// controller manager, so namespaces beyond default/kube-system/kube-public must
// be created explicitly, and deleting one never finishes.)
func (c *Cluster) EnsureNamespace(t testing.TB, name string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// NewServiceAccount creates (or reuses) ServiceAccount ns/name, requests a token for
// it and writes two kubeconfigs into t.TempDir(): one with the token inline, one
// with tokenFile. The identity has no permissions beyond the defaults for
// authenticated users (discovery, self reviews); grant some with Grant*.
func (c *Cluster) NewServiceAccount(t testing.TB, ns, name string, opts TokenOptions) *Identity {
	t.Helper()
	ctx := context.Background()
	c.EnsureNamespace(t, ns)
	_, err := c.Client.CoreV1().ServiceAccounts(ns).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create serviceaccount %s/%s: %v", ns, name, err)
	}
	dir := t.TempDir()
	id := &Identity{
		Namespace: ns, Name: name,
		Username:            "system:serviceaccount:" + ns + ":" + name,
		TokenFile:           filepath.Join(dir, "token"),
		Kubeconfig:          filepath.Join(dir, "kubeconfig"),
		TokenFileKubeconfig: filepath.Join(dir, "kubeconfig-tokenfile"),
		c:                   c,
		opts:                opts,
	}
	id.RotateToken(t)
	if err := c.WriteKubeconfig(id.Kubeconfig, KubeconfigAuth{Token: id.Token}); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteKubeconfig(id.TokenFileKubeconfig, KubeconfigAuth{TokenFile: id.TokenFile}); err != nil {
		t.Fatal(err)
	}
	id.Config, err = clientcmd.BuildConfigFromFlags("", id.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if id.Client, err = kubernetes.NewForConfig(id.Config); err != nil {
		t.Fatal(err)
	}
	return id
}

// RotateToken requests a fresh token and atomically rewrites TokenFile with it
// (Kubeconfig keeps the token it was written with).
func (id *Identity) RotateToken(t testing.TB) {
	t.Helper()
	tok, exp, err := id.c.RequestToken(context.Background(), id.Namespace, id.Name, id.opts)
	if err != nil {
		t.Fatal(err)
	}
	id.Token, id.ExpiresAt = tok, exp
	tmp := id.TokenFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, id.TokenFile); err != nil {
		t.Fatal(err)
	}
}

// RequestToken calls the TokenRequest API for ServiceAccount ns/name.
func (c *Cluster) RequestToken(ctx context.Context, ns, name string, opts TokenOptions) (string, time.Time, error) {
	life := opts.Lifetime
	if life == 0 {
		life = time.Hour
	}
	secs := int64(life / time.Second)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authnv1.TokenRequest{
		Spec: authnv1.TokenRequestSpec{Audiences: opts.Audiences, ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("TokenRequest for %s/%s: %w", ns, name, err)
	}
	return tr.Status.Token, tr.Status.ExpirationTimestamp.Time, nil
}

// KubeconfigAuth selects the credentials of a kubeconfig written by WriteKubeconfig.
// Exactly one of Token, TokenFile or (ClientCert and ClientKey) should be set.
type KubeconfigAuth struct {
	Token                 string
	TokenFile             string
	ClientCert, ClientKey string // file paths
	// Server overrides the apiserver URL (default: the cluster's).
	Server string
	// InsecureSkipTLSVerify leaves the CA out and disables verification.
	InsecureSkipTLSVerify bool
}

// WriteKubeconfig writes a kubeconfig (mode 0600) for this cluster with the cluster
// CA inline as certificate-authority-data.
func (c *Cluster) WriteKubeconfig(path string, a KubeconfigAuth) error {
	ca, err := os.ReadFile(c.CAFile)
	if err != nil {
		return err
	}
	server := a.Server
	if server == "" {
		server = c.APIServerURL
	}
	cl := &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	if a.InsecureSkipTLSVerify {
		cl = &clientcmdapi.Cluster{Server: server, InsecureSkipTLSVerify: true}
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = cl
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{
		Token: a.Token, TokenFile: a.TokenFile,
		ClientCertificate: a.ClientCert, ClientKey: a.ClientKey,
	}
	cfg.Contexts["user@local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user", Namespace: "default"}
	cfg.CurrentContext = "user@local"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}

// GrantClusterRole creates ClusterRole <name> with rules and binds it to the
// identity; it waits until the authorizer allows the first rule.
func (c *Cluster) GrantClusterRole(t testing.TB, id *Identity, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}
	if _, err := c.Client.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		if !apierrors.IsAlreadyExists(err) {
			t.Fatalf("create clusterrole %s: %v", name, err)
		}
		if _, err := c.Client.RbacV1().ClusterRoles().Update(ctx, role, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("update clusterrole %s: %v", name, err)
		}
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-" + id.Namespace + "-" + id.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: id.Namespace, Name: id.Name}},
	}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create clusterrolebinding: %v", err)
	}
	if len(rules) > 0 {
		c.waitAllowed(t, id, "", rules[0])
	}
}

// GrantRole creates Role ns/<name> with rules and binds it to the identity; it
// waits until the authorizer allows the first rule.
func (c *Cluster) GrantRole(t testing.TB, id *Identity, ns, name string, rules ...rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	c.EnsureNamespace(t, ns)
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}
	if _, err := c.Client.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create role %s/%s: %v", ns, name, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name + "-" + id.Name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: id.Namespace, Name: id.Name}},
	}
	if _, err := c.Client.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create rolebinding %s/%s: %v", ns, rb.Name, err)
	}
	if len(rules) > 0 {
		c.waitAllowed(t, id, ns, rules[0])
	}
}

// Allowed asks the authorizer (SubjectAccessReview) whether user may do verb on
// group/resource in ns ("" = cluster-wide).
func (c *Cluster) Allowed(ctx context.Context, user string, groups []string, verb, group, resource, ns string) (bool, error) {
	return allowed(ctx, c.Client, user, groups, verb, group, resource, ns)
}

func (c *Cluster) waitAllowed(t testing.TB, id *Identity, ns string, r rbacv1.PolicyRule) {
	t.Helper()
	if len(r.Verbs) == 0 || len(r.Resources) == 0 {
		return
	}
	group := ""
	if len(r.APIGroups) > 0 {
		group = r.APIGroups[0]
	}
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + id.Namespace, "system:authenticated"}
	Eventually(t, 10*time.Second, 20*time.Millisecond, "RBAC grant visible to the authorizer", func() (bool, error) {
		return c.Allowed(context.Background(), id.Username, groups, r.Verbs[0], group, r.Resources[0], ns)
	})
}

package cluster

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// compactRevKey is the etcd key kube-apiserver's compactor uses to publish the
// last compacted revision (k8s.io/apiserver/pkg/storage/etcd3/compact.go).
const compactRevKey = "compact_rev_key"

// Etcd returns an etcd v3 client for the cluster's etcd; close it after use.
func (c *Cluster) Etcd() (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{c.EtcdEndpoint},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// EtcdRevision returns etcd's current revision (the newest resourceVersion).
func (c *Cluster) EtcdRevision(ctx context.Context) (int64, error) {
	cli, err := c.Etcd()
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	resp, err := cli.Get(ctx, compactRevKey)
	if err != nil {
		return 0, err
	}
	return resp.Header.Revision, nil
}

// CompactEtcd compacts etcd at its current revision, the way kube-apiserver's own
// compactor does: it first records the revision under compact_rev_key, then
// compacts physically, and returns the compaction revision. Afterwards:
//
//   - etcd refuses reads at older revisions ("required revision has been compacted");
//   - exact-resourceVersion LISTs and continue tokens older than the compaction get
//     410 Expired once the apiserver has noticed it: it may serve them from
//     watch-cache snapshots, which it drops when its compactor poll (every 15s)
//     sees the new compact_rev_key (measured: ~6-13s);
//   - watches are served from the watch cache, whose window starts where the
//     cache was (re)initialised, not at etcd's compaction point: a watch from an
//     old resourceVersion gets ERROR 410 "too old resource version" only once it
//     is older than that window, e.g. after RestartAPIServer (see
//     CompactAndRestart, which makes all of this immediate).
func (c *Cluster) CompactEtcd(ctx context.Context) (int64, error) {
	cli, err := c.Etcd()
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	for attempt := 0; attempt < 10; attempt++ {
		cur, err := cli.Get(ctx, compactRevKey)
		if err != nil {
			return 0, err
		}
		rev := cur.Header.Revision
		var version int64
		if len(cur.Kvs) > 0 {
			version = cur.Kvs[0].Version
		}
		// Same compare-and-swap as the apiserver so that we never race it.
		txn, err := cli.Txn(ctx).
			If(clientv3.Compare(clientv3.Version(compactRevKey), "=", version)).
			Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(rev, 10))).
			Commit()
		if err != nil {
			return 0, err
		}
		if !txn.Succeeded {
			continue
		}
		if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
			return 0, fmt.Errorf("etcd compact at %d: %w", rev, err)
		}
		return rev, nil
	}
	return 0, fmt.Errorf("etcd compact: compare-and-swap on %s kept failing", compactRevKey)
}

// CompactAndRestart compacts etcd at its current revision and restarts
// kube-apiserver (etcd keeps its data), so that every resourceVersion older than
// now is gone everywhere: watches resuming from it get ERROR 410 "too old resource
// version" and continue tokens get 410 too. Clients' watches are cut by the
// restart. It returns the compaction revision.
func (c *Cluster) CompactAndRestart(t testing.TB) int64 {
	t.Helper()
	rev, err := c.CompactEtcd(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.RestartAPIServer(t)
	return rev
}

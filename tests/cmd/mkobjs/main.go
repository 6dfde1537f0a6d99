// mkobjs creates (or deletes) many Memcached objects quickly, for benchmarks.
// Test infrastructure only.
//
//	mkobjs -kubeconfig K -n 10000 -namespaces 4 -parallel 32
//	mkobjs -kubeconfig K -delete -namespaces 4
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "admin kubeconfig")
	n := flag.Int("n", 1000, "objects to create")
	nsCount := flag.Int("namespaces", 4, "spread over bench-0..bench-N-1")
	parallel := flag.Int("parallel", 32, "concurrent requests")
	del := flag.Bool("delete", false, "delete all objects in the bench namespaces instead")
	flag.Parse()

	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 5000, 5000
	dyn := dynamic.NewForConfigOrDie(cfg)
	cs := kubernetes.NewForConfigOrDie(cfg)
	gvr := schema.GroupVersionResource{Group: "cache.example.com", Version: "v1", Resource: "memcacheds"}
	ctx := context.Background()

	for i := 0; i < *nsCount; i++ {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-%d", i)}}
		if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			log.Fatal(err)
		}
	}
	start := time.Now()
	if *del {
		for i := 0; i < *nsCount; i++ {
			if err := dyn.Resource(gvr).Namespace(fmt.Sprintf("bench-%d", i)).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Printf("deleted objects in %d namespaces in %s\n", *nsCount, time.Since(start).Round(time.Millisecond))
		return
	}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < *parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*n) {
					return
				}
				obj := &unstructured.Unstructured{Object: map[string]any{
					"apiVersion": "cache.example.com/v1",
					"kind":       "Memcached",
					"metadata": map[string]any{
						"name":   fmt.Sprintf("mc-%06d", i),
						"labels": map[string]any{"app": "memcached", "shard": fmt.Sprintf("s%d", i%16)},
					},
					"spec": map[string]any{"size": int64(i%5 + 1)},
				}}
				ns := fmt.Sprintf("bench-%d", int(i)%*nsCount)
				if _, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
					failed.Add(1)
					log.Printf("create %s/%s: %v", ns, obj.GetName(), err)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		log.Fatalf("%d creates failed", failed.Load())
	}
	fmt.Printf("created %d objects in %d namespaces in %s\n", *n, *nsCount, time.Since(start).Round(time.Millisecond))
}

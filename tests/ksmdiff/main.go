package main

import (
	_ "k8s.io/kube-state-metrics/v2/pkg/customresourcestate"
)

func main() {}

module crd-state-metrics/bench/load

go 1.25

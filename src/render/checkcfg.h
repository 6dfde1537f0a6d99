/*
 * "crd-state-metrics check-config FILE --object OBJECT [--resource G/V/K]":
 * prints the metrics a Custom Resource State config produces for an object,
 * in text format, without a cluster. The way to write and debug a config.
 */
#ifndef CSM_CHECKCFG_H
#define CSM_CHECKCFG_H

#include <stdio.h>

#include "render/gen.h"

/*
 * argv[0] is "check-config". Writes the metrics to out and problems to err.
 * Returns the exit status: 0 when every metric could be read, 1 when some
 * paths or values could not be (the metrics that could are printed, and
 * err says what was wrong), 2 for a usage error, an invalid config or an
 * unreadable object. builtins (borrowed) supplies the config's generator.
 */
int csm_checkcfg_main(int argc, char **argv, const csm_gen_table *builtins, FILE *out, FILE *err);

#endif

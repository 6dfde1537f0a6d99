/* Thin entry point: flags, logger, libcurl's global init, the exporter. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generators/builtin.h"
#include "render/checkcfg.h"
#include "csm_version.h"
#include "exporter.h"
#include "flags.h"
#include "base/log.h"
#include "report.h"

int main(int argc, char **argv)
{
    csm_config cfg;
    char err[1024];
    csm_log *log = NULL;
    int rc = 0;

    /* A subcommand, not a flag: it runs without a cluster. */
    if (argc > 1 && strcmp(argv[1], "check-config") == 0)
        return csm_checkcfg_main(argc - 1, argv + 1, csm_gen_builtin_table(), stdout, stderr);
    /* Likewise: it only talks to Prometheus. */
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return csm_report_main(argc - 1, argv + 1, stdout, stderr);
    if (csm_flags_parse(argc, argv, &cfg, err, sizeof(err)) != CSM_OK) {
        fprintf(stderr, "crd-state-metrics: %s\nTry '%s --help'.\n", err, argv[0]);
        return 2;
    }
    if (cfg.show_help) {
        csm_flags_usage(stdout, argv[0]);
        goto out;
    }
    if (cfg.show_version) {
        printf("crd-state-metrics %s\n", CSM_VERSION);
        goto out;
    }
    log = csm_log_new(stderr, cfg.log_level, cfg.log_format);
    if (!log || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "crd-state-metrics: initialisation failed\n");
        rc = 1;
        goto out;
    }
    rc = csm_exporter_run(&cfg, log);
    curl_global_cleanup();
out:
    csm_log_free(log);
    csm_config_free(&cfg);
    return rc;
}

/*
 * Command-line parsing into a csm_config.
 *
 * Flags are named like kube-state-metrics' where the meaning is the same.
 * Every string in csm_config is owned by it and released by
 * csm_config_free().
 */
#ifndef CSM_FLAGS_H
#define CSM_FLAGS_H

#include <stddef.h>
#include <stdio.h>

#include "csm/error.h"
#include "base/gvk.h"
#include "base/log.h"
#include "base/strlist.h"

/* How the initial sync of an informer happens. */
typedef enum csm_watch_list_mode {
    CSM_WATCH_LIST_AUTO = 0, /* streaming WATCH when the server supports it */
    CSM_WATCH_LIST_ON,
    CSM_WATCH_LIST_OFF, /* paged LIST */
} csm_watch_list_mode;

/* --auth: who may read the listeners. */
typedef enum csm_auth_mode {
    CSM_AUTH_MODE_NONE = 0,
    CSM_AUTH_MODE_KUBERNETES, /* TokenReview + SubjectAccessReview */
} csm_auth_mode;

typedef struct csm_config {
    csm_gvk *resources; /* in command-line order */
    size_t nresources;
    csm_strlist namespaces;         /* --namespaces; empty means all */
    csm_strlist namespaces_deny;    /* --namespaces-denylist */
    char *label_selector;           /* --label-selector, NULL if unset */
    char *field_selector;           /* --field-selector, NULL if unset */
    char *kubeconfig;               /* --kubeconfig, NULL if unset */
    char *apiserver;                /* --apiserver, NULL if unset */
    char *host;                     /* --host, default "::" */
    int port;                       /* --port, default 8389 */
    char *telemetry_host;           /* --telemetry-host, default "::" */
    int telemetry_port;             /* --telemetry-port, default 8390 */
    csm_log_level log_level;        /* --log-level, default info */
    csm_log_format log_format;      /* --log-format, default text */
    int watch_timeout_s;            /* --watch-timeout, default 300 */
    int list_page_size;             /* --list-page-size, default 500 */
    csm_watch_list_mode watch_list; /* --watch-list, default auto */
    int max_labels_per_sample;      /* --max-labels-per-sample, default 256; 0: none */
    int max_series;                 /* --max-series, default 0: none */
    int max_series_per_resource;    /* --max-series-per-resource, default 0: none */
    /* Secure serving (src/serve/tls.h, src/serve/auth.h); durations in milliseconds. */
    char *tls_cert_file;            /* --tls-cert-file, NULL: plain HTTP */
    char *tls_key_file;             /* --tls-private-key-file */
    int tls_min_version;            /* --tls-min-version, default TLS 1.2 (0x0303) */
    char *tls_cipher_suites;        /* --tls-cipher-suites, NULL: OpenSSL's */
    char *client_ca_file;           /* --client-ca-file */
    csm_auth_mode auth;             /* --auth, default none */
    csm_strlist auth_audiences;     /* --auth-token-audiences */
    csm_strlist auth_allow_paths;   /* --auth-always-allow-paths */
    csm_strlist auth_allow_groups;  /* --auth-always-allow-groups */
    char *auth_resource_attributes; /* --auth-resource-attributes */
    long auth_ttl_token_ms;         /* --auth-cache-ttl-token, default 1m */
    long auth_ttl_allowed_ms;       /* --auth-cache-ttl-allowed, default 5m */
    long auth_ttl_denied_ms;        /* --auth-cache-ttl-denied, default 30s */
    long auth_stale_ms;             /* --auth-stale-if-error, default 0 */
    long auth_timeout_ms;           /* --auth-timeout, default 10s */
    int auth_max_reviews;           /* --auth-max-reviews, default 64 */
    /* Connection limits (src/serve/httpd.h). */
    int max_connections;            /* --max-connections, 0: from RLIMIT_NOFILE */
    int max_connections_per_client; /* --max-connections-per-client, 0: derived */
    long response_timeout_ms;       /* --http-response-timeout, default 60s */
    int response_min_rate;          /* --http-min-rate, bytes/s, default 65536 */
    char *generators;               /* --generators, NULL: info plus every plugin */
    char *labels_allowlist;         /* --metric-labels-allowlist, NULL if unset */
    char *annotations_allowlist;    /* --metric-annotations-allowlist, NULL if unset */
    csm_strlist metric_allowlist;   /* --metric-allowlist: regular expressions */
    csm_strlist metric_denylist;    /* --metric-denylist: regular expressions */
    char *config_file;              /* --config, NULL if unset */
    csm_strlist plugins;            /* --generator-plugin, in command-line order */
    int shard;                      /* --shard, default 0 */
    int total_shards;               /* --total-shards, default 1 */
    char *pod;                      /* --pod: auto-sharding, NULL if unset */
    char *pod_namespace;            /* --pod-namespace or $POD_NAMESPACE */
    long reshard_delay_ms;          /* --shard-handover-delay, default 2s */
    int show_help;                  /* --help given */
    int show_version;               /* --version given */
} csm_config;

/*
 * Parses argv (argv[0] is the program name) into *cfg, which the function
 * initialises first. On CSM_ERR_USAGE, errbuf holds a one-line message that
 * names the offending flag, and *cfg is freed. getopt state is reset, so it
 * may be called repeatedly (tests do).
 */
csm_err csm_flags_parse(int argc, char **argv, csm_config *cfg, char *errbuf, size_t errlen);

/* Writes the --help text. */
csm_err csm_flags_usage(FILE *out, const char *prog);

/* Frees everything the config owns and zeroes it; accepts a zeroed config. */
void csm_config_free(csm_config *cfg);

#endif

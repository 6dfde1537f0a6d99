/*
 * How to reach and authenticate to the Kubernetes API server: loaded from a
 * kubeconfig file or from the in-cluster service-account environment.
 *
 * A csm_kauth owns every string and byte array in it; free it with
 * csm_kauth_free(). File paths inside are absolute (relative kubeconfig
 * paths are resolved against the kubeconfig's directory). "-data" fields
 * are base64-decoded PEM bytes.
 */
#ifndef CSM_KUBECONFIG_H
#define CSM_KUBECONFIG_H

#include <stddef.h>
#include <time.h>

#include "csm/error.h"

typedef struct csm_kauth {
    char *server;           /* "https://host:port", no trailing '/' */
    char *tls_server_name;  /* kubeconfig tls-server-name, or NULL */
    char *ca_file;          /* certificate-authority, or NULL */
    unsigned char *ca_data; /* certificate-authority-data (PEM), or NULL */
    size_t ca_len;
    int insecure;    /* insecure-skip-tls-verify: true */
    char *cert_file; /* client-certificate, or NULL */
    unsigned char *cert_data;
    size_t cert_len;
    char *key_file; /* client-key, or NULL */
    unsigned char *key_data;
    size_t key_len;
    char *token;      /* static bearer token, or NULL */
    char *token_file; /* token re-read from here, or NULL */
    /* Cache for token_file; managed by csm_kauth_bearer(). */
    char *file_token;
    time_t file_token_read;
} csm_kauth;

/* The service-account directory a pod sees. */
#define CSM_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/*
 * Loads `path` (a kubeconfig file), using its current-context. On failure
 * errbuf names the file and the problem (missing context, bad base64, YAML
 * syntax with line number, unreadable referenced file).
 */
csm_err csm_kauth_from_kubeconfig(const char *path, csm_kauth **out, char *errbuf, size_t errlen);

/*
 * In-cluster configuration: server from KUBERNETES_SERVICE_HOST and
 * KUBERNETES_SERVICE_PORT (IPv6 hosts get brackets), token_file
 * "<sa_dir>/token", ca_file "<sa_dir>/ca.crt". sa_dir NULL means CSM_SA_DIR.
 */
csm_err csm_kauth_in_cluster(const char *sa_dir, csm_kauth **out, char *errbuf, size_t errlen);

/*
 * Resolution order, as client-go's: --kubeconfig, else $KUBECONFIG (first
 * entry of a ':' list), else in-cluster when KUBERNETES_SERVICE_HOST is
 * set, else ~/.kube/config. `apiserver` (the --apiserver flag), when not
 * NULL, overrides the server.
 */
csm_err csm_kauth_load(const char *kubeconfig, const char *apiserver, csm_kauth **out, char *errbuf,
                       size_t errlen);

/*
 * The bearer token to send, or NULL in *token when none is configured.
 * A token_file is re-read when `force` is set (after a 401) or when the
 * cached copy is older than 60 s, so projected-token rotation works; if a
 * re-read fails the previous token is kept. Trailing whitespace is
 * stripped. *token is borrowed from `a` until the next call.
 */
csm_err csm_kauth_bearer(csm_kauth *a, time_t now, int force, const char **token);

void csm_kauth_free(csm_kauth *a);

#endif

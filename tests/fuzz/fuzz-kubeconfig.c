/*
 * The kubeconfig loader (csm_kauth_load / csm_kauth_from_kubeconfig).
 *
 * There is no in-memory entry point, so each input is written to a
 * kubeconfig file in a private directory that also holds the files a
 * kubeconfig may name by relative path (token, ca.crt, client.crt,
 * client.key), so that those branches load too. An input whose first line
 * is "#apiserver <url>" is loaded with that --apiserver override.
 *
 * Checked beyond memory safety: a failure leaves *out NULL and says why in
 * one NUL-terminated message; a success has a server URL with an http(s)
 * scheme and no trailing '/', and its bearer token (if any) has no control
 * characters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ingest/kubeconfig.h"

static char dir[64];
static char path[96];

static void put_file(const char *name, const char *text)
{
    char p[128];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

static void cleanup(void)
{
    static const char *const names[] = {"config", "token", "ca.crt", "client.crt", "client.key"};
    char p[128];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(dir, sizeof(dir), "%s/fuzz-kubeconfig.XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof(path), "%s/config", dir);
    put_file("token", "  fuzz-token\n");
    put_file("ca.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    put_file("client.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    put_file("client.key", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n");
    atexit(cleanup);
    return 0;
}

static void check_ok(const csm_kauth *a)
{
    const char *tok = NULL;
    size_t n;

    if (!a || !a->server)
        abort();
    n = strlen(a->server);
    if (strncasecmp(a->server, "http://", 7) != 0 && strncasecmp(a->server, "https://", 8) != 0)
        abort();
    if (n == 0 || a->server[n - 1] == '/')
        abort();
    if ((a->ca_data == NULL) != (a->ca_len == 0) || (a->cert_data == NULL) != (a->cert_len == 0) ||
        (a->key_data == NULL) != (a->key_len == 0))
        abort();
    if (csm_kauth_bearer((csm_kauth *)a, 1000, 0, &tok) == CSM_OK && tok) {
        for (const char *p = tok; *p; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char apiserver[256];
    const char *override = NULL;
    char errbuf[512];
    csm_kauth *a = (csm_kauth *)1;
    FILE *f;
    csm_err err;

    if (size >= 11 && memcmp(data, "#apiserver ", 11) == 0) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t n = (nl ? (size_t)(nl - data) : size) - 11;
        if (n >= sizeof(apiserver))
            return 0;
        memcpy(apiserver, data + 11, n);
        apiserver[n] = '\0';
        override = apiserver;
    }
    f = fopen(path, "w");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();

    memset(errbuf, 'x', sizeof(errbuf));
    err = override ? csm_kauth_load(path, override, &a, errbuf, sizeof(errbuf))
                   : csm_kauth_from_kubeconfig(path, &a, errbuf, sizeof(errbuf));
    if (!memchr(errbuf, '\0', sizeof(errbuf)))
        abort();
    if (err) {
        if (a != NULL || (err != CSM_ERR_NOMEM && errbuf[0] == '\0'))
            abort();
        return 0;
    }
    check_ok(a);
    csm_kauth_free(a);
    return 0;
}

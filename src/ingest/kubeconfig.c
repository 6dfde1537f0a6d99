#include "ingest/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "base/b64.h"
#include "base/yamldoc.h"

/* Real kubeconfigs are kilobytes; the cap only stops a wrong path from
 * pulling a huge file into memory. */
#define KUBECONFIG_MAX ((size_t)16 << 20)
/* Projected service-account tokens are about 1 KiB. */
#define TOKEN_MAX ((size_t)64 << 10)
/* How long a token read from token_file is trusted before re-reading;
 * kubelet refreshes projected tokens well before they expire. */
#define TOKEN_TTL 60

static void set_msg(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *errbuf, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!errbuf || !errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(errbuf, errlen, fmt, ap);
    va_end(ap);
}

/* free() for memory that may hold a token or a private key. */
static void wipe_free(void *p, size_t n)
{
    if (!p)
        return;
    explicit_bzero(p, n);
    free(p);
}

static void wipe_free_str(char *s)
{
    if (s)
        wipe_free(s, strlen(s));
}

static csm_err errno_err(int e)
{
    return e == ENOENT || e == ENOTDIR ? CSM_ERR_NOT_FOUND : CSM_ERR_IO;
}

/*
 * Reads a whole file of at most `max` bytes into *out (NUL-terminated,
 * freed by the caller with wipe_free). Buffers are wiped as they grow since
 * the contents may be a token or a key. A file that cannot be opened or
 * read leaves errno set.
 */
static csm_err slurp(const char *path, size_t max, char **out, size_t *len)
{
    /* One byte beyond max to see that the file is too big, one for NUL. */
    const size_t limit = max + 2;
    struct stat st;
    char *buf = NULL;
    char *nbuf;
    size_t cap = 0;
    size_t n = 0;
    size_t ncap;
    ssize_t r;
    int fd;
    int saved;
    csm_err err = CSM_OK;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno_err(errno);
        goto out;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        err = CSM_ERR_IO;
        goto out;
    }
    for (;;) {
        if (n + 1 >= cap) {
            ncap = cap ? cap * 2 : 4096;
            if (ncap > limit)
                ncap = limit;
            nbuf = malloc(ncap);
            if (!nbuf) {
                err = CSM_ERR_NOMEM;
                goto out;
            }
            if (buf) {
                memcpy(nbuf, buf, n);
                wipe_free(buf, cap);
            }
            buf = nbuf;
            cap = ncap;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            err = CSM_ERR_IO;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            err = CSM_ERR_TOO_LARGE;
            goto out;
        }
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    saved = errno;
    wipe_free(buf, cap);
    if (fd >= 0)
        close(fd);
    errno = saved;
    return err;
}

/* Human text for a slurp() failure; the path is not secret, contents are. */
static const char *slurp_why(csm_err err, int e)
{
    if (err == CSM_ERR_TOO_LARGE)
        return "file too large";
    if (err == CSM_ERR_NOMEM)
        return "out of memory";
    return strerror(e);
}

/*
 * Opens and closes `path` so that a missing or unreadable file fails at
 * load time rather than at the first request. errno describes a failure.
 */
static csm_err check_readable(const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int saved;
    csm_err err = CSM_OK;

    if (fd < 0)
        return errno_err(errno);
    if (fstat(fd, &st) != 0) {
        err = CSM_ERR_IO;
    } else if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        err = CSM_ERR_IO;
    }
    saved = errno;
    close(fd);
    errno = saved;
    return err;
}

/* Bytes that would let a token split or forge an HTTP header. */
static int has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    }
    return 0;
}

/* Absolute directory of the current process, or NULL; caller frees. */
static char *cwd_dup(void)
{
    return getcwd(NULL, 0);
}

/*
 * dir + "/" + rel, or a copy of rel when it is already absolute. Returns
 * heap memory the caller frees, or NULL when out of memory.
 */
static char *path_join(const char *dir, const char *rel)
{
    size_t dlen;
    size_t n;
    char *s;

    if (rel[0] == '/')
        return strdup(rel);
    dlen = strlen(dir);
    while (dlen > 1 && dir[dlen - 1] == '/')
        dlen--;
    n = dlen + 1 + strlen(rel) + 1;
    s = malloc(n);
    if (!s)
        return NULL;
    /* dir "/" keeps its slash and gets no second one. */
    snprintf(s, n, "%.*s%s%s", (int)dlen, dir, dlen && dir[dlen - 1] == '/' ? "" : "/", rel);
    return s;
}

/*
 * Absolute form of `path` without resolving symlinks: service-account
 * files are symlinks that kubelet swaps atomically, and following them
 * once would pin the old token. Caller frees.
 */
static char *abs_path(const char *path)
{
    char *cwd;
    char *s;

    if (path[0] == '/')
        return strdup(path);
    cwd = cwd_dup();
    if (!cwd)
        return NULL;
    s = path_join(cwd, path);
    free(cwd);
    return s;
}

/*
 * Normalises an API server URL: a bare "host:port" gets "https://", the
 * scheme must be http or https, and trailing '/' go. *out is heap memory
 * the caller frees; on CSM_ERR_INVALID why[] says what is wrong. Callers
 * echo the URL in messages unless it has control characters, which would
 * break the one-line message.
 */
static csm_err normalize_server(const char *in, char **out, char *why, size_t whylen)
{
    const char *sep = strstr(in, "://");
    const char *host;
    size_t n;
    int bare = sep == NULL;

    *out = NULL;
    if (has_control(in) || strpbrk(in, " \t")) {
        snprintf(why, whylen, "contains whitespace or control characters");
        return CSM_ERR_INVALID;
    }
    if (sep && !(sep - in == 5 && strncasecmp(in, "https", 5) == 0) &&
        !(sep - in == 4 && strncasecmp(in, "http", 4) == 0)) {
        snprintf(why, whylen, "scheme must be http or https");
        return CSM_ERR_INVALID;
    }
    host = sep ? sep + 3 : in;
    n = strlen(in);
    while (n > 0 && in[n - 1] == '/')
        n--;
    if (*host == '\0' || *host == '/' || n <= (size_t)(host - in)) {
        snprintf(why, whylen, "no host");
        return CSM_ERR_INVALID;
    }
    *out = malloc((bare ? 8 : 0) + n + 1);
    if (!*out)
        return CSM_ERR_NOMEM;
    snprintf(*out, (bare ? 8 : 0) + n + 1, "%s%.*s", bare ? "https://" : "", (int)n, in);
    return CSM_OK;
}

/*
 * Base64 as Go's encoding/json reads a []byte: the standard alphabet, CR
 * and LF ignored; missing padding is tolerated. *out (freed by the caller
 * with wipe_free) gets the bytes; on CSM_ERR_PARSE *bad is the offset of
 * the offending input byte.
 */
static csm_err b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen,
                          size_t *bad)
{
    size_t cap = csm_b64_decoded_max(inlen);
    unsigned char *buf = malloc(cap);
    csm_err err;

    *out = NULL;
    *outlen = 0;
    *bad = 0;
    if (!buf)
        return CSM_ERR_NOMEM;
    err = csm_b64_decode(in, inlen, CSM_B64_PAD | CSM_B64_SKIP_CRLF, buf, outlen, bad);
    if (err) {
        wipe_free(buf, cap);
        return err;
    }
    *out = buf;
    return CSM_OK;
}

/* State of one kubeconfig load; messages are prefixed with `path`. */
typedef struct kc {
    const char *path;
    char *dir; /* absolute directory of path: base of relative paths */
    yaml_document_t doc;
    int have_doc;
    char *errbuf;
    size_t errlen;
} kc;

static csm_err kc_err(kc *k, csm_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static csm_err kc_err(kc *k, csm_err err, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!k->errbuf || !k->errlen)
        return err;
    n = snprintf(k->errbuf, k->errlen, "%s: ", k->path);
    if (n < 0 || (size_t)n >= k->errlen)
        return err;
    va_start(ap, fmt);
    vsnprintf(k->errbuf + n, k->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return err;
}

static yaml_node_t *kc_node(kc *k, int idx)
{
    return yaml_document_get_node(&k->doc, idx);
}

/* Value for `key` in a mapping, or NULL. A repeated key: the last wins,
 * as when client-go decodes the same file. */
static yaml_node_t *map_get(kc *k, yaml_node_t *map, const char *key)
{
    return csm_yamldoc_map_get(&k->doc, map, key, CSM_YAMLDOC_LAST);
}

/*
 * An optional string field of `map` (named `where` in messages): *out is
 * borrowed from the document, NULL when the field is absent, null or "".
 */
static csm_err get_str(kc *k, yaml_node_t *map, const char *where, const char *key,
                       const char **out)
{
    yaml_node_t *n = map_get(k, map, key);

    *out = NULL;
    if (csm_yamldoc_is_null(n))
        return CSM_OK;
    if (n->type != YAML_SCALAR_NODE)
        return kc_err(k, CSM_ERR_TYPE, "%s%s%s: expected a string", where, *where ? "." : "", key);
    if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
        return kc_err(k, CSM_ERR_INVALID, "%s%s%s: contains a NUL byte", where, *where ? "." : "",
                      key);
    if (n->data.scalar.length)
        *out = (const char *)n->data.scalar.value;
    return CSM_OK;
}

/* A YAML 1.1 boolean, as client-go's decoder accepts; absent is false. */
static csm_err get_bool(kc *k, yaml_node_t *map, const char *where, const char *key, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                      "YES",  "on",   "On",   "ON"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No",
                                     "NO",    "off",   "Off",   "OFF"};
    yaml_node_t *n = map_get(k, map, key);

    *out = 0;
    if (csm_yamldoc_is_null(n))
        return CSM_OK;
    if (n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
            if (csm_yamldoc_scalar_is(n, yes[i])) {
                *out = 1;
                return CSM_OK;
            }
            if (csm_yamldoc_scalar_is(n, no[i]))
                return CSM_OK;
        }
    }
    return kc_err(k, CSM_ERR_TYPE, "%s.%s: expected true or false", where, key);
}

/*
 * Finds the entry of the top-level list `list` ("contexts", "clusters",
 * "users") called `name` and returns its `field` mapping ("context",
 * "cluster", "user") in *inner, NULL when that is absent or null. The last
 * entry of a name wins, as in client-go. `used_by` names the context for
 * the not-found message.
 */
static csm_err find_named(kc *k, yaml_node_t *root, const char *list, const char *field,
                          const char *name, const char *used_by, yaml_node_t **inner)
{
    yaml_node_t *seq = map_get(k, root, list);
    yaml_node_t *item;
    yaml_node_t *in = NULL;
    int found = 0;
    int idx = 0;

    *inner = NULL;
    if (!csm_yamldoc_is_null(seq) && seq->type != YAML_SEQUENCE_NODE)
        return kc_err(k, CSM_ERR_TYPE, "%s: expected a list", list);
    if (!csm_yamldoc_is_null(seq)) {
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++, idx++) {
            item = kc_node(k, *it);
            if (!item || item->type != YAML_MAPPING_NODE)
                return kc_err(k, CSM_ERR_TYPE, "%s[%d]: expected a mapping", list, idx);
            if (csm_yamldoc_scalar_is(map_get(k, item, "name"), name)) {
                found = 1;
                in = map_get(k, item, field);
            }
        }
    }
    if (!found && used_by)
        return kc_err(k, CSM_ERR_NOT_FOUND, "%s \"%s\" not found (named by context \"%s\")", field,
                      name, used_by);
    if (!found)
        return kc_err(k, CSM_ERR_NOT_FOUND, "%s \"%s\" not found", field, name);
    if (csm_yamldoc_is_null(in))
        return CSM_OK;
    if (in->type != YAML_MAPPING_NODE)
        return kc_err(k, CSM_ERR_TYPE, "%s[%s].%s: expected a mapping", list, name, field);
    *inner = in;
    return CSM_OK;
}

/* A file path field: resolved against the kubeconfig's directory and
 * checked readable. *out is heap memory (NULL when the field is unset). */
static csm_err get_file(kc *k, yaml_node_t *map, const char *where, const char *key, char **out)
{
    const char *rel;
    char *p;
    csm_err err;

    *out = NULL;
    err = get_str(k, map, where, key, &rel);
    if (err || !rel)
        return err;
    p = path_join(k->dir, rel);
    if (!p)
        return CSM_ERR_NOMEM;
    err = check_readable(p);
    if (err) {
        err = kc_err(k, err, "%s.%s \"%s\": %s", where, key, p, strerror(errno));
        free(p);
        return err;
    }
    *out = p;
    return CSM_OK;
}

/* A "-data" field: base64 PEM. *out (wipe on free) is NULL when unset. */
static csm_err get_data(kc *k, yaml_node_t *map, const char *where, const char *key,
                        unsigned char **out, size_t *len)
{
    const char *s;
    size_t bad;
    csm_err err;

    *out = NULL;
    *len = 0;
    err = get_str(k, map, where, key, &s);
    if (err || !s)
        return err;
    err = b64_decode(s, strlen(s), out, len, &bad);
    /* The offset helps find the typo; the content itself may be a key. */
    if (err == CSM_ERR_PARSE)
        return kc_err(k, err, "bad base64 in %s.%s at byte %zu", where, key, bad);
    if (!err && *len == 0) {
        wipe_free(*out, 0);
        *out = NULL;
    }
    return err;
}

static csm_err load_cluster(kc *k, yaml_node_t *cl, const char *name, const char *server_override,
                            csm_kauth *a)
{
    char where[320];
    char why[128];
    const char *server = server_override;
    const char *tsn;
    csm_err err;

    snprintf(where, sizeof(where), "clusters[%s]", name);
    if (!server) {
        err = get_str(k, cl, where, "server", &server);
        if (err)
            return err;
        if (!server)
            return kc_err(k, CSM_ERR_INVALID, "%s.server is missing", where);
        err = normalize_server(server, &a->server, why, sizeof(why));
        if (err == CSM_ERR_INVALID)
            return kc_err(k, err, "%s.server \"%s\": %s", where,
                          has_control(server) ? "..." : server, why);
    } else {
        /* csm_kauth_load() validated it already. */
        a->server = strdup(server);
        err = a->server ? CSM_OK : CSM_ERR_NOMEM;
    }
    if (err)
        return err;
    err = get_str(k, cl, where, "tls-server-name", &tsn);
    if (err)
        return err;
    if (tsn) {
        a->tls_server_name = strdup(tsn);
        if (!a->tls_server_name)
            return CSM_ERR_NOMEM;
    }
    err = get_file(k, cl, where, "certificate-authority", &a->ca_file);
    if (err)
        return err;
    err = get_data(k, cl, where, "certificate-authority-data", &a->ca_data, &a->ca_len);
    if (err)
        return err;
    err = get_bool(k, cl, where, "insecure-skip-tls-verify", &a->insecure);
    if (err)
        return err;
    /* Both refused as client-go refuses them: the user cannot tell from the
     * file which one would be used. */
    if (a->ca_file && a->ca_data)
        return kc_err(k, CSM_ERR_INVALID,
                      "%s: certificate-authority-data and certificate-authority are both "
                      "specified",
                      where);
    if (a->insecure && (a->ca_file || a->ca_data))
        return kc_err(k, CSM_ERR_INVALID,
                      "%s: specifying a root certificates file with the insecure flag is not "
                      "allowed",
                      where);
    return CSM_OK;
}

static csm_err load_user(kc *k, yaml_node_t *u, const char *name, csm_kauth *a)
{
    char where[320];
    const char *token;
    int have_cert;
    int have_key;
    csm_err err;

    snprintf(where, sizeof(where), "users[%s]", name);
    err = get_str(k, u, where, "token", &token);
    if (err)
        return err;
    if (token) {
        /* Never quote the token: it is the credential. */
        if (has_control(token))
            return kc_err(k, CSM_ERR_INVALID, "%s.token contains control characters", where);
        a->token = strdup(token);
        if (!a->token)
            return CSM_ERR_NOMEM;
    } else {
        /* As in client-go, a static token wins and tokenFile is ignored. */
        err = get_file(k, u, where, "tokenFile", &a->token_file);
        if (err)
            return err;
    }
    err = get_file(k, u, where, "client-certificate", &a->cert_file);
    if (!err)
        err = get_data(k, u, where, "client-certificate-data", &a->cert_data, &a->cert_len);
    if (!err)
        err = get_file(k, u, where, "client-key", &a->key_file);
    if (!err)
        err = get_data(k, u, where, "client-key-data", &a->key_data, &a->key_len);
    if (err)
        return err;
    have_cert = a->cert_file || a->cert_data;
    have_key = a->key_file || a->key_data;
    if (a->cert_file && a->cert_data)
        return kc_err(k, CSM_ERR_INVALID,
                      "%s: client-certificate-data and client-certificate are both specified",
                      where);
    if (a->key_file && a->key_data)
        return kc_err(k, CSM_ERR_INVALID, "%s: client-key-data and client-key are both specified",
                      where);
    if (have_cert && !have_key)
        return kc_err(k, CSM_ERR_INVALID,
                      "%s: client-certificate needs client-key or client-key-data", where);
    if (have_key && !have_cert)
        return kc_err(k, CSM_ERR_INVALID,
                      "%s: client-key needs client-certificate or client-certificate-data", where);
    /* Without this the exporter would run unauthenticated and fail with
     * 401/403 far from the cause. */
    if (!a->token && !a->token_file && !have_cert &&
        (map_get(k, u, "exec") || map_get(k, u, "auth-provider") || map_get(k, u, "username")))
        return kc_err(k, CSM_ERR_INVALID,
                      "%s: exec, auth-provider and basic auth are not supported; use token, "
                      "tokenFile or a client certificate",
                      where);
    return CSM_OK;
}

static csm_err kc_set_dir(kc *k)
{
    const char *slash = strrchr(k->path, '/');
    char *dir;

    if (!slash) {
        k->dir = cwd_dup();
        return k->dir ? CSM_OK : kc_err(k, CSM_ERR_IO, "current directory: %s", strerror(errno));
    }
    dir = strndup(k->path, slash == k->path ? 1 : (size_t)(slash - k->path));
    if (!dir)
        return CSM_ERR_NOMEM;
    k->dir = abs_path(dir);
    free(dir);
    return k->dir ? CSM_OK : CSM_ERR_NOMEM;
}

static csm_err kc_parse(kc *k, const char *text, size_t len)
{
    yaml_parser_t p;
    csm_err err = CSM_OK;

    if (!yaml_parser_initialize(&p))
        return CSM_ERR_NOMEM;
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (yaml_parser_load(&p, &k->doc)) {
        k->have_doc = 1;
    } else if (p.error == YAML_MEMORY_ERROR) {
        err = CSM_ERR_NOMEM;
    } else {
        /* libyaml's problem strings are static text, never file content. */
        err = kc_err(k, CSM_ERR_PARSE, "YAML syntax error at line %zu, column %zu: %s%s%s",
                     p.problem_mark.line + 1, p.problem_mark.column + 1,
                     p.problem ? p.problem : "malformed", p.context ? " " : "",
                     p.context ? p.context : "");
    }
    yaml_parser_delete(&p);
    return err;
}

/* The kubeconfig loader behind both public entry points; `server_override`
 * (already normalised) replaces the cluster's server, which may then be
 * missing. */
static csm_err load_kubeconfig(const char *path, const char *server_override, csm_kauth **out,
                               char *errbuf, size_t errlen)
{
    kc k = {.path = path, .errbuf = errbuf, .errlen = errlen};
    char *text = NULL;
    size_t len = 0;
    csm_kauth *a = NULL;
    yaml_node_t *root;
    yaml_node_t *ctx;
    yaml_node_t *cluster;
    yaml_node_t *user = NULL;
    const char *current;
    const char *cluster_name;
    const char *user_name;
    char where[320];
    csm_err err;

    err = slurp(path, KUBECONFIG_MAX, &text, &len);
    if (err) {
        kc_err(&k, err, "%s", slurp_why(err, errno));
        goto out;
    }
    err = kc_set_dir(&k);
    if (err)
        goto out;
    err = kc_parse(&k, text, len);
    if (err)
        goto out;
    root = yaml_document_get_root_node(&k.doc);
    if (!root || csm_yamldoc_is_null(root)) {
        err = kc_err(&k, CSM_ERR_INVALID, "empty kubeconfig");
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        err = kc_err(&k, CSM_ERR_TYPE, "expected a mapping at the top level");
        goto out;
    }
    err = get_str(&k, root, "", "current-context", &current);
    if (err)
        goto out;
    if (!current) {
        err = kc_err(&k, CSM_ERR_NOT_FOUND, "missing current-context");
        goto out;
    }
    err = find_named(&k, root, "contexts", "context", current, NULL, &ctx);
    if (err)
        goto out;
    snprintf(where, sizeof(where), "contexts[%s]", current);
    err = get_str(&k, ctx, where, "cluster", &cluster_name);
    if (!err)
        err = get_str(&k, ctx, where, "user", &user_name);
    if (err)
        goto out;
    if (!cluster_name) {
        err = kc_err(&k, CSM_ERR_INVALID, "%s.cluster is missing", where);
        goto out;
    }
    err = find_named(&k, root, "clusters", "cluster", cluster_name, current, &cluster);
    if (!err && user_name)
        err = find_named(&k, root, "users", "user", user_name, current, &user);
    if (err)
        goto out;

    a = calloc(1, sizeof(*a));
    if (!a) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    err = load_cluster(&k, cluster, cluster_name, server_override, a);
    if (!err && user_name)
        err = load_user(&k, user, user_name, a);
out:
    if (err) {
        csm_kauth_free(a);
        a = NULL;
    }
    *out = a;
    wipe_free(text, len);
    if (k.have_doc)
        yaml_document_delete(&k.doc);
    free(k.dir);
    return err;
}

csm_err csm_kauth_from_kubeconfig(const char *path, csm_kauth **out, char *errbuf, size_t errlen)
{
    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!out)
        return CSM_ERR_INVALID;
    *out = NULL;
    if (!path || !*path)
        return CSM_ERR_INVALID;
    return load_kubeconfig(path, NULL, out, errbuf, errlen);
}

/* Hostnames and IP literals only: the value goes into a URL. */
static int is_host_chars(const char *s)
{
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':'))
            return 0;
    }
    return 1;
}

static int is_port(const char *s)
{
    long v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

csm_err csm_kauth_in_cluster(const char *sa_dir, csm_kauth **out, char *errbuf, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    csm_kauth *a = NULL;
    char *dir = NULL;
    size_t n;
    csm_err err = CSM_OK;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!out)
        return CSM_ERR_INVALID;
    *out = NULL;
    if (!host || !*host || !port || !*port) {
        set_msg(errbuf, errlen,
                "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
        return CSM_ERR_NOT_FOUND;
    }
    if (!is_host_chars(host)) {
        set_msg(errbuf, errlen, "in-cluster: KUBERNETES_SERVICE_HOST is not a host name or IP");
        return CSM_ERR_INVALID;
    }
    if (!is_port(port)) {
        set_msg(errbuf, errlen, "in-cluster: KUBERNETES_SERVICE_PORT is not a port in 1..65535");
        return CSM_ERR_INVALID;
    }
    a = calloc(1, sizeof(*a));
    if (!a) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    /* An IPv6 literal needs brackets to be told apart from the port. */
    n = strlen(host) + strlen(port) + sizeof("https://[]:");
    a->server = malloc(n);
    if (!a->server) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    snprintf(a->server, n, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);

    dir = abs_path(sa_dir ? sa_dir : CSM_SA_DIR);
    if (!dir) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    a->token_file = path_join(dir, "token");
    a->ca_file = path_join(dir, "ca.crt");
    if (!a->token_file || !a->ca_file) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    err = check_readable(a->token_file);
    if (err) {
        set_msg(errbuf, errlen, "in-cluster: service-account token \"%s\": %s", a->token_file,
                strerror(errno));
        goto out;
    }
    err = check_readable(a->ca_file);
    if (err) {
        set_msg(errbuf, errlen, "in-cluster: service-account CA \"%s\": %s", a->ca_file,
                strerror(errno));
        goto out;
    }
out:
    free(dir);
    if (err) {
        csm_kauth_free(a);
        a = NULL;
    }
    *out = a;
    return err;
}

/* First non-empty entry of a ':'-separated list, or NULL; caller frees. */
static char *first_entry(const char *list, int *nomem)
{
    const char *p = list;
    size_t n;
    char *s;

    *nomem = 0;
    while (*p) {
        n = strcspn(p, ":");
        if (n) {
            s = strndup(p, n);
            *nomem = s == NULL;
            return s;
        }
        p++;
    }
    return NULL;
}

csm_err csm_kauth_load(const char *kubeconfig, const char *apiserver, csm_kauth **out, char *errbuf,
                       size_t errlen)
{
    const char *env;
    const char *home;
    char *path = NULL;
    char *server = NULL;
    char why[128];
    int nomem = 0;
    csm_err err = CSM_OK;

    if (errbuf && errlen)
        errbuf[0] = '\0';
    if (!out)
        return CSM_ERR_INVALID;
    *out = NULL;
    if (apiserver) {
        err = normalize_server(apiserver, &server, why, sizeof(why));
        if (err == CSM_ERR_INVALID)
            set_msg(errbuf, errlen, "--apiserver \"%s\": %s",
                    has_control(apiserver) ? "..." : apiserver, why);
        if (err)
            goto out;
    }

    if (kubeconfig && *kubeconfig) {
        err = load_kubeconfig(kubeconfig, server, out, errbuf, errlen);
        goto out;
    }
    env = getenv("KUBECONFIG");
    if (env) {
        path = first_entry(env, &nomem);
        if (nomem) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
    }
    if (path) {
        err = load_kubeconfig(path, server, out, errbuf, errlen);
        goto out;
    }
    env = getenv("KUBERNETES_SERVICE_HOST");
    if (env && *env) {
        err = csm_kauth_in_cluster(NULL, out, errbuf, errlen);
        if (!err && server) {
            free((*out)->server);
            (*out)->server = server;
            server = NULL;
        }
        goto out;
    }
    home = getenv("HOME");
    if (home && *home) {
        path = path_join(home, ".kube/config");
        if (!path) {
            err = CSM_ERR_NOMEM;
            goto out;
        }
        if (access(path, F_OK) == 0) {
            err = load_kubeconfig(path, server, out, errbuf, errlen);
            goto out;
        }
    }
    if (!server) {
        set_msg(errbuf, errlen,
                "no cluster configuration: pass --kubeconfig or --apiserver, set $KUBECONFIG, "
                "run in a pod, or create ~/.kube/config");
        err = CSM_ERR_NOT_FOUND;
        goto out;
    }
    /* client-go allows a bare master URL: no TLS settings, no credentials. */
    *out = calloc(1, sizeof(**out));
    if (!*out) {
        err = CSM_ERR_NOMEM;
        goto out;
    }
    (*out)->server = server;
    server = NULL;
out:
    if (err) {
        csm_kauth_free(*out);
        *out = NULL;
    }
    free(server);
    free(path);
    return err;
}

/*
 * Reads and validates a token file. *tok is heap memory the caller frees
 * with wipe_free_str().
 */
static csm_err read_token(const char *path, char **tok)
{
    char *buf;
    size_t len;
    size_t start = 0;
    csm_err err;

    *tok = NULL;
    err = slurp(path, TOKEN_MAX, &buf, &len);
    if (err)
        return err;
    /* Kubelet writes no newline, but hand-made secrets often have one.
     * Leading blanks go too, as with client-go's strings.TrimSpace. */
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t' || buf[len - 1] == '\n' ||
                       buf[len - 1] == '\r'))
        buf[--len] = '\0';
    while (start < len && (buf[start] == ' ' || buf[start] == '\t'))
        start++;
    if (start == len || strlen(buf) != len || has_control(buf + start)) {
        wipe_free(buf, len);
        return CSM_ERR_INVALID;
    }
    if (start)
        memmove(buf, buf + start, len - start + 1);
    *tok = buf;
    return CSM_OK;
}

csm_err csm_kauth_bearer(csm_kauth *a, time_t now, int force, const char **token)
{
    char *fresh;
    csm_err err;

    if (!token)
        return CSM_ERR_INVALID;
    *token = NULL;
    if (!a)
        return CSM_ERR_INVALID;
    if (!a->token_file) {
        *token = a->token;
        return CSM_OK;
    }
    /* A clock that went backwards makes the cache age meaningless. */
    if (force || !a->file_token || now < a->file_token_read ||
        now - a->file_token_read >= TOKEN_TTL) {
        err = read_token(a->token_file, &fresh);
        if (!err) {
            wipe_free_str(a->file_token);
            a->file_token = fresh;
            a->file_token_read = now;
        } else if (!a->file_token && !a->token) {
            /* Nothing to fall back on; the old-token rule cannot apply. */
            return err;
        }
    }
    *token = a->file_token ? a->file_token : a->token;
    return CSM_OK;
}

void csm_kauth_free(csm_kauth *a)
{
    if (!a)
        return;
    free(a->server);
    free(a->tls_server_name);
    free(a->ca_file);
    free(a->ca_data);
    free(a->cert_file);
    free(a->cert_data);
    free(a->key_file);
    wipe_free(a->key_data, a->key_len);
    wipe_free_str(a->token);
    free(a->token_file);
    wipe_free_str(a->file_token);
    free(a);
}

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "ingest/kubeconfig.h"

/* Written once by main() before any test runs; every test works in its
 * own mkdtemp() directory below it, and main() removes the whole tree
 * even when tests fail. */
static char base_dir[64];

#define CA_B64   "Q0EtUEVNCg=="
#define CA_PEM   "CA-PEM\n"
#define CERT_B64 "Q0VSVC1QRU0K"
#define CERT_PEM "CERT-PEM\n"
#define KEY_B64  "S0VZLVBFTQo="
#define KEY_PEM  "KEY-PEM\n"

static void fresh_dir(char *dir, size_t len)
{
    snprintf(dir, len, "%s/tXXXXXX", base_dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void join(char *out, size_t len, const char *dir, const char *name)
{
    ck_assert_int_lt(snprintf(out, len, "%s/%s", dir, name), (int)len);
}

static void write_file(const char *dir, const char *name, const char *content)
{
    char p[PATH_MAX];
    FILE *f;

    join(p, sizeof(p), dir, name);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(content, f), 0);
    ck_assert_int_eq(fclose(f), 0);
}

/* A kubeconfig with one context "ctx" -> cluster "c", user "u"; the bodies
 * are the YAML lines under `cluster:` and `user:` (4-space indent). */
static void write_kc(const char *dir, const char *name, const char *cluster, const char *user)
{
    char text[16384];

    ck_assert_uint_lt(strlen(cluster) + strlen(user) + 400, sizeof(text));
    snprintf(text, sizeof(text),
             "apiVersion: v1\n"
             "kind: Config\n"
             "current-context: ctx\n"
             "contexts:\n"
             "- name: ctx\n"
             "  context:\n"
             "    cluster: c\n"
             "    user: u\n"
             "    namespace: ignored\n"
             "clusters:\n"
             "- name: c\n"
             "  cluster:\n"
             "%s"
             "users:\n"
             "- name: u\n"
             "  user:\n"
             "%s",
             cluster, user);
    write_file(dir, name, text);
}

static csm_kauth *load_ok(const char *path)
{
    char err[1024] = "";
    csm_kauth *a = NULL;
    csm_err r = csm_kauth_from_kubeconfig(path, &a, err, sizeof(err));

    ck_assert_msg(r == CSM_OK, "load of %s failed (%d): %s", path, r, err);
    ck_assert_ptr_nonnull(a);
    return a;
}

/* Expects `want`, a message starting with "<path>: " and containing every
 * given fragment; returns nothing so a leak cannot hide behind it. */
static void load_fail(const char *path, csm_err want, ...)
{
    char err[1024] = "";
    csm_kauth *a = (csm_kauth *)1;
    csm_err r = csm_kauth_from_kubeconfig(path, &a, err, sizeof(err));
    const char *frag;
    va_list ap;

    ck_assert_msg(r == want, "got %d, want %d: %s", r, want, err);
    ck_assert_ptr_null(a);
    ck_assert_msg(strncmp(err, path, strlen(path)) == 0 &&
                      strncmp(err + strlen(path), ": ", 2) == 0,
                  "message does not name the file: %s", err);
    va_start(ap, want);
    for (;;) {
        frag = va_arg(ap, const char *);
        if (!frag)
            break;
        ck_assert_msg(strstr(err, frag) != NULL, "message \"%s\" lacks \"%s\"", err, frag);
    }
    va_end(ap);
}

static void assert_bytes(const unsigned char *p, size_t n, const char *want)
{
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(n, strlen(want));
    ck_assert_int_eq(memcmp(p, want, n), 0);
}

START_TEST(test_token_and_ca_data)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    csm_kauth *a;
    const char *tok = NULL;

    fresh_dir(dir, sizeof(dir));
    write_kc(dir, "config",
             "    server: https://10.1.2.3:6443//\n"
             "    certificate-authority-data: " CA_B64 "\n"
             "    tls-server-name: api.internal\n",
             "    token: sekrit-token\n");
    join(kc, sizeof(kc), dir, "config");
    a = load_ok(kc);
    ck_assert_str_eq(a->server, "https://10.1.2.3:6443");
    ck_assert_str_eq(a->tls_server_name, "api.internal");
    assert_bytes(a->ca_data, a->ca_len, CA_PEM);
    ck_assert_ptr_null(a->ca_file);
    ck_assert_int_eq(a->insecure, 0);
    ck_assert_str_eq(a->token, "sekrit-token");
    ck_assert_ptr_null(a->token_file);
    ck_assert_ptr_null(a->cert_file);
    ck_assert_ptr_null(a->cert_data);
    ck_assert_ptr_null(a->key_data);
    ck_assert_int_eq(csm_kauth_bearer(a, 1000, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "sekrit-token");
    ck_assert_int_eq(csm_kauth_bearer(a, 1000, 1, &tok), CSM_OK);
    ck_assert_str_eq(tok, "sekrit-token");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_token_file_relative)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    char want[PATH_MAX];
    csm_kauth *a;
    const char *tok = NULL;

    fresh_dir(dir, sizeof(dir));
    ck_assert_int_eq(mkdir(strcat(strcpy(kc, dir), "/sec"), 0700), 0);
    write_file(dir, "sec/tok", "file-token\n\n");
    write_kc(dir, "config", "    server: https://h\n", "    tokenFile: sec/tok\n");
    join(kc, sizeof(kc), dir, "config");
    a = load_ok(kc);
    join(want, sizeof(want), dir, "sec/tok");
    ck_assert_str_eq(a->token_file, want);
    ck_assert_ptr_null(a->token);
    ck_assert_int_eq(csm_kauth_bearer(a, 5, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "file-token");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_static_token_wins_over_token_file)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    /* tokenFile points nowhere: ignored, as client-go ignores it. */
    write_kc(dir, "config", "    server: https://h\n",
             "    token: t1\n    tokenFile: /nonexistent/tok\n");
    join(kc, sizeof(kc), dir, "config");
    a = load_ok(kc);
    ck_assert_str_eq(a->token, "t1");
    ck_assert_ptr_null(a->token_file);
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_client_cert_files_and_ca_file)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    char want[PATH_MAX];
    char abs_key[PATH_MAX];
    char text[PATH_MAX + 200];
    csm_kauth *a;
    const char *tok = (const char *)1;

    fresh_dir(dir, sizeof(dir));
    write_file(dir, "ca.crt", CA_PEM);
    write_file(dir, "client.crt", CERT_PEM);
    write_file(dir, "client.key", KEY_PEM);
    join(abs_key, sizeof(abs_key), dir, "client.key");
    snprintf(text, sizeof(text), "    client-certificate: ./client.crt\n    client-key: \"%s\"\n",
             abs_key);
    write_kc(dir, "config", "    server: h.example:443\n    certificate-authority: ca.crt\n", text);
    join(kc, sizeof(kc), dir, "config");
    a = load_ok(kc);
    /* A bare host:port gets https://. */
    ck_assert_str_eq(a->server, "https://h.example:443");
    join(want, sizeof(want), dir, "ca.crt");
    ck_assert_str_eq(a->ca_file, want);
    join(want, sizeof(want), dir, "./client.crt");
    ck_assert_str_eq(a->cert_file, want);
    ck_assert_str_eq(a->key_file, abs_key);
    ck_assert_ptr_null(a->ca_data);
    ck_assert_ptr_null(a->token);
    ck_assert_int_eq(csm_kauth_bearer(a, 0, 0, &tok), CSM_OK);
    ck_assert_ptr_null(tok);
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_relative_kubeconfig_path)
{
    char dir[PATH_MAX];
    char sub[PATH_MAX];
    char want[PATH_MAX];
    char old[PATH_MAX];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    join(sub, sizeof(sub), dir, "sub");
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    write_file(sub, "ca.crt", CA_PEM);
    write_kc(sub, "kc", "    server: https://h\n    certificate-authority: ca.crt\n", "");
    ck_assert_ptr_nonnull(getcwd(old, sizeof(old)));
    ck_assert_int_eq(chdir(dir), 0);
    a = load_ok("sub/kc");
    ck_assert_int_eq(chdir(old), 0);
    /* Resolved against the kubeconfig's directory, made absolute. */
    join(want, sizeof(want), sub, "ca.crt");
    ck_assert_str_eq(a->ca_file, want);
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_data_forms)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    /* Line breaks inside base64 are skipped; missing padding is accepted. */
    write_kc(dir, "config", "    server: http://127.0.0.1:8080/\n",
             "    client-certificate-data: \"Q0VSVC1Q\\nRU0K\"\n"
             "    client-key-data: S0VZLVBFTQo\n");
    join(kc, sizeof(kc), dir, "config");
    a = load_ok(kc);
    ck_assert_str_eq(a->server, "http://127.0.0.1:8080");
    assert_bytes(a->cert_data, a->cert_len, CERT_PEM);
    assert_bytes(a->key_data, a->key_len, KEY_PEM);
    ck_assert_ptr_null(a->cert_file);
    ck_assert_ptr_null(a->key_file);
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_ca_file_and_data_both)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];

    fresh_dir(dir, sizeof(dir));
    write_file(dir, "ca.crt", CA_PEM);
    write_kc(dir, "config",
             "    server: https://h\n    certificate-authority: ca.crt\n"
             "    certificate-authority-data: " CA_B64 "\n",
             "");
    join(kc, sizeof(kc), dir, "config");
    load_fail(kc, CSM_ERR_INVALID, "clusters[c]",
              "certificate-authority-data and certificate-authority are both specified", NULL);
}
END_TEST

START_TEST(test_insecure)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    join(kc, sizeof(kc), dir, "config");
    write_kc(dir, "config", "    server: https://h\n    insecure-skip-tls-verify: true\n", "");
    a = load_ok(kc);
    ck_assert_int_eq(a->insecure, 1);
    ck_assert_ptr_null(a->ca_file);
    ck_assert_ptr_null(a->ca_data);
    csm_kauth_free(a);

    write_kc(dir, "config", "    server: https://h\n    insecure-skip-tls-verify: false\n", "");
    a = load_ok(kc);
    ck_assert_int_eq(a->insecure, 0);
    csm_kauth_free(a);

    write_kc(dir, "config",
             "    server: https://h\n    insecure-skip-tls-verify: true\n"
             "    certificate-authority-data: " CA_B64 "\n",
             "");
    load_fail(kc, CSM_ERR_INVALID,
              "specifying a root certificates file with the insecure flag is not allowed", NULL);

    write_file(dir, "ca.crt", CA_PEM);
    write_kc(dir, "config",
             "    server: https://h\n    insecure-skip-tls-verify: true\n"
             "    certificate-authority: ca.crt\n",
             "");
    load_fail(kc, CSM_ERR_INVALID,
              "specifying a root certificates file with the insecure flag is not allowed", NULL);

    /* A quoted "true" is a string, which client-go refuses for a bool. */
    write_kc(dir, "config", "    server: https://h\n    insecure-skip-tls-verify: \"true\"\n", "");
    load_fail(kc, CSM_ERR_TYPE, "clusters[c].insecure-skip-tls-verify: expected true or false",
              NULL);
}
END_TEST

START_TEST(test_current_context_selects)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    write_file(dir, "config",
               "apiVersion: v1\n"
               "kind: Config\n"
               "contexts:\n"
               "- name: dev\n"
               "  context: {cluster: dev-c, user: dev-u}\n"
               "- name: prod\n"
               "  context: {cluster: prod-c, user: prod-u}\n"
               "- name: stage\n"
               "  context: {cluster: dev-c, user: prod-u}\n"
               "clusters:\n"
               "- {name: dev-c, cluster: {server: 'https://dev:6443'}}\n"
               "- {name: prod-c, cluster: {server: 'https://prod:6443'}}\n"
               "users:\n"
               "- {name: dev-u, user: {token: dev-token}}\n"
               "- {name: prod-u, user: {token: prod-token}}\n"
               "current-context: prod\n");
    join(kc, sizeof(kc), dir, "config");
    a = load_ok(kc);
    ck_assert_str_eq(a->server, "https://prod:6443");
    ck_assert_str_eq(a->token, "prod-token");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_json_kubeconfig)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    write_file(dir, "config.json",
               "{\n"
               "\t\"kind\": \"Config\",\n"
               "\t\"current-context\": \"x\",\n"
               "\t\"contexts\": [{\"name\": \"x\", \"context\": {\"cluster\": \"c\", \"user\": "
               "\"u\"}}],\n"
               "\t\"clusters\": [{\"name\": \"c\", \"cluster\": {\"server\": \"https://j:1\", "
               "\"insecure-skip-tls-verify\": true}}],\n"
               "\t\"users\": [{\"name\": \"u\", \"user\": {\"token\": \"jt\"}}]\n"
               "}\n");
    join(kc, sizeof(kc), dir, "config.json");
    a = load_ok(kc);
    ck_assert_str_eq(a->server, "https://j:1");
    ck_assert_int_eq(a->insecure, 1);
    ck_assert_str_eq(a->token, "jt");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_missing_referenced_files)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    char missing[PATH_MAX];

    fresh_dir(dir, sizeof(dir));
    join(kc, sizeof(kc), dir, "config");
    join(missing, sizeof(missing), dir, "nope.crt");

    write_kc(dir, "config", "    server: https://h\n    certificate-authority: nope.crt\n", "");
    load_fail(kc, CSM_ERR_NOT_FOUND, "clusters[c].certificate-authority", missing,
              "No such file or directory", NULL);

    write_kc(dir, "config", "    server: https://h\n", "    tokenFile: nope.crt\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "users[u].tokenFile", missing, NULL);

    write_file(dir, "client.crt", CERT_PEM);
    write_kc(dir, "config", "    server: https://h\n",
             "    client-certificate: client.crt\n    client-key: nope.crt\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "users[u].client-key", missing, NULL);

    write_kc(dir, "config", "    server: https://h\n",
             "    client-certificate: nope.crt\n    client-key-data: " KEY_B64 "\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "users[u].client-certificate", missing, NULL);

    /* A directory is not a readable file. */
    write_kc(dir, "config", "    server: https://h\n    certificate-authority: .\n", "");
    load_fail(kc, CSM_ERR_IO, "clusters[c].certificate-authority", "Is a directory", NULL);

    load_fail(missing, CSM_ERR_NOT_FOUND, "No such file or directory", NULL);
}
END_TEST

/*
 * Loads path as an unprivileged user: root reads mode-000 files, and CI
 * runs as root, so there a forked child drops to "nobody" first (setgroups,
 * setgid, setuid; it cannot get root back). The child's result code and
 * message come back through a pipe; err receives the message.
 */
static csm_err load_unprivileged(const char *path, char *err, size_t errlen)
{
    int fds[2];
    pid_t pid;
    int status = 0;
    ssize_t got;
    size_t used = 0;

    if (geteuid() != 0) {
        csm_kauth *a = NULL;
        csm_err r = csm_kauth_from_kubeconfig(path, &a, err, errlen);
        csm_kauth_free(a);
        return r;
    }
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct passwd *pw = getpwnam("nobody");
        uid_t uid = pw ? pw->pw_uid : 65534;
        gid_t gid = pw ? pw->pw_gid : 65534;
        char msg[1024] = "";
        csm_kauth *a = NULL;
        csm_err r;

        close(fds[0]);
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0 || geteuid() == 0) {
            snprintf(msg, sizeof(msg), "cannot drop root: %s", strerror(errno));
            if (write(fds[1], msg, strlen(msg)) < 0)
                _exit(126);
            _exit(125);
        }
        r = csm_kauth_from_kubeconfig(path, &a, msg, sizeof(msg));
        csm_kauth_free(a);
        if (write(fds[1], msg, strlen(msg)) < 0)
            _exit(126);
        _exit((int)r);
    }
    close(fds[1]);
    while (used + 1 < errlen && (got = read(fds[0], err + used, errlen - 1 - used)) > 0)
        used += (size_t)got;
    err[used] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status), "child died: status %d", status);
    ck_assert_msg(WEXITSTATUS(status) != 125, "%s", err);
    return (csm_err)WEXITSTATUS(status);
}

START_TEST(test_unreadable_file)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    char ca[PATH_MAX];
    char err[1024] = "";
    csm_err r;

    fresh_dir(dir, sizeof(dir));
    /* The unprivileged child must reach the kubeconfig: only the CA is
     * unreadable. */
    ck_assert_int_eq(chmod(base_dir, 0711), 0);
    ck_assert_int_eq(chmod(dir, 0711), 0);
    write_file(dir, "ca.crt", CA_PEM);
    join(ca, sizeof(ca), dir, "ca.crt");
    ck_assert_int_eq(chmod(ca, 0), 0);
    write_kc(dir, "config", "    server: https://h\n    certificate-authority: ca.crt\n", "");
    join(kc, sizeof(kc), dir, "config");
    ck_assert_int_eq(chmod(kc, 0644), 0);
    r = load_unprivileged(kc, err, sizeof(err));
    ck_assert_msg(r == CSM_ERR_IO, "got %d, want %d: %s", r, CSM_ERR_IO, err);
    ck_assert_msg(strstr(err, "clusters[c].certificate-authority") != NULL &&
                      strstr(err, "Permission denied") != NULL,
                  "message \"%s\" lacks the CA field or \"Permission denied\"", err);
}
END_TEST

START_TEST(test_bad_base64)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    char err[1024];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    join(kc, sizeof(kc), dir, "config");

    write_file(dir, "config",
               "current-context: ctx\n"
               "contexts: [{name: ctx, context: {cluster: c, user: alice}}]\n"
               "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
               "users:\n"
               "- name: alice\n"
               "  user:\n"
               "    client-certificate-data: " CERT_B64 "\n"
               "    client-key-data: S0VZ$SECRETKEYBYTES\n");
    load_fail(kc, CSM_ERR_PARSE, "bad base64 in users[alice].client-key-data", "at byte 4", NULL);
    ck_assert_int_ne(csm_kauth_from_kubeconfig(kc, &a, err, sizeof(err)), CSM_OK);
    ck_assert_ptr_null(strstr(err, "SECRETKEY"));

    write_kc(dir, "config", "    server: https://h\n    certificate-authority-data: Q0E=Q0E=\n",
             "");
    load_fail(kc, CSM_ERR_PARSE, "bad base64 in clusters[c].certificate-authority-data", NULL);
    /* One leftover character is 6 bits: not a byte. */
    write_kc(dir, "config", "    server: https://h\n    certificate-authority-data: Q0EtU\n", "");
    load_fail(kc, CSM_ERR_PARSE, "bad base64 in clusters[c].certificate-authority-data", NULL);
    write_kc(dir, "config", "    server: https://h\n    certificate-authority-data: Q0E===\n", "");
    load_fail(kc, CSM_ERR_PARSE, "bad base64 in clusters[c].certificate-authority-data", NULL);
    write_kc(dir, "config", "    server: https://h\n    certificate-authority-data: Q0E-\n", "");
    load_fail(kc, CSM_ERR_PARSE, "bad base64 in clusters[c].certificate-authority-data", NULL);
}
END_TEST

START_TEST(test_bad_yaml_line_number)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];

    fresh_dir(dir, sizeof(dir));
    join(kc, sizeof(kc), dir, "config");
    write_file(dir, "config",
               "apiVersion: v1\n"
               "kind: Config\n"
               "current-context: a\n"
               "users: @oops\n");
    load_fail(kc, CSM_ERR_PARSE, "YAML syntax error at line 4", NULL);
    write_file(dir, "config",
               "apiVersion: v1\n"
               "clusters:\n"
               "- name: c\n"
               "  cluster:\n"
               "    server: https://h\n"
               "   bad: indent\n");
    load_fail(kc, CSM_ERR_PARSE, "YAML syntax error at line 6", NULL);
}
END_TEST

START_TEST(test_structure_errors)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];

    fresh_dir(dir, sizeof(dir));
    join(kc, sizeof(kc), dir, "config");

    write_file(dir, "config", "apiVersion: v1\nkind: Config\nclusters: []\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "missing current-context", NULL);

    write_file(dir, "config", "current-context: x\ncontexts:\n- name: y\n  context: {}\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "context \"x\" not found", NULL);

    write_file(dir, "config", "current-context: x\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "context \"x\" not found", NULL);

    write_file(dir, "config",
               "current-context: x\n"
               "contexts: [{name: x, context: {cluster: y}}]\n"
               "clusters: [{name: z, cluster: {server: 'https://h'}}]\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "cluster \"y\" not found (named by context \"x\")", NULL);

    write_file(dir, "config",
               "current-context: x\n"
               "contexts: [{name: x, context: {cluster: c, user: bob}}]\n"
               "clusters: [{name: c, cluster: {server: 'https://h'}}]\n"
               "users: [{name: alice, user: {token: t}}]\n");
    load_fail(kc, CSM_ERR_NOT_FOUND, "user \"bob\" not found", NULL);

    write_file(dir, "config", "current-context: x\ncontexts: [{name: x, context: {user: u}}]\n");
    load_fail(kc, CSM_ERR_INVALID, "contexts[x].cluster is missing", NULL);

    write_kc(dir, "config", "    certificate-authority-data: " CA_B64 "\n", "");
    load_fail(kc, CSM_ERR_INVALID, "clusters[c].server is missing", NULL);

    write_kc(dir, "config", "    server: ftp://h\n", "");
    load_fail(kc, CSM_ERR_INVALID, "clusters[c].server \"ftp://h\": scheme must be http or https",
              NULL);

    write_kc(dir, "config", "    server: \"https://h\\r\\n\"\n", "");
    load_fail(kc, CSM_ERR_INVALID,
              "clusters[c].server \"...\": contains whitespace or control characters", NULL);

    write_kc(dir, "config", "    server: https://\n", "");
    load_fail(kc, CSM_ERR_INVALID, "clusters[c].server \"https://\": no host", NULL);

    write_file(dir, "config", "current-context: x\ncontexts: {x: y}\n");
    load_fail(kc, CSM_ERR_TYPE, "contexts: expected a list", NULL);

    write_file(dir, "config", "current-context: [x]\n");
    load_fail(kc, CSM_ERR_TYPE, "current-context: expected a string", NULL);

    write_file(dir, "config", "- just\n- a list\n");
    load_fail(kc, CSM_ERR_TYPE, "expected a mapping at the top level", NULL);

    write_file(dir, "config", "");
    load_fail(kc, CSM_ERR_INVALID, "empty kubeconfig", NULL);

    write_kc(dir, "config", "    server: [a]\n", "");
    load_fail(kc, CSM_ERR_TYPE, "clusters[c].server: expected a string", NULL);
}
END_TEST

START_TEST(test_user_errors)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    char err[1024];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    join(kc, sizeof(kc), dir, "config");
    write_file(dir, "client.crt", CERT_PEM);

    write_kc(dir, "config", "    server: https://h\n", "    client-certificate: client.crt\n");
    load_fail(kc, CSM_ERR_INVALID, "users[u]: client-certificate needs client-key", NULL);

    write_kc(dir, "config", "    server: https://h\n", "    client-key-data: " KEY_B64 "\n");
    load_fail(kc, CSM_ERR_INVALID, "users[u]: client-key needs client-certificate", NULL);

    write_kc(dir, "config", "    server: https://h\n",
             "    client-certificate: client.crt\n"
             "    client-certificate-data: " CERT_B64 "\n"
             "    client-key-data: " KEY_B64 "\n");
    load_fail(kc, CSM_ERR_INVALID,
              "client-certificate-data and client-certificate are both specified", NULL);

    write_kc(dir, "config", "    server: https://h\n",
             "    exec:\n      command: aws\n      apiVersion: client.authentication.k8s.io/v1\n");
    load_fail(kc, CSM_ERR_INVALID, "users[u]: exec, auth-provider and basic auth are not supported",
              NULL);

    /* A control character would split the Authorization header; the
     * message must not echo the token. */
    write_kc(dir, "config", "    server: https://h\n", "    token: \"TOPSECRET\\r\\nX-Evil: 1\"\n");
    load_fail(kc, CSM_ERR_INVALID, "users[u].token contains control characters", NULL);
    ck_assert_int_ne(csm_kauth_from_kubeconfig(kc, &a, err, sizeof(err)), CSM_OK);
    ck_assert_ptr_null(strstr(err, "TOPSECRET"));
}
END_TEST

START_TEST(test_null_and_empty_fields)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    csm_kauth *a;

    fresh_dir(dir, sizeof(dir));
    join(kc, sizeof(kc), dir, "config");
    /* A user entry with no fields and nulls everywhere means no auth. */
    write_kc(dir, "config",
             "    server: https://h\n    certificate-authority: ~\n"
             "    certificate-authority-data: null\n    tls-server-name:\n",
             "    token: \"\"\n");
    a = load_ok(kc);
    ck_assert_ptr_null(a->ca_file);
    ck_assert_ptr_null(a->ca_data);
    ck_assert_ptr_null(a->tls_server_name);
    ck_assert_ptr_null(a->token);
    ck_assert_ptr_null(a->token_file);
    csm_kauth_free(a);
}
END_TEST

static void set_service_env(const char *host, const char *port)
{
    ck_assert_int_eq(setenv("KUBERNETES_SERVICE_HOST", host, 1), 0);
    ck_assert_int_eq(setenv("KUBERNETES_SERVICE_PORT", port, 1), 0);
}

static void make_sa_dir(char *dir, size_t len)
{
    fresh_dir(dir, len);
    write_file(dir, "token", "sa-token\n");
    write_file(dir, "ca.crt", CA_PEM);
}

START_TEST(test_in_cluster_ipv4)
{
    char dir[PATH_MAX];
    char want[PATH_MAX];
    char err[1024] = "";
    csm_kauth *a = NULL;
    const char *tok = NULL;

    make_sa_dir(dir, sizeof(dir));
    set_service_env("10.96.0.1", "443");
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://10.96.0.1:443");
    join(want, sizeof(want), dir, "token");
    ck_assert_str_eq(a->token_file, want);
    join(want, sizeof(want), dir, "ca.crt");
    ck_assert_str_eq(a->ca_file, want);
    ck_assert_ptr_null(a->token);
    ck_assert_int_eq(csm_kauth_bearer(a, 100, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "sa-token");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_in_cluster_ipv6)
{
    char dir[PATH_MAX];
    char err[1024] = "";
    csm_kauth *a = NULL;

    make_sa_dir(dir, sizeof(dir));
    set_service_env("fd00::1", "443");
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://[fd00::1]:443");
    csm_kauth_free(a);
    set_service_env("kubernetes.default.svc", "6443");
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://kubernetes.default.svc:6443");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_in_cluster_errors)
{
    char dir[PATH_MAX];
    char p[PATH_MAX];
    char err[1024] = "";
    csm_kauth *a = (csm_kauth *)1;

    make_sa_dir(dir, sizeof(dir));
    unsetenv("KUBERNETES_SERVICE_HOST");
    set_service_env("", "443");
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_ERR_NOT_FOUND);
    ck_assert_ptr_null(a);
    ck_assert_ptr_nonnull(strstr(err, "KUBERNETES_SERVICE_HOST"));
    unsetenv("KUBERNETES_SERVICE_PORT");
    ck_assert_int_eq(setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1), 0);
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_ERR_NOT_FOUND);

    set_service_env("10.0.0.1", "http");
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "KUBERNETES_SERVICE_PORT"));
    set_service_env("evil/host", "443");
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_ERR_INVALID);

    set_service_env("10.0.0.1", "443");
    join(p, sizeof(p), dir, "ca.crt");
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err, p));
    join(p, sizeof(p), dir, "token");
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(csm_kauth_in_cluster(dir, &a, err, sizeof(err)), CSM_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err, p));
    ck_assert_ptr_null(a);
}
END_TEST

START_TEST(test_token_rotation)
{
    char dir[PATH_MAX];
    char p[PATH_MAX];
    csm_kauth *a = calloc(1, sizeof(*a));
    const char *tok = NULL;

    ck_assert_ptr_nonnull(a);
    fresh_dir(dir, sizeof(dir));
    join(p, sizeof(p), dir, "token");
    a->token_file = strdup(p);
    ck_assert_ptr_nonnull(a->token_file);

    /* Nothing read yet and nothing to fall back on: an error. */
    ck_assert_int_eq(csm_kauth_bearer(a, 1000, 0, &tok), CSM_ERR_NOT_FOUND);
    ck_assert_ptr_null(tok);

    write_file(dir, "token", "one\r\n");
    ck_assert_int_eq(csm_kauth_bearer(a, 1000, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "one");

    write_file(dir, "token", "two\n");
    ck_assert_int_eq(csm_kauth_bearer(a, 1059, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "one"); /* cached: younger than 60 s */
    ck_assert_int_eq(csm_kauth_bearer(a, 1059, 1, &tok), CSM_OK);
    ck_assert_str_eq(tok, "two"); /* forced, as after a 401 */

    write_file(dir, "token", "three");
    ck_assert_int_eq(csm_kauth_bearer(a, 1118, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "two"); /* the force reset the clock at 1059 */
    ck_assert_int_eq(csm_kauth_bearer(a, 1119, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "three");

    /* Failed re-reads keep the old token: missing, then empty. */
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(csm_kauth_bearer(a, 1200, 1, &tok), CSM_OK);
    ck_assert_str_eq(tok, "three");
    write_file(dir, "token", " \n");
    ck_assert_int_eq(csm_kauth_bearer(a, 1300, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "three");
    /* ... and retry on the next call rather than caching the failure. */
    write_file(dir, "token", "four\n");
    ck_assert_int_eq(csm_kauth_bearer(a, 1301, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "four");

    /* A clock that jumped backwards forces a re-read. */
    write_file(dir, "token", "five");
    ck_assert_int_eq(csm_kauth_bearer(a, 500, 0, &tok), CSM_OK);
    ck_assert_str_eq(tok, "five");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_token_file_content_rules)
{
    char dir[PATH_MAX];
    char p[PATH_MAX];
    csm_kauth *a = calloc(1, sizeof(*a));
    const char *tok = NULL;
    char *big;

    ck_assert_ptr_nonnull(a);
    fresh_dir(dir, sizeof(dir));
    join(p, sizeof(p), dir, "token");
    a->token_file = strdup(p);

    write_file(dir, "token", "\n\n");
    ck_assert_int_eq(csm_kauth_bearer(a, 0, 1, &tok), CSM_ERR_INVALID);
    write_file(dir, "token", "ab\r\nX-Evil: 1\n");
    ck_assert_int_eq(csm_kauth_bearer(a, 0, 1, &tok), CSM_ERR_INVALID);
    big = malloc(70000);
    ck_assert_ptr_nonnull(big);
    memset(big, 'x', 69999);
    big[69999] = '\0';
    write_file(dir, "token", big);
    free(big);
    ck_assert_int_eq(csm_kauth_bearer(a, 0, 1, &tok), CSM_ERR_TOO_LARGE);
    ck_assert_ptr_null(tok);

    /* With a static token as well, it is the fallback until the file reads. */
    a->token = strdup("static");
    ck_assert_int_eq(csm_kauth_bearer(a, 0, 1, &tok), CSM_OK);
    ck_assert_str_eq(tok, "static");
    write_file(dir, "token", "  from-file\t\n");
    ck_assert_int_eq(csm_kauth_bearer(a, 0, 1, &tok), CSM_OK);
    ck_assert_str_eq(tok, "from-file");
    csm_kauth_free(a);
    csm_kauth_free(NULL);
    ck_assert_int_eq(csm_kauth_bearer(NULL, 0, 0, &tok), CSM_ERR_INVALID);
}
END_TEST

static void clear_env(void)
{
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

START_TEST(test_load_order)
{
    char dir[PATH_MAX];
    char a_kc[PATH_MAX];
    char list[2 * PATH_MAX + 8];
    char home[PATH_MAX];
    char err[1024] = "";
    csm_kauth *a = NULL;

    fresh_dir(dir, sizeof(dir));
    write_kc(dir, "a", "    server: https://from-a\n", "");
    write_kc(dir, "b", "    server: https://from-b\n", "");
    join(home, sizeof(home), dir, "home");
    ck_assert_int_eq(mkdir(home, 0700), 0);
    ck_assert_int_eq(mkdir(strcat(strcpy(list, home), "/.kube"), 0700), 0);
    write_kc(home, ".kube/config", "    server: https://from-home\n", "");
    join(a_kc, sizeof(a_kc), dir, "a");
    clear_env();
    ck_assert_int_eq(setenv("HOME", home, 1), 0);

    /* --kubeconfig beats everything. */
    snprintf(list, sizeof(list), ":%s/b:%s", dir, a_kc);
    ck_assert_int_eq(setenv("KUBECONFIG", list, 1), 0);
    set_service_env("10.0.0.1", "443");
    ck_assert_int_eq(csm_kauth_load(a_kc, NULL, &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://from-a");
    csm_kauth_free(a);

    /* Then the first non-empty $KUBECONFIG entry. */
    ck_assert_int_eq(csm_kauth_load(NULL, NULL, &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://from-b");
    csm_kauth_free(a);

    /* Then in-cluster: the default SA dir, which a test host lacks. */
    unsetenv("KUBECONFIG");
    a = NULL;
    if (csm_kauth_load(NULL, NULL, &a, err, sizeof(err)) == CSM_OK)
        ck_assert_str_eq(a->server, "https://10.0.0.1:443");
    else
        ck_assert_msg(strstr(err, "in-cluster") != NULL, "not in-cluster: %s", err);
    csm_kauth_free(a);

    /* Then ~/.kube/config. */
    clear_env();
    ck_assert_int_eq(csm_kauth_load("", NULL, &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://from-home");
    csm_kauth_free(a);
}
END_TEST

START_TEST(test_load_apiserver)
{
    char dir[PATH_MAX];
    char kc[PATH_MAX];
    char err[1024] = "";
    csm_kauth *a = NULL;

    fresh_dir(dir, sizeof(dir));
    write_file(dir, "ca.crt", CA_PEM);
    write_kc(dir, "config", "    server: https://from-file\n    certificate-authority: ca.crt\n",
             "    token: t\n");
    join(kc, sizeof(kc), dir, "config");
    clear_env();
    ck_assert_int_eq(setenv("HOME", dir, 1), 0); /* no .kube/config there */

    /* Overrides the server, keeps the rest. */
    ck_assert_int_eq(csm_kauth_load(kc, "https://override:6443/", &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://override:6443");
    ck_assert_str_eq(a->token, "t");
    ck_assert_ptr_nonnull(a->ca_file);
    csm_kauth_free(a);

    /* A kubeconfig without a server is fine when --apiserver gives one. */
    write_kc(dir, "config", "    insecure-skip-tls-verify: true\n", "");
    ck_assert_int_eq(csm_kauth_load(kc, "override:1", &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "https://override:1");
    ck_assert_int_eq(a->insecure, 1);
    csm_kauth_free(a);
    ck_assert_int_eq(csm_kauth_load(kc, NULL, &a, err, sizeof(err)), CSM_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "server is missing"));

    /* Alone: a server and nothing else. */
    ck_assert_int_eq(csm_kauth_load(NULL, "http://127.0.0.1:8001", &a, err, sizeof(err)), CSM_OK);
    ck_assert_str_eq(a->server, "http://127.0.0.1:8001");
    ck_assert_ptr_null(a->token);
    ck_assert_ptr_null(a->token_file);
    ck_assert_ptr_null(a->ca_file);
    ck_assert_ptr_null(a->cert_file);
    csm_kauth_free(a);

    ck_assert_int_eq(csm_kauth_load(NULL, "ftp://x", &a, err, sizeof(err)), CSM_ERR_INVALID);
    ck_assert_ptr_null(a);
    ck_assert_str_eq(err, "--apiserver \"ftp://x\": scheme must be http or https");

    /* Nothing at all. */
    ck_assert_int_eq(csm_kauth_load(NULL, NULL, &a, err, sizeof(err)), CSM_ERR_NOT_FOUND);
    ck_assert_ptr_null(a);
    ck_assert_ptr_nonnull(strstr(err, "--kubeconfig"));
    unsetenv("HOME");
    ck_assert_int_eq(csm_kauth_load(NULL, NULL, &a, err, sizeof(err)), CSM_ERR_NOT_FOUND);
}
END_TEST

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    chmod(path, 0700);
    return remove(path);
}

int main(void)
{
    Suite *s = suite_create("kubeconfig");
    TCase *tc = tcase_create("core");
    const char *tmp = getenv("TMPDIR");
    int failed;

    snprintf(base_dir, sizeof(base_dir), "%s/check-kubeconfig-XXXXXX",
             tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    tcase_add_test(tc, test_token_and_ca_data);
    tcase_add_test(tc, test_token_file_relative);
    tcase_add_test(tc, test_static_token_wins_over_token_file);
    tcase_add_test(tc, test_client_cert_files_and_ca_file);
    tcase_add_test(tc, test_relative_kubeconfig_path);
    tcase_add_test(tc, test_data_forms);
    tcase_add_test(tc, test_ca_file_and_data_both);
    tcase_add_test(tc, test_insecure);
    tcase_add_test(tc, test_current_context_selects);
    tcase_add_test(tc, test_json_kubeconfig);
    tcase_add_test(tc, test_missing_referenced_files);
    tcase_add_test(tc, test_unreadable_file);
    tcase_add_test(tc, test_bad_base64);
    tcase_add_test(tc, test_bad_yaml_line_number);
    tcase_add_test(tc, test_structure_errors);
    tcase_add_test(tc, test_user_errors);
    tcase_add_test(tc, test_null_and_empty_fields);
    tcase_add_test(tc, test_in_cluster_ipv4);
    tcase_add_test(tc, test_in_cluster_ipv6);
    tcase_add_test(tc, test_in_cluster_errors);
    tcase_add_test(tc, test_token_rotation);
    tcase_add_test(tc, test_token_file_content_rules);
    tcase_add_test(tc, test_load_order);
    tcase_add_test(tc, test_load_apiserver);
    suite_add_tcase(s, tc);
    failed = csm_check_run(s);
    nftw(base_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

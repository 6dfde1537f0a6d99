#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "flags.h"

#define MAXARGS 32

/*
 * Runs csm_flags_parse on "prog" followed by the NULL-terminated strings.
 * getopt never writes to argv strings and the parser does not permute, so
 * literals are safe to pass.
 */
static csm_err parse(csm_config *cfg, char *err, size_t errlen, ...)
{
    char *argv[MAXARGS + 2];
    int argc = 0;
    const char *a;
    va_list ap;

    argv[argc++] = "prog";
    va_start(ap, errlen);
    for (;;) {
        a = va_arg(ap, const char *);
        if (!a)
            break;
        ck_assert_int_lt(argc, MAXARGS);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    return csm_flags_parse(argc, argv, cfg, err, errlen);
}

static void assert_zeroed(const csm_config *cfg)
{
    ck_assert_ptr_null(cfg->resources);
    ck_assert_uint_eq(cfg->nresources, 0);
    ck_assert_ptr_null(cfg->host);
    ck_assert_ptr_null(cfg->telemetry_host);
    ck_assert_ptr_null(cfg->namespaces.items);
    ck_assert_int_eq(cfg->port, 0);
}

/* Expects CSM_ERR_USAGE with exactly `msg`, and a freed config. */
static void expect_msg(const char *msg, ...)
{
    char *argv[MAXARGS + 2];
    int argc = 0;
    const char *a;
    char err[512];
    csm_config cfg;
    va_list ap;

    argv[argc++] = "prog";
    va_start(ap, msg);
    for (;;) {
        a = va_arg(ap, const char *);
        if (!a)
            break;
        ck_assert_int_lt(argc, MAXARGS);
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    ck_assert_int_eq(csm_flags_parse(argc, argv, &cfg, err, sizeof(err)), CSM_ERR_USAGE);
    ck_assert_str_eq(err, msg);
    assert_zeroed(&cfg);
}

START_TEST(test_defaults)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "example.com/v1/Foo", NULL),
                     CSM_OK);
    ck_assert_str_eq(err, "");
    ck_assert_uint_eq(cfg.nresources, 1);
    ck_assert_uint_eq(cfg.namespaces.n, 0);
    ck_assert_uint_eq(cfg.namespaces_deny.n, 0);
    ck_assert_ptr_null(cfg.label_selector);
    ck_assert_ptr_null(cfg.field_selector);
    ck_assert_ptr_null(cfg.kubeconfig);
    ck_assert_ptr_null(cfg.apiserver);
    ck_assert_str_eq(cfg.host, "::");
    ck_assert_int_eq(cfg.port, 8389);
    ck_assert_str_eq(cfg.telemetry_host, "::");
    ck_assert_int_eq(cfg.telemetry_port, 8390);
    ck_assert_int_eq(cfg.log_level, CSM_LOG_INFO);
    ck_assert_int_eq(cfg.log_format, CSM_LOG_TEXT);
    ck_assert_int_eq(cfg.show_help, 0);
    ck_assert_int_eq(cfg.show_version, 0);
    csm_config_free(&cfg);
    assert_zeroed(&cfg);
}
END_TEST

START_TEST(test_every_flag_separate_form)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource",
                           "cache.example.com/v1alpha1/Memcached", "--namespaces", "a,b",
                           "--label-selector", "app=x,tier!=db", "--field-selector",
                           "metadata.name=m", "--kubeconfig", "/k/config", "--apiserver",
                           "https://k:6443", "--host", "127.0.0.1", "--port", "9000",
                           "--telemetry-host", "0.0.0.0", "--telemetry-port", "9001", "--log-level",
                           "debug", "--log-format", "json", "--help", "--version", NULL),
                     CSM_OK);
    ck_assert_str_eq(cfg.resources[0].group, "cache.example.com");
    ck_assert_str_eq(cfg.resources[0].version, "v1alpha1");
    ck_assert_str_eq(cfg.resources[0].kind, "Memcached");
    ck_assert_uint_eq(cfg.namespaces.n, 2);
    ck_assert_str_eq(cfg.namespaces.items[0], "a");
    ck_assert_str_eq(cfg.namespaces.items[1], "b");
    /* Selectors contain commas and must not be split like lists. */
    ck_assert_str_eq(cfg.label_selector, "app=x,tier!=db");
    ck_assert_str_eq(cfg.field_selector, "metadata.name=m");
    ck_assert_str_eq(cfg.kubeconfig, "/k/config");
    ck_assert_str_eq(cfg.apiserver, "https://k:6443");
    ck_assert_str_eq(cfg.host, "127.0.0.1");
    ck_assert_int_eq(cfg.port, 9000);
    ck_assert_str_eq(cfg.telemetry_host, "0.0.0.0");
    ck_assert_int_eq(cfg.telemetry_port, 9001);
    ck_assert_int_eq(cfg.log_level, CSM_LOG_DEBUG);
    ck_assert_int_eq(cfg.log_format, CSM_LOG_JSON);
    ck_assert_int_eq(cfg.show_help, 1);
    ck_assert_int_eq(cfg.show_version, 1);
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_every_flag_equals_form)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource=v1/ConfigMap",
                           "--namespaces-denylist=kube-system", "--label-selector=a=b",
                           "--field-selector=x=y", "--kubeconfig=kc", "--apiserver=h:1",
                           "--host=::1", "--port=0", "--telemetry-host=localhost",
                           "--telemetry-port=65535", "--log-level=warn", "--log-format=text", NULL),
                     CSM_OK);
    ck_assert_str_eq(cfg.resources[0].group, "");
    ck_assert_str_eq(cfg.resources[0].version, "v1");
    ck_assert_str_eq(cfg.resources[0].kind, "ConfigMap");
    ck_assert_uint_eq(cfg.namespaces.n, 0);
    ck_assert_uint_eq(cfg.namespaces_deny.n, 1);
    ck_assert_str_eq(cfg.namespaces_deny.items[0], "kube-system");
    /* Only the first '=' separates the flag from its value. */
    ck_assert_str_eq(cfg.label_selector, "a=b");
    ck_assert_str_eq(cfg.field_selector, "x=y");
    ck_assert_str_eq(cfg.kubeconfig, "kc");
    ck_assert_str_eq(cfg.apiserver, "h:1");
    ck_assert_str_eq(cfg.host, "::1");
    ck_assert_int_eq(cfg.port, 0);
    ck_assert_str_eq(cfg.telemetry_host, "localhost");
    ck_assert_int_eq(cfg.telemetry_port, 65535);
    ck_assert_int_eq(cfg.log_level, CSM_LOG_WARN);
    ck_assert_int_eq(cfg.log_format, CSM_LOG_TEXT);
    ck_assert_int_eq(cfg.show_help, 0);
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_resources_repeated_and_comma)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "a.io/v1/A,v1/Pod",
                           "--resource=b.io/v2beta1/B", "--resource", "apps/v1/Deployment", NULL),
                     CSM_OK);
    ck_assert_uint_eq(cfg.nresources, 4);
    ck_assert_str_eq(cfg.resources[0].group, "a.io");
    ck_assert_str_eq(cfg.resources[0].kind, "A");
    ck_assert_str_eq(cfg.resources[1].group, "");
    ck_assert_str_eq(cfg.resources[1].kind, "Pod");
    ck_assert_str_eq(cfg.resources[2].group, "b.io");
    ck_assert_str_eq(cfg.resources[2].version, "v2beta1");
    ck_assert_str_eq(cfg.resources[3].group, "apps");
    ck_assert_str_eq(cfg.resources[3].kind, "Deployment");
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_resource_errors)
{
    expect_msg("--resource \"foo\": expected GROUP/VERSION/KIND or VERSION/KIND", "--resource",
               "foo", NULL);
    expect_msg("--resource \"a/b/c/D\": expected GROUP/VERSION/KIND or VERSION/KIND", "--resource",
               "a/b/c/D", NULL);
    expect_msg("--resource \"x.io/v1/Foo/\": expected GROUP/VERSION/KIND or VERSION/KIND",
               "--resource=x.io/v1/Foo/", NULL);
    expect_msg("--resource \"x.io/v1/9lives\": kind \"9lives\" must match [A-Za-z][A-Za-z0-9]*",
               "--resource", "x.io/v1/9lives", NULL);
    expect_msg("--resource \"x.io/v1/Foo-Bar\": kind \"Foo-Bar\" must match [A-Za-z][A-Za-z0-9]*",
               "--resource", "x.io/v1/Foo-Bar", NULL);
    expect_msg("--resource \"x.io/v1/\": kind \"\" must match [A-Za-z][A-Za-z0-9]*", "--resource",
               "x.io/v1/", NULL);
    expect_msg("--resource \"x.io/V1/Foo\": version \"V1\" must match [a-z0-9]+", "--resource",
               "x.io/V1/Foo", NULL);
    expect_msg("--resource \"example.com/Foo\": version \"example.com\" must match [a-z0-9]+",
               "--resource", "example.com/Foo", NULL);
    expect_msg("--resource \"X_Y.io/v1/Foo\": group \"X_Y.io\" is not a DNS subdomain",
               "--resource", "X_Y.io/v1/Foo", NULL);
    expect_msg("--resource \"a..b/v1/Foo\": group \"a..b\" is not a DNS subdomain", "--resource",
               "a..b/v1/Foo", NULL);
    expect_msg("--resource \"/v1/Foo\": empty group; use VERSION/KIND for the core group",
               "--resource", "/v1/Foo", NULL);
    expect_msg("--resource \"v1/Pod,\": empty item in comma-separated list", "--resource",
               "v1/Pod,", NULL);
    expect_msg("--resource \"\": empty item in comma-separated list", "--resource=", NULL);
    expect_msg("--resource \"v1/Pod\": duplicates \"v1/Pod\"", "--resource", "v1/Pod", "--resource",
               "v1/Pod", NULL);
    expect_msg("--resource \"a.io/v2/Foo\": duplicates \"a.io/v1/Foo\"", "--resource",
               "a.io/v1/Foo,a.io/v2/Foo", NULL);
}
END_TEST

START_TEST(test_same_kind_other_group_is_not_duplicate)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "a.io/v1/Foo,b.io/v1/Foo", NULL),
                     CSM_OK);
    ck_assert_uint_eq(cfg.nresources, 2);
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_port_errors)
{
    expect_msg("invalid value \"abc\" for --port: must be an integer in 0..65535", "--resource",
               "v1/Pod", "--port", "abc", NULL);
    expect_msg("invalid value \"65536\" for --port: must be an integer in 0..65535", "--resource",
               "v1/Pod", "--port=65536", NULL);
    expect_msg("invalid value \"-1\" for --port: must be an integer in 0..65535", "--resource",
               "v1/Pod", "--port=-1", NULL);
    expect_msg("invalid value \"+80\" for --port: must be an integer in 0..65535", "--resource",
               "v1/Pod", "--port=+80", NULL);
    expect_msg("invalid value \" 80\" for --port: must be an integer in 0..65535", "--resource",
               "v1/Pod", "--port", " 80", NULL);
    expect_msg("invalid value \"0x50\" for --port: must be an integer in 0..65535", "--resource",
               "v1/Pod", "--port", "0x50", NULL);
    expect_msg("invalid value \"99999999999999999999\" for --port: must be an integer in "
               "0..65535",
               "--resource", "v1/Pod", "--port", "99999999999999999999", NULL);
    expect_msg("invalid value \"\" for --port: must be an integer in 0..65535", "--resource",
               "v1/Pod", "--port=", NULL);
    expect_msg("invalid value \"8o\" for --telemetry-port: must be an integer in 0..65535",
               "--resource", "v1/Pod", "--telemetry-port", "8o", NULL);
}
END_TEST

START_TEST(test_budget_flags)
{
    csm_config cfg;
    char err[512] = "";

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", NULL), CSM_OK);
    ck_assert_int_eq(cfg.max_labels_per_sample, 256);
    ck_assert_int_eq(cfg.max_series, 0);
    ck_assert_int_eq(cfg.max_series_per_resource, 0);
    csm_config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod",
                           "--max-labels-per-sample", "0", "--max-series", "999999999",
                           "--max-series-per-resource=5000", NULL),
                     CSM_OK);
    ck_assert_int_eq(cfg.max_labels_per_sample, 0);
    ck_assert_int_eq(cfg.max_series, 999999999);
    ck_assert_int_eq(cfg.max_series_per_resource, 5000);
    csm_config_free(&cfg);
    expect_msg("invalid value \"1e6\" for --max-series: must be an integer in 0..999999999",
               "--resource", "v1/Pod", "--max-series", "1e6", NULL);
    expect_msg("invalid value \"1000000000\" for --max-series-per-resource: must be an integer "
               "in 0..999999999",
               "--resource", "v1/Pod", "--max-series-per-resource", "1000000000", NULL);
    expect_msg("invalid value \"-1\" for --max-labels-per-sample: must be an integer in "
               "0..1000000",
               "--resource", "v1/Pod", "--max-labels-per-sample", "-1", NULL);
}
END_TEST

START_TEST(test_port_leading_zeros)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--port", "00080", NULL),
                     CSM_OK);
    ck_assert_int_eq(cfg.port, 80);
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_log_flags)
{
    static const struct {
        const char *s;
        csm_log_level l;
    } levels[] = {{"debug", CSM_LOG_DEBUG},
                  {"info", CSM_LOG_INFO},
                  {"warn", CSM_LOG_WARN},
                  {"error", CSM_LOG_ERROR}};
    csm_config cfg;
    char err[256];

    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        ck_assert_int_eq(
            parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--log-level", levels[i].s, NULL),
            CSM_OK);
        ck_assert_int_eq(cfg.log_level, levels[i].l);
        csm_config_free(&cfg);
    }
    expect_msg("invalid value \"loud\" for --log-level: must be one of debug, info, warn, error",
               "--resource", "v1/Pod", "--log-level", "loud", NULL);
    expect_msg("invalid value \"yaml\" for --log-format: must be text or json", "--resource",
               "v1/Pod", "--log-format=yaml", NULL);
}
END_TEST

START_TEST(test_unknown_and_malformed_flags)
{
    expect_msg("unknown flag --bogus", "--resource", "v1/Pod", "--bogus", NULL);
    expect_msg("unknown flag --bogus", "--bogus=1", "--resource", "v1/Pod", NULL);
    expect_msg("unknown flag -x", "-x", NULL);
    /* getopt_long alone would take the prefix as --resource. */
    expect_msg("unknown flag --res (did you mean --resource?)", "--res", "v1/Pod", NULL);
    /* "--po" is ambiguous since --pod; "--por" still names --port alone. */
    expect_msg("unknown flag --por (did you mean --port?)", "--resource", "v1/Pod", "--por=1",
               NULL);
    expect_msg("flag --help does not take a value", "--help=yes", NULL);
    expect_msg("flag --port needs a value", "--resource", "v1/Pod", "--port", NULL);
    expect_msg("flag --kubeconfig needs a value, got flag --port (use --kubeconfig=VALUE for a "
               "value starting with --)",
               "--resource", "v1/Pod", "--kubeconfig", "--port", "1", NULL);
    expect_msg("invalid value \"\" for --kubeconfig: must not be empty", "--resource", "v1/Pod",
               "--kubeconfig=", NULL);
    expect_msg("invalid value \"\" for --apiserver: must not be empty", "--resource", "v1/Pod",
               "--apiserver", "", NULL);
    expect_msg("invalid value \"\" for --host: must not be empty", "--resource", "v1/Pod",
               "--host=", NULL);
    expect_msg("invalid value \"\" for --telemetry-host: must not be empty", "--resource", "v1/Pod",
               "--telemetry-host=", NULL);
}
END_TEST

START_TEST(test_positional_arguments)
{
    expect_msg("unexpected argument: \"stray\"", "--resource", "v1/Pod", "stray", NULL);
    /* Parsing stops at the first positional, so what follows is named too. */
    expect_msg("unexpected arguments: \"a\" \"--port\" \"1\"", "--resource", "v1/Pod", "a",
               "--port", "1", NULL);
    expect_msg("unexpected argument: \"x\"", "--resource", "v1/Pod", "--", "x", NULL);
    expect_msg("unexpected argument: \"-\"", "--resource", "v1/Pod", "-", NULL);
}
END_TEST

START_TEST(test_resource_required_unless_help_or_version)
{
    csm_config cfg;
    char err[256];

    expect_msg("missing --resource: name at least one resource (or a --config "
               "that does)",
               NULL);
    expect_msg("missing --resource: name at least one resource (or a --config "
               "that does)",
               "--port", "1", NULL);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--help", NULL), CSM_OK);
    ck_assert_int_eq(cfg.show_help, 1);
    csm_config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "-h", NULL), CSM_OK);
    ck_assert_int_eq(cfg.show_help, 1);
    csm_config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--version", NULL), CSM_OK);
    ck_assert_int_eq(cfg.show_version, 1);
    ck_assert_int_eq(cfg.show_help, 0);
    csm_config_free(&cfg);
    /* --help does not excuse a malformed flag. */
    expect_msg("unknown flag --bogus", "--help", "--bogus", NULL);
}
END_TEST

START_TEST(test_namespaces)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--namespaces",
                           "default,team-a", "--namespaces=b", NULL),
                     CSM_OK);
    ck_assert_uint_eq(cfg.namespaces.n, 3);
    ck_assert_str_eq(cfg.namespaces.items[0], "default");
    ck_assert_str_eq(cfg.namespaces.items[1], "team-a");
    ck_assert_str_eq(cfg.namespaces.items[2], "b");
    csm_config_free(&cfg);

    expect_msg("--namespaces \"a,,b\": empty item in comma-separated list", "--resource", "v1/Pod",
               "--namespaces", "a,,b", NULL);
    expect_msg("--namespaces \"\": empty item in comma-separated list", "--resource", "v1/Pod",
               "--namespaces=", NULL);
    expect_msg("--namespaces-denylist \",a\": empty item in comma-separated list", "--resource",
               "v1/Pod", "--namespaces-denylist", ",a", NULL);
    expect_msg("--namespaces \"Team\": not a valid namespace name (RFC 1123 label)", "--resource",
               "v1/Pod", "--namespaces", "ok,Team", NULL);
    expect_msg("--namespaces-denylist \"-x\": not a valid namespace name (RFC 1123 label)",
               "--resource", "v1/Pod", "--namespaces-denylist", "-x", NULL);
    expect_msg("--namespaces \"a\": namespace listed twice", "--resource", "v1/Pod", "--namespaces",
               "a,b", "--namespaces", "a", NULL);
}
END_TEST

START_TEST(test_namespaces_mutually_exclusive)
{
    expect_msg("--namespaces and --namespaces-denylist are mutually exclusive", "--resource",
               "v1/Pod", "--namespaces", "a", "--namespaces-denylist", "b", NULL);
    expect_msg("--namespaces and --namespaces-denylist are mutually exclusive", "--resource",
               "v1/Pod", "--namespaces-denylist=b", "--namespaces=a", NULL);
}
END_TEST

START_TEST(test_port_clash)
{
    csm_config cfg;
    char err[256];

    expect_msg("--port and --telemetry-port are both 8390 on the same host", "--resource", "v1/Pod",
               "--port", "8390", NULL);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--port", "8390",
                           "--telemetry-host", "127.0.0.1", NULL),
                     CSM_OK);
    csm_config_free(&cfg);
    /* Port 0 picks a free port per listener; no clash. */
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--port", "0",
                           "--telemetry-port=0", NULL),
                     CSM_OK);
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_last_scalar_wins_and_empty_selector)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--host", "a", "--host",
                           "b", "--port", "1", "--port", "2", "--label-selector", "x",
                           "--label-selector=", "--kubeconfig", "k1", "--kubeconfig", "k2", NULL),
                     CSM_OK);
    ck_assert_str_eq(cfg.host, "b");
    ck_assert_int_eq(cfg.port, 2);
    ck_assert_ptr_null(cfg.label_selector);
    ck_assert_str_eq(cfg.kubeconfig, "k2");
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_reparse_after_error)
{
    csm_config cfg;
    char err[256];

    /* An error mid-argv leaves getopt's optind in the middle; the next
     * call must start over. */
    ck_assert_int_eq(
        parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--port", "x", "--host", "h", NULL),
        CSM_ERR_USAGE);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--port", "7", "--resource", "v1/Pod", NULL),
                     CSM_OK);
    ck_assert_int_eq(cfg.port, 7);
    ck_assert_uint_eq(cfg.nresources, 1);
    csm_config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Secret", NULL), CSM_OK);
    ck_assert_int_eq(cfg.port, 8389);
    ck_assert_str_eq(cfg.resources[0].kind, "Secret");
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_message_is_one_line)
{
    csm_config cfg;
    char err[512];
    char big[300];

    ck_assert_int_eq(
        parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--port", "1\n2\"\\", NULL),
        CSM_ERR_USAGE);
    ck_assert_str_eq(err, "invalid value \"1\\x0a2\\x22\\x5c\" for --port: must be an integer in "
                          "0..65535");
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/Pod", "--port", big, NULL),
                     CSM_ERR_USAGE);
    ck_assert_ptr_nonnull(strstr(err, "aaa...\" for --port"));
    ck_assert_uint_lt(strlen(err), 200);
    /* A tiny buffer is truncated, never overrun. */
    ck_assert_int_eq(parse(&cfg, err, 8, "--bogus", NULL), CSM_ERR_USAGE);
    ck_assert_str_eq(err, "unknown");
    ck_assert_int_eq(parse(&cfg, NULL, 0, "--bogus", NULL), CSM_ERR_USAGE);
}
END_TEST

START_TEST(test_usage_lists_every_flag)
{
    static const char *const expect[] = {
        "--resource GROUP/VERSION/KIND",
        "--namespaces NS",
        "--namespaces-denylist NS",
        "--label-selector SELECTOR",
        "--field-selector SELECTOR",
        "--kubeconfig PATH",
        "--apiserver URL",
        "--host ADDR",
        "--port PORT",
        "--telemetry-host ADDR",
        "--telemetry-port PORT",
        "--log-level LEVEL",
        "--log-format FORMAT",
        "-h, --help",
        "--version",
        "(default 8389)",
        "(default 8390)",
        "(default ::)",
        "(default info)",
        "(default text)",
        "Usage: myprog ",
    };
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(csm_flags_usage(f, "myprog"), CSM_OK);
    fclose(f);
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
        ck_assert_msg(strstr(text, expect[i]) != NULL, "help lacks \"%s\"", expect[i]);
    free(text);
    ck_assert_int_eq(csm_flags_usage(NULL, "x"), CSM_ERR_INVALID);
}
END_TEST

/* A stream every write to fails with ENOSPC, as /dev/full does, but it
 * exists on every system (fopencookie), so the check always runs. */
static ssize_t full_write(void *cookie, const char *buf, size_t len)
{
    (void)cookie;
    (void)buf;
    (void)len;
    errno = ENOSPC;
    return -1;
}

START_TEST(test_usage_write_error)
{
    cookie_io_functions_t io = {.write = full_write};
    FILE *f = fopencookie(NULL, "w", io);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(csm_flags_usage(f, "p"), CSM_ERR_IO);
    fclose(f);
}
END_TEST

START_TEST(test_free_zeroed_and_null)
{
    csm_config cfg;

    memset(&cfg, 0, sizeof(cfg));
    csm_config_free(&cfg);
    csm_config_free(&cfg);
    csm_config_free(NULL);
}
END_TEST

START_TEST(test_generator_flags)
{
    csm_config cfg;
    char err[512];

    ck_assert_int_eq(
        parse(&cfg, err, sizeof(err), "--resource", "g.io/v1/K", "--generators", "info,labels",
              "--generators", "ks=[info,status],*=[info]", "--metric-labels-allowlist",
              "ks=[app,tier],*=[*]", "--metric-annotations-allowlist=ks=[owner]",
              "--metric-denylist", "k_created,.*_labels", "--metric-denylist", "x", "--config",
              "/etc/crs.yaml", "--generator-plugin", "/p/a.so", "--generator-plugin=b.so", NULL),
        CSM_OK);
    /* A repeated --generators replaces; the regex lists accumulate. */
    ck_assert_str_eq(cfg.generators, "ks=[info,status],*=[info]");
    ck_assert_str_eq(cfg.labels_allowlist, "ks=[app,tier],*=[*]");
    ck_assert_str_eq(cfg.annotations_allowlist, "ks=[owner]");
    ck_assert_uint_eq(cfg.metric_denylist.n, 3);
    ck_assert_str_eq(cfg.metric_denylist.items[1], ".*_labels");
    ck_assert_uint_eq(cfg.metric_allowlist.n, 0);
    ck_assert_str_eq(cfg.config_file, "/etc/crs.yaml");
    ck_assert_uint_eq(cfg.plugins.n, 2);
    ck_assert_str_eq(cfg.plugins.items[1], "b.so");
    csm_config_free(&cfg);
    assert_zeroed(&cfg);

    /* Defaults: nothing set. A --config alone is enough. */
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--config", "c.yaml", NULL), CSM_OK);
    ck_assert_uint_eq(cfg.nresources, 0);
    ck_assert_ptr_null(cfg.generators);
    ck_assert_ptr_null(cfg.labels_allowlist);
    ck_assert_ptr_null(cfg.annotations_allowlist);
    ck_assert_uint_eq(cfg.plugins.n, 0);
    csm_config_free(&cfg);
}
END_TEST

START_TEST(test_generator_flag_errors)
{
    expect_msg("--metric-allowlist and --metric-denylist are mutually exclusive", "--resource",
               "v1/A", "--metric-allowlist", "a", "--metric-denylist", "b", NULL);
    expect_msg("--metric-allowlist: invalid regular expression \"a(b\": Unmatched ( or \\(",
               "--resource", "v1/A", "--metric-allowlist", "x,a(b", NULL);
    expect_msg("--metric-denylist \"a,,b\": empty item in comma-separated list", "--resource",
               "v1/A", "--metric-denylist", "a,,b", NULL);
    expect_msg("invalid value \"ks=[a\" for --metric-labels-allowlist: \"ks\": expected "
               "[ITEM,...] after '='",
               "--resource", "v1/A", "--metric-labels-allowlist", "ks=[a", NULL);
    expect_msg("invalid value \"app,tier\" for --metric-annotations-allowlist: \"app,tier\": "
               "expected RESOURCE=[ITEM,...]",
               "--resource", "v1/A", "--metric-annotations-allowlist", "app,tier", NULL);
    expect_msg("invalid value \"info,,labels\" for --generators: an empty item in the list of "
               "\"*\"",
               "--resource", "v1/A", "--generators", "info,,labels", NULL);
    expect_msg("invalid value \"\" for --config: must not be empty", "--config=", NULL);
    expect_msg("invalid value \"\" for --generator-plugin: must not be empty", "--resource", "v1/A",
               "--generator-plugin=", NULL);
    expect_msg("missing --resource: name at least one resource (or a --config that does)",
               "--generators", "info", NULL);
}
END_TEST

START_TEST(test_secure_serving_flags)
{
    csm_config cfg;
    char err[512];

    /* Defaults. */
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/ConfigMap", NULL), CSM_OK);
    ck_assert_ptr_null(cfg.tls_cert_file);
    ck_assert_int_eq(cfg.tls_min_version, 0x0303);
    ck_assert_int_eq(cfg.auth, CSM_AUTH_MODE_NONE);
    ck_assert_uint_eq(cfg.auth_allow_paths.n, 3);
    ck_assert_str_eq(cfg.auth_allow_paths.items[0], "/healthz");
    ck_assert_str_eq(cfg.auth_allow_paths.items[2], "/readyz");
    ck_assert_int_eq(cfg.auth_ttl_token_ms, 60000);
    ck_assert_int_eq(cfg.auth_ttl_allowed_ms, 300000);
    ck_assert_int_eq(cfg.auth_ttl_denied_ms, 30000);
    ck_assert_int_eq(cfg.auth_stale_ms, 0);
    ck_assert_int_eq(cfg.auth_timeout_ms, 10000);
    csm_config_free(&cfg);

    ck_assert_int_eq(
        parse(&cfg, err, sizeof(err), "--resource", "v1/ConfigMap", "--tls-cert-file", "c.pem",
              "--tls-private-key-file", "k.pem", "--tls-min-version", "VersionTLS13",
              "--tls-cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "--client-ca-file",
              "ca.pem", "--auth", "kubernetes", "--auth-token-audiences", "a,b",
              "--auth-always-allow-paths=", "--auth-always-allow-groups", "system:masters",
              "--auth-resource-attributes", "namespace=m,resource=services,subresource=proxy",
              "--auth-cache-ttl-token", "1m30s", "--auth-cache-ttl-allowed", "2h",
              "--auth-cache-ttl-denied", "500ms", "--auth-stale-if-error", "10m", "--auth-timeout",
              "3s", NULL),
        CSM_OK);
    ck_assert_str_eq(cfg.tls_cert_file, "c.pem");
    ck_assert_str_eq(cfg.tls_key_file, "k.pem");
    ck_assert_int_eq(cfg.tls_min_version, 0x0304);
    ck_assert_str_eq(cfg.tls_cipher_suites, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    ck_assert_str_eq(cfg.client_ca_file, "ca.pem");
    ck_assert_int_eq(cfg.auth, CSM_AUTH_MODE_KUBERNETES);
    ck_assert_uint_eq(cfg.auth_audiences.n, 2);
    ck_assert_str_eq(cfg.auth_audiences.items[1], "b");
    /* An empty value replaces the default with nothing. */
    ck_assert_uint_eq(cfg.auth_allow_paths.n, 0);
    ck_assert_uint_eq(cfg.auth_allow_groups.n, 1);
    ck_assert_str_eq(cfg.auth_resource_attributes,
                     "namespace=m,resource=services,subresource=proxy");
    ck_assert_int_eq(cfg.auth_ttl_token_ms, 90000);
    ck_assert_int_eq(cfg.auth_ttl_allowed_ms, 7200000);
    ck_assert_int_eq(cfg.auth_ttl_denied_ms, 500);
    ck_assert_int_eq(cfg.auth_stale_ms, 600000);
    ck_assert_int_eq(cfg.auth_timeout_ms, 3000);
    csm_config_free(&cfg);

    /* A repeated list flag replaces, like a scalar. */
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "v1/ConfigMap",
                           "--auth-always-allow-paths", "/a,/b", "--auth-always-allow-paths",
                           "/metrics-free/*", "--auth-cache-ttl-token", "0", NULL),
                     CSM_OK);
    ck_assert_uint_eq(cfg.auth_allow_paths.n, 1);
    ck_assert_str_eq(cfg.auth_allow_paths.items[0], "/metrics-free/*");
    ck_assert_int_eq(cfg.auth_ttl_token_ms, 0);
    csm_config_free(&cfg);

    expect_msg("invalid value \"VersionTLS11\" for --tls-min-version: must be VersionTLS12 or "
               "VersionTLS13 (older versions are not offered)",
               "--resource", "v1/X", "--tls-min-version", "VersionTLS11", NULL);
    expect_msg("invalid value \"TLS_RSA_WITH_RC4_128_SHA\" for --tls-cipher-suites: unknown or "
               "unavailable cipher suite \"TLS_RSA_WITH_RC4_128_SHA\"",
               "--resource", "v1/X", "--tls-cipher-suites", "TLS_RSA_WITH_RC4_128_SHA", NULL);
    expect_msg("invalid value \"ldap\" for --auth: must be none or kubernetes", "--resource",
               "v1/X", "--auth", "ldap", NULL);
    expect_msg("--auth-always-allow-paths \"healthz\": a path must start with /", "--resource",
               "v1/X", "--auth-always-allow-paths", "/livez,healthz", NULL);
    expect_msg("--auth-token-audiences \"a,,b\": empty item in comma-separated list", "--resource",
               "v1/X", "--auth-token-audiences", "a,,b", NULL);
    expect_msg("invalid value \"verb=get\" for --auth-resource-attributes: \"verb=get\" is not "
               "KEY=VALUE with KEY one of namespace, apiGroup, apiVersion, resource, "
               "subresource, name",
               "--resource", "v1/X", "--auth-resource-attributes", "verb=get", NULL);
    expect_msg("invalid value \"5\" for --auth-cache-ttl-token: must be a duration like 30s, 5m "
               "or 1m30s, at most 24h",
               "--resource", "v1/X", "--auth-cache-ttl-token", "5", NULL);
    expect_msg("invalid value \"1.5s\" for --auth-cache-ttl-denied: must be a duration like 30s, "
               "5m or 1m30s, at most 24h",
               "--resource", "v1/X", "--auth-cache-ttl-denied", "1.5s", NULL);
    expect_msg("invalid value \"25h\" for --auth-stale-if-error: must be a duration like 30s, 5m "
               "or 1m30s, at most 24h",
               "--resource", "v1/X", "--auth-stale-if-error", "25h", NULL);
    expect_msg("invalid value \"0\" for --auth-timeout: must be positive", "--resource", "v1/X",
               "--auth-timeout", "0", NULL);
    expect_msg("--tls-cert-file and --tls-private-key-file must be given together", "--resource",
               "v1/X", "--tls-cert-file", "c.pem", NULL);
    expect_msg("--client-ca-file needs --tls-cert-file", "--resource", "v1/X", "--client-ca-file",
               "ca.pem", NULL);
    expect_msg("--auth=kubernetes needs --tls-cert-file: tokens must not travel in clear text",
               "--resource", "v1/X", "--auth", "kubernetes", NULL);
}
END_TEST

START_TEST(test_sharding_flags)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "example.com/v1/Foo", NULL),
                     CSM_OK);
    ck_assert_int_eq(cfg.shard, 0);
    ck_assert_int_eq(cfg.total_shards, 1);
    ck_assert_ptr_null(cfg.pod);
    ck_assert_int_eq(cfg.reshard_delay_ms, 2000);
    csm_config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "example.com/v1/Foo", "--shard",
                           "2", "--total-shards", "3", NULL),
                     CSM_OK);
    ck_assert_int_eq(cfg.shard, 2);
    ck_assert_int_eq(cfg.total_shards, 3);
    csm_config_free(&cfg);
    unsetenv("POD_NAMESPACE");
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "example.com/v1/Foo", "--pod",
                           "csm-4", "--pod-namespace", "mon", "--shard-handover-delay", "500ms",
                           NULL),
                     CSM_OK);
    ck_assert_str_eq(cfg.pod, "csm-4");
    ck_assert_str_eq(cfg.pod_namespace, "mon");
    ck_assert_int_eq(cfg.reshard_delay_ms, 500);
    csm_config_free(&cfg);
    setenv("POD_NAMESPACE", "fromenv", 1);
    ck_assert_int_eq(
        parse(&cfg, err, sizeof(err), "--resource", "example.com/v1/Foo", "--pod", "csm-0", NULL),
        CSM_OK);
    ck_assert_str_eq(cfg.pod_namespace, "fromenv");
    csm_config_free(&cfg);
    unsetenv("POD_NAMESPACE");

    expect_msg("invalid value \"3\" for --shard: must be less than --total-shards (3)",
               "--resource", "example.com/v1/Foo", "--shard", "3", "--total-shards", "3", NULL);
    expect_msg("invalid value \"1\" for --shard: must be less than --total-shards (1)",
               "--resource", "example.com/v1/Foo", "--shard", "1", NULL);
    expect_msg("invalid value \"0\" for --total-shards: must be an integer in 1..999999999",
               "--resource", "example.com/v1/Foo", "--total-shards", "0", NULL);
    expect_msg("invalid value \"-1\" for --shard: must be an integer in 0..999999999", "--resource",
               "example.com/v1/Foo", "--shard", "-1", NULL);
    expect_msg("--pod needs --pod-namespace (or $POD_NAMESPACE)", "--resource",
               "example.com/v1/Foo", "--pod", "csm-0", NULL);
    expect_msg("--pod-namespace needs --pod", "--resource", "example.com/v1/Foo", "--pod-namespace",
               "x", NULL);
    expect_msg("invalid value \"csm\" for --pod: a StatefulSet pod name ends in -ORDINAL",
               "--resource", "example.com/v1/Foo", "--pod", "csm", "--pod-namespace", "x", NULL);
    expect_msg("--pod (auto-sharding) and --total-shards/--shard are mutually exclusive",
               "--resource", "example.com/v1/Foo", "--pod", "csm-1", "--pod-namespace", "x",
               "--total-shards", "3", NULL);
}
END_TEST

START_TEST(test_connection_limit_flags)
{
    csm_config cfg;
    char err[256];

    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "example.com/v1/Foo", NULL),
                     CSM_OK);
    ck_assert_int_eq(cfg.max_connections, 0); /* from the fd limit */
    ck_assert_int_eq(cfg.max_connections_per_client, 0);
    ck_assert_int_eq(cfg.response_timeout_ms, 60000);
    ck_assert_int_eq(cfg.response_min_rate, 65536);
    ck_assert_int_eq(cfg.auth_max_reviews, 64);
    csm_config_free(&cfg);
    ck_assert_int_eq(parse(&cfg, err, sizeof(err), "--resource", "example.com/v1/Foo",
                           "--max-connections=4096", "--max-connections-per-client", "100",
                           "--http-response-timeout=2m", "--http-min-rate=1024",
                           "--auth-max-reviews=8", NULL),
                     CSM_OK);
    ck_assert_int_eq(cfg.max_connections, 4096);
    ck_assert_int_eq(cfg.max_connections_per_client, 100);
    ck_assert_int_eq(cfg.response_timeout_ms, 120000);
    ck_assert_int_eq(cfg.response_min_rate, 1024);
    ck_assert_int_eq(cfg.auth_max_reviews, 8);
    csm_config_free(&cfg);
    expect_msg("invalid value \"lots\" for --max-connections: must be an integer in 16..10000000",
               "--resource", "example.com/v1/Foo", "--max-connections=lots", NULL);
    expect_msg("invalid value \"8\" for --max-connections: must be an integer in 16..10000000",
               "--resource", "example.com/v1/Foo", "--max-connections=8", NULL);
    expect_msg("invalid value \"0\" for --max-connections-per-client: must be an integer in "
               "1..10000000",
               "--resource", "example.com/v1/Foo", "--max-connections-per-client=0", NULL);
    expect_msg("invalid value \"500ms\" for --http-response-timeout: must be at least 1s",
               "--resource", "example.com/v1/Foo", "--http-response-timeout=500ms", NULL);
    expect_msg("invalid value \"fast\" for --http-min-rate: must be an integer in 1..999999999",
               "--resource", "example.com/v1/Foo", "--http-min-rate=fast", NULL);
    expect_msg("invalid value \"0\" for --auth-max-reviews: must be an integer in 1..100000",
               "--resource", "example.com/v1/Foo", "--auth-max-reviews=0", NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("flags");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_every_flag_separate_form);
    tcase_add_test(tc, test_every_flag_equals_form);
    tcase_add_test(tc, test_resources_repeated_and_comma);
    tcase_add_test(tc, test_resource_errors);
    tcase_add_test(tc, test_same_kind_other_group_is_not_duplicate);
    tcase_add_test(tc, test_port_errors);
    tcase_add_test(tc, test_budget_flags);
    tcase_add_test(tc, test_port_leading_zeros);
    tcase_add_test(tc, test_log_flags);
    tcase_add_test(tc, test_unknown_and_malformed_flags);
    tcase_add_test(tc, test_positional_arguments);
    tcase_add_test(tc, test_resource_required_unless_help_or_version);
    tcase_add_test(tc, test_namespaces);
    tcase_add_test(tc, test_namespaces_mutually_exclusive);
    tcase_add_test(tc, test_port_clash);
    tcase_add_test(tc, test_last_scalar_wins_and_empty_selector);
    tcase_add_test(tc, test_reparse_after_error);
    tcase_add_test(tc, test_message_is_one_line);
    tcase_add_test(tc, test_usage_lists_every_flag);
    tcase_add_test(tc, test_usage_write_error);
    tcase_add_test(tc, test_free_zeroed_and_null);
    tcase_add_test(tc, test_secure_serving_flags);
    tcase_add_test(tc, test_generator_flags);
    tcase_add_test(tc, test_generator_flag_errors);
    tcase_add_test(tc, test_sharding_flags);
    tcase_add_test(tc, test_connection_limit_flags);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}

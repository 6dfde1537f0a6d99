/*
 * What the check suites share: the tail of every main() (runs the suite,
 * frees the runner, and turns the failure count into the exit status meson
 * reads) and unique scratch paths, so that concurrent runs of a suite (two
 * build directories, two worktrees) never write the same file.
 */
#ifndef CSM_CHECK_MAIN_H
#define CSM_CHECK_MAIN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline int csm_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The scratch directory for scratch files: $TMPDIR when set and short
 * enough to leave room for a name, else /tmp.
 */
static inline const char *csm_check_tmp(void)
{
    const char *tmp = getenv("TMPDIR");

    return tmp && *tmp && strlen(tmp) < 64 ? tmp : "/tmp";
}

/*
 * Creates a new empty file "<tmp>/<stem>XXXXXX<suffix>" (mkstemps) and
 * opens it for writing; path receives its name. Returns NULL (errno set) if
 * the name does not fit or the file cannot be made. The caller fcloses the
 * stream and removes the file.
 */
static inline FILE *csm_check_tmpfile(char *path, size_t len, const char *stem, const char *suffix)
{
    int n = snprintf(path, len, "%s/%sXXXXXX%s", csm_check_tmp(), stem, suffix);
    int fd;
    FILE *f;

    if (n < 0 || (size_t)n >= len)
        return NULL;
    fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        remove(path);
    }
    return f;
}

/*
 * Creates a new directory "<tmp>/<stem>XXXXXX" (mkdtemp), mode 0700, and
 * puts its name in dir. Returns 0, or -1 (errno set). The caller removes it.
 */
static inline int csm_check_tmpdir(char *dir, size_t len, const char *stem)
{
    int n = snprintf(dir, len, "%s/%sXXXXXX", csm_check_tmp(), stem);

    if (n < 0 || (size_t)n >= len)
        return -1;
    return mkdtemp(dir) ? 0 : -1;
}

#endif

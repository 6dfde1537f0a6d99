/*
 * The tail every check suite's main() shares: runs the suite, frees the
 * runner, and turns the failure count into the exit status meson reads.
 */
#ifndef CSM_CHECK_MAIN_H
#define CSM_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int csm_check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif

/*
 * Quoting of untrusted text (argv, config values) for one-line messages:
 * control bytes, '"' and '\\' become \xNN and long values are cut with
 * "...", so that a hostile value cannot forge extra log lines or break
 * out of the quotes around it.
 */
#ifndef CSM_QUOTE_H
#define CSM_QUOTE_H

#include <stddef.h>

/* Longest value quoted verbatim; longer ones are cut. */
#define CSM_QUOTE_MAX 80
/* A buffer this large always holds a whole quoted value. */
#define CSM_QUOTE_SIZE (CSM_QUOTE_MAX * 4 + 8)

/*
 * Copies s (n bytes, NULs included) into out[outlen], escaped as above,
 * and returns out so that it can stand as a printf argument. outlen must
 * be at least 1; a buffer shorter than CSM_QUOTE_SIZE cuts the text
 * earlier, always NUL-terminated. Cost O(min(n, CSM_QUOTE_MAX)).
 */
const char *csm_quote(const char *s, size_t n, char *out, size_t outlen);

#endif

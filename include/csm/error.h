/*
 * crd-state-metrics: the project's one error enum.
 *
 * Every function in the project and in the generator plugin ABI that can fail
 * returns a csm_err. CSM_OK is zero so that "if (err)" reads naturally.
 */
#ifndef CSM_ERROR_H
#define CSM_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum csm_err {
    CSM_OK = 0,
    CSM_ERR_NOMEM,     /* allocation failed */
    CSM_ERR_INVALID,   /* invalid argument or input that the caller can fix */
    CSM_ERR_USAGE,     /* malformed command line */
    CSM_ERR_IO,        /* file or socket error; errno is meaningful */
    CSM_ERR_PARSE,     /* malformed JSON, YAML or text */
    CSM_ERR_NOT_FOUND, /* a path, key, file or resource does not exist */
    CSM_ERR_TOO_LARGE, /* a size cap was hit */
    CSM_ERR_TYPE,      /* a value exists but has the wrong type */
    CSM_ERR_HTTP,      /* transport or protocol error talking to a server */
    CSM_ERR_TLS,       /* certificate or key problem */
    CSM_ERR_ABI,       /* plugin ABI version or symbol mismatch */
    CSM_ERR_INTERNAL,  /* a broken invariant: a bug */
} csm_err;

/* Returns a static, human-readable description; never NULL. */
const char *csm_strerror(csm_err err);

#ifdef __cplusplus
}
#endif

#endif

#include "csm/error.h"

const char *csm_strerror(csm_err err)
{
    switch (err) {
    case CSM_OK:
        return "success";
    case CSM_ERR_NOMEM:
        return "out of memory";
    case CSM_ERR_INVALID:
        return "invalid argument";
    case CSM_ERR_USAGE:
        return "invalid command line";
    case CSM_ERR_IO:
        return "I/O error";
    case CSM_ERR_PARSE:
        return "parse error";
    case CSM_ERR_NOT_FOUND:
        return "not found";
    case CSM_ERR_TOO_LARGE:
        return "size limit exceeded";
    case CSM_ERR_TYPE:
        return "wrong type";
    case CSM_ERR_HTTP:
        return "HTTP error";
    case CSM_ERR_TLS:
        return "TLS error";
    case CSM_ERR_ABI:
        return "plugin ABI mismatch";
    case CSM_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown error";
}

#include "base/num.h"

#include <math.h>

csm_err csm_num_delta_seconds(const char *s, size_t n, long max, long *out)
{
    size_t i = 0;
    size_t end = n;
    long v = 0;
    int saturated = 0;

    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (end > i &&
           (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\r' || s[end - 1] == '\n'))
        end--;
    if (i == end || max < 0)
        return CSM_ERR_PARSE;
    for (; i < end; i++) {
        if (s[i] < '0' || s[i] > '9')
            return CSM_ERR_PARSE;
        int d = s[i] - '0';
        /* Saturate: once past max, further digits only confirm it. */
        if (saturated)
            continue;
        if (d > max || v > (max - d) / 10) {
            v = max;
            saturated = 1;
        } else {
            v = v * 10 + d;
        }
    }
    *out = v;
    return CSM_OK;
}

long csm_num_to_long(double v, long lo, long hi, long nan_as)
{
    long r;

    if (isnan(v))
        return nan_as;
    /* Compare as doubles before casting: (double)hi may round up to
     * 2^63, which is why >= and not >. */
    if (v <= (double)lo)
        return lo;
    if (v >= (double)hi)
        return hi;
    r = (long)v;
    return r < lo ? lo : r > hi ? hi : r;
}

struct timeval csm_num_timeval(double seconds, double max)
{
    struct timeval tv = {0, 0};

    if (isnan(seconds) || seconds <= 0)
        return tv;
    if (seconds > max)
        seconds = max;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    if (tv.tv_usec >= 1000000)
        tv.tv_usec = 999999;
    return tv;
}

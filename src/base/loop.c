#include "base/loop.h"

#include <stddef.h>

/* After this many serving callbacks, or this long, the loop polls again, so
 * a watch event waits for at most a few writes (16 x 256 KiB), not for one
 * write to each of hundreds of scrapers. */
#define LOOP_MAX_CALLBACKS   16
#define LOOP_MAX_INTERVAL_US 5000

csm_err csm_loop_new(struct event_base **out)
{
    struct event_config *cfg = NULL;
    struct event_base *base = NULL;
    struct timeval tv = {0, LOOP_MAX_INTERVAL_US};
    csm_err err = CSM_ERR_NOMEM;

    if (!out)
        return CSM_ERR_INVALID;
    *out = NULL;
    cfg = event_config_new();
    if (!cfg)
        goto out;
    if (event_config_set_max_dispatch_interval(cfg, &tv, LOOP_MAX_CALLBACKS, CSM_LOOP_SERVE) != 0) {
        err = CSM_ERR_IO;
        goto out;
    }
    base = event_base_new_with_config(cfg);
    if (!base)
        goto out;
    if (event_base_priority_init(base, CSM_LOOP_PRIORITIES) != 0) {
        err = CSM_ERR_IO;
        goto out;
    }
    *out = base;
    base = NULL;
    err = CSM_OK;
out:
    if (base)
        event_base_free(base);
    if (cfg)
        event_config_free(cfg);
    return err;
}

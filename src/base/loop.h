/*
 * The event loop every stage shares, with two priorities: ingest (the API
 * client's sockets and timers) runs before serving (HTTP connections).
 *
 * Why: the exporter has one thread. Under a scrape storm (200 clients
 * pulling a 5 MB body each) every turn of the loop would otherwise write up
 * to 256 KiB to each of them before it read the next watch event, so a
 * change reached the store seconds late. With priorities, a readable watch
 * socket is served ahead of every queued write; the dispatch interval makes
 * the loop look for such a socket again after a few serving callbacks
 * instead of after the whole queue.
 */
#ifndef CSM_LOOP_H
#define CSM_LOOP_H

#include <event2/event.h>

#include "csm/error.h"

enum {
    CSM_LOOP_INGEST = 0, /* API client sockets and timers */
    CSM_LOOP_SERVE = 1,  /* everything else: libevent's default on this base */
    CSM_LOOP_PRIORITIES = 2,
};

/* A new event base with the priorities above. Freed by the caller with
 * event_base_free(). A base made by plain event_base_new() (the unit tests)
 * has one priority, 0, which is also CSM_LOOP_INGEST: code that sets
 * CSM_LOOP_INGEST works on both. */
csm_err csm_loop_new(struct event_base **out);

#endif

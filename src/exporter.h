/*
 * The whole exporter wired together: API client, one csm_resource per
 * --resource, the metrics and telemetry HTTP servers and signal handling,
 * all on one libevent loop.
 *
 * One thread is enough and keeps the store lock-free: ingest work per event
 * is small (parse one line, render one object), and a scrape only appends
 * references to pre-rendered blocks; the bytes go out while the loop keeps
 * taking events, so neither a slow scraper nor an event burst stalls the
 * other for longer than one callback.
 */
#ifndef CSM_EXPORTER_H
#define CSM_EXPORTER_H

#include "csm/error.h"
#include "flags.h"
#include "base/log.h"

/*
 * Runs until SIGTERM or SIGINT, then stops accepting, lets responses in
 * flight finish and returns. SIGHUP reloads --config. Returns the process
 * exit status: 0 after a clean shutdown, 2 when a plugin, --generators or
 * --config is unusable, 1 when start-up failed otherwise (the reason is
 * logged).
 */
int csm_exporter_run(const csm_config *cfg, csm_log *log);

#endif

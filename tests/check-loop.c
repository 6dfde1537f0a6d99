#include <check.h>
#include <event2/event.h>
#include <stdlib.h>

#include "base/loop.h"
#include "check_main.h"

/* A run of serving callbacks, each of which records its turn; the first one
 * activates an ingest event, as a watch socket turning readable while
 * scrapes are being written would. */
#define SERVING 200

typedef struct order {
    struct event *ingest;
    struct event *serve[SERVING];
    int turn;
    int ingest_turn; /* -1 until the ingest event ran */
    int serve_turn[SERVING];
} order;

static void on_ingest(evutil_socket_t fd, short what, void *arg)
{
    order *o = arg;

    (void)fd;
    (void)what;
    o->ingest_turn = o->turn++;
}

static void on_serve(evutil_socket_t fd, short what, void *arg)
{
    order *o = arg;
    int i = (int)fd;

    (void)what;
    o->serve_turn[i] = o->turn++;
    if (i == 0)
        event_active(o->ingest, EV_READ, 0);
}

static void setup_order(struct event_base *base, order *o)
{
    o->turn = 0;
    o->ingest_turn = -1;
    o->ingest = event_new(base, -1, 0, on_ingest, o);
    ck_assert_ptr_nonnull(o->ingest);
    ck_assert_int_eq(event_priority_set(o->ingest, CSM_LOOP_INGEST), 0);
    for (int i = 0; i < SERVING; i++) {
        o->serve[i] = event_new(base, (evutil_socket_t)i, 0, on_serve, o);
        ck_assert_ptr_nonnull(o->serve[i]);
        event_active(o->serve[i], EV_WRITE, 0);
    }
}

static void free_order(order *o)
{
    event_free(o->ingest);
    for (int i = 0; i < SERVING; i++)
        event_free(o->serve[i]);
}

START_TEST(test_ingest_jumps_the_serving_queue)
{
    struct event_base *base = NULL;
    order o;

    ck_assert_int_eq(csm_loop_new(&base), CSM_OK);
    ck_assert_int_eq(event_base_get_npriorities(base), CSM_LOOP_PRIORITIES);
    setup_order(base, &o);
    /* event_base_loop() returns 1 once nothing is left, 0 while some is. */
    for (int i = 0; i < 10 * SERVING && o.turn < SERVING + 1; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(o.turn, SERVING + 1);
    /* The ingest event became active during serving callback 0 and ran
     * after at most a dispatch interval's worth of them, not after all
     * 200. */
    ck_assert_int_gt(o.ingest_turn, 0);
    ck_assert_int_le(o.ingest_turn, 16);
    free_order(&o);
    event_base_free(base);
}
END_TEST

START_TEST(test_plain_base_runs_queue_first)
{
    /* The contrast that makes the test above mean something: on a base
     * without the priorities (the default before csm_loop), the same
     * ingest event waits behind every queued serving callback. */
    struct event_base *base = event_base_new();
    order o;

    ck_assert_ptr_nonnull(base);
    setup_order(base, &o);
    for (int i = 0; i < 10 * SERVING && o.turn < SERVING + 1; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    ck_assert_int_eq(o.turn, SERVING + 1);
    ck_assert_int_eq(o.ingest_turn, SERVING);
    free_order(&o);
    event_base_free(base);
}
END_TEST

START_TEST(test_rejects_null)
{
    ck_assert_int_eq(csm_loop_new(NULL), CSM_ERR_INVALID);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loop");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, test_ingest_jumps_the_serving_queue);
    tcase_add_test(tc, test_plain_base_runs_queue_first);
    tcase_add_test(tc, test_rejects_null);
    suite_add_tcase(s, tc);
    return csm_check_run(s);
}

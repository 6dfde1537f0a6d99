/*
 * The real transport of access control (csm_auth_transport, see
 * serve/auth.h): review requests go out through the exporter's API
 * client. Only the wiring includes this; the HTTP server and the review
 * stages see the transport seam alone, never the API client.
 */
#ifndef CSM_KCTRANSPORT_H
#define CSM_KCTRANSPORT_H

#include "ingest/kclient.h"
#include "serve/auth.h"

/* Fills *out with the transport over kc (borrowed: it must outlive every
 * request, which csm_auth_free() cancels). Answers over 1 MiB are no
 * answer; 2xx bodies, which echo the token, are wiped when freed. */
void csm_kctransport_init(csm_kclient *kc, csm_auth_transport *out);

#endif

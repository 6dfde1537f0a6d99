/*
 * Reading a parsed libyaml document (yaml_document_t): what the loaders of
 * the CRS config (render/crs.c) and of kubeconfig files (ingest/kubeconfig.c)
 * share. Nodes are borrowed from the document and live as long as it.
 *
 * The two loaders differ in one rule, which callers pick explicitly: a key
 * that appears twice in a mapping. kube-state-metrics' config loader
 * rejects it, so crs.c checks for duplicates first and then reads the first
 * one; client-go decodes a kubeconfig with the last one winning, and so
 * does kubeconfig.c.
 */
#ifndef CSM_YAMLDOC_H
#define CSM_YAMLDOC_H

#include <yaml.h>

/* Which value a repeated mapping key yields. */
typedef enum csm_yamldoc_dup {
    CSM_YAMLDOC_FIRST, /* the first (for a loader that rejects repeats) */
    CSM_YAMLDOC_LAST,  /* the last, as client-go's decoder does */
} csm_yamldoc_dup;

/* 1 for YAML's null: no node (NULL), or a plain (unquoted) scalar "", "~",
 * "null", "Null" or "NULL". A quoted "" or "null" is a string. */
int csm_yamldoc_is_null(const yaml_node_t *n);

/* 1 if n is a scalar whose value is exactly s, length included (a value
 * with a NUL byte never equals a C string). */
int csm_yamldoc_scalar_is(const yaml_node_t *n, const char *s);

/* The value of key in mapping map of doc, or NULL (no such key, or map is
 * NULL or not a mapping); keys that are not scalars never match. A
 * repeated key yields the value dup says. Cost O(pairs). */
yaml_node_t *csm_yamldoc_map_get(yaml_document_t *doc, const yaml_node_t *map, const char *key,
                                 csm_yamldoc_dup dup);

#endif

#include "base/yamldoc.h"

#include <string.h>

int csm_yamldoc_is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (!n)
        return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (csm_yamldoc_scalar_is(n, nulls[i]))
            return 1;
    }
    return 0;
}

int csm_yamldoc_scalar_is(const yaml_node_t *n, const char *s)
{
    return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
           memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

yaml_node_t *csm_yamldoc_map_get(yaml_document_t *doc, const yaml_node_t *map, const char *key,
                                 csm_yamldoc_dup dup)
{
    yaml_node_t *found = NULL;

    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        if (!csm_yamldoc_scalar_is(yaml_document_get_node(doc, p->key), key))
            continue;
        found = yaml_document_get_node(doc, p->value);
        if (dup == CSM_YAMLDOC_FIRST)
            break;
    }
    return found;
}

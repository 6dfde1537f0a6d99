/* Not a generator plugin: no csm_generator_entry. */
int csm_something_else(void);

int csm_something_else(void)
{
    return 42;
}

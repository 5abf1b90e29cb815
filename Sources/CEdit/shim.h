#include <stdio.h>
#include <editline/readline.h>

/* libedit's globals, set through functions (Swift 6 refuses direct access to mutable C globals). */
static inline void hydrasim_set_completion(char **(*complete)(const char *, int, int)) {
    rl_attempted_completion_function = complete;
}
static inline void hydrasim_completion_over(void) { rl_attempted_completion_over = 1; }

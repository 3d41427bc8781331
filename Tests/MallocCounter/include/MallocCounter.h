#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H

/// Starts counting heap allocations (malloc, calloc, realloc, memalign, posix_memalign) from zero.
void malloc_counter_start(void);

/// Stops counting and returns how many allocations happened since the start.
long malloc_counter_stop(void);

/// 1 when allocations are counted; 0 in sanitizer builds, where the sanitizer owns malloc.
int malloc_counter_available(void);

#endif
